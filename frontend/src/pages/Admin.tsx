/** Admin (admins only; the API refuses others too): users, tokens, activity log, cluster. */
import {
  Alert,
  Box,
  Button,
  Card,
  CardContent,
  Checkbox,
  FormControlLabel,
  MenuItem,
  Tab,
  TableCell,
  TableRow,
  Tabs,
  TextField,
  Typography,
} from '@mui/material';
import { LineChart } from '@mui/x-charts/LineChart';
import { useState, type FormEvent } from 'react';
import { call, describeError, type Args, type Schemas } from '../api/client';
import { formatBytes, formatTime } from '../components/format';
import { ListTable } from '../components/ListTable';
import { ErrorState, Loadable, PageHeader, useLoad } from '../components/states';

function Users() {
  const users = useLoad(signal => call('get', '/api/auth/users/', { signal }), []);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const user = await call('post', '/api/auth/users/local', {
        body: { username: username.trim(), password, roles: admin ? ['admin', 'user'] : ['user'] },
      });
      setMessage({ ok: true, text: `Created ${user.username}` });
      setUsername('');
      setPassword('');
      users.reload();
    } catch (caught) {
      setMessage({ ok: false, text: describeError(caught) });
    }
  };

  const toggleActive = async (user: Schemas['LocalUserResponse']) => {
    try {
      await call('put', '/api/auth/users/{user_id}', { path: { user_id: user.id }, body: { active: !user.active } });
      users.reload();
    } catch (caught) {
      setMessage({ ok: false, text: describeError(caught) });
    }
  };

  return (
    <>
      <form onSubmit={create} className="mb-3 flex flex-wrap items-center gap-2" aria-label="Create user">
        <TextField size="small" label="New username" value={username} onChange={e => setUsername(e.target.value)} required />
        <TextField size="small" label="Password" type="password" value={password} onChange={e => setPassword(e.target.value)} required />
        <FormControlLabel control={<Checkbox checked={admin} onChange={e => setAdmin(e.target.checked)} />} label="Admin" />
        <Button type="submit" variant="contained" disabled={!username.trim() || !password}>
          Create user
        </Button>
      </form>
      {message ? (
        <Alert severity={message.ok ? 'success' : 'error'} className="mb-3">
          {message.text}
        </Alert>
      ) : null}
      <Loadable state={users} empty="No users.">
        {list => (
          <ListTable
            label="Users"
            columns={['Username', 'Name', 'Roles', 'Active', 'Last login', { label: 'Actions', align: 'right' }]}
            rows={list}
            renderRow={u => (
              <TableRow key={u.id} data-user={u.username}>
                <TableCell>{u.username}</TableCell>
                <TableCell>{u.full_name ?? ''}</TableCell>
                <TableCell>{(u.roles ?? []).join(', ')}</TableCell>
                <TableCell>{u.active ? 'yes' : 'no'}</TableCell>
                <TableCell>{formatTime(u.last_login_at)}</TableCell>
                <TableCell align="right">
                  <Button size="small" onClick={() => void toggleActive(u)}>
                    {u.active ? 'Disable' : 'Enable'}
                  </Button>
                </TableCell>
              </TableRow>
            )}
          />
        )}
      </Loadable>
    </>
  );
}

function Tokens() {
  const tokens = useLoad(signal => call('get', '/api/auth/pats', { query: { all_users: true }, signal }), []);
  const [error, setError] = useState<string | null>(null);
  const revoke = async (jti: string) => {
    try {
      await call('delete', '/api/auth/pats/{jti}', { path: { jti } });
      tokens.reload();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <>
      {error ? <ErrorState error={error} /> : null}
      <Loadable state={{ ...tokens, data: tokens.data?.pats }} empty="No personal access tokens.">
        {list => (
          <ListTable
            label="Tokens"
            columns={['Owner', 'Name', 'Scope', 'Expires', 'Revoked', { label: 'Actions', align: 'right' }]}
            rows={list}
            renderRow={t => (
              <TableRow key={t.jti}>
                <TableCell>{t.owner_username ?? t.owner_id}</TableCell>
                <TableCell>{t.name ?? ''}</TableCell>
                <TableCell>{t.scope ?? ''}</TableCell>
                <TableCell>{t.exp ? new Date(t.exp * 1000).toLocaleString() : '—'}</TableCell>
                <TableCell>{t.revoked ? 'yes' : 'no'}</TableCell>
                <TableCell align="right">
                  {t.revoked ? null : (
                    <Button size="small" color="error" onClick={() => void revoke(t.jti)}>
                      Revoke
                    </Button>
                  )}
                </TableCell>
              </TableRow>
            )}
          />
        )}
      </Loadable>
    </>
  );
}

type Outcome = NonNullable<NonNullable<Args<'/api/activity/activities/', 'get'>['query']>['outcome']>;
const OUTCOMES: ('' | Outcome)[] = ['', 'success', 'failure', 'denied', 'error'];

function Activity() {
  const [module, setModule] = useState('');
  const [outcome, setOutcome] = useState<'' | Outcome>('');
  const [user, setUser] = useState('');
  const [limit, setLimit] = useState('200');
  const events = useLoad(
    signal =>
      call('get', '/api/activity/activities/', {
        query: {
          module: module || undefined,
          outcome: outcome || undefined,
          user_id: user.trim() || undefined,
          limit: Number(limit) || 200,
        },
        signal,
      }),
    [module, outcome, user, limit],
  );
  return (
    <>
      <Box className="mb-3 flex flex-wrap gap-2" role="search" aria-label="Activity filters">
        <TextField size="small" label="Module" value={module} onChange={e => setModule(e.target.value)} placeholder="serving, catalog, …" />
        <TextField select size="small" label="Outcome" value={outcome} onChange={e => setOutcome(e.target.value as '' | Outcome)} sx={{ minWidth: 140 }}>
          {OUTCOMES.map(o => (
            <MenuItem key={o || 'all'} value={o}>
              {o || 'all'}
            </MenuItem>
          ))}
        </TextField>
        <TextField size="small" label="User id" value={user} onChange={e => setUser(e.target.value)} />
        <TextField size="small" label="Limit" type="number" value={limit} onChange={e => setLimit(e.target.value)} sx={{ width: 100 }} />
      </Box>
      <Loadable state={events} empty="No activity matches.">
        {list => (
          <ListTable
            label="Activity"
            columns={['When', 'User', 'Module', 'Action', 'Object', 'Status', 'Outcome']}
            rows={list}
            renderRow={a => (
              <TableRow key={a.id}>
                <TableCell className="whitespace-nowrap">{formatTime(a.created_at)}</TableCell>
                <TableCell>{a.username ?? a.user_id ?? ''}</TableCell>
                <TableCell>{a.module}</TableCell>
                <TableCell>{a.action}</TableCell>
                <TableCell className="break-all">{a.object_id ?? ''}</TableCell>
                <TableCell>{a.status_code}</TableCell>
                <TableCell>{a.outcome}</TableCell>
              </TableRow>
            )}
          />
        )}
      </Loadable>
    </>
  );
}

type Sample = { t: Date; cpu: number; memory: number; gpu: number };
const SAMPLES = 60;

function Cluster() {
  const [samples, setSamples] = useState<Sample[]>([]);
  const metrics = useLoad(signal => call('get', '/api/cluster/metrics', { signal }), [], 3000);
  const nodes = useLoad(signal => call('get', '/api/cluster/nodes', { signal }), []);
  const m = metrics.data;

  // each new reading adds a sample (state adjusted while rendering, as React recommends over
  // an effect that sets state)
  const [sampled, setSampled] = useState<typeof m>(undefined);
  if (m && m !== sampled) {
    setSampled(m);
    const gpus = m.gpus ?? [];
    const gpu = gpus.length ? gpus.reduce((s, g) => s + (g.utilization_pct ?? 0), 0) / gpus.length : 0;
    setSamples(prev => [...prev, { t: new Date(m.at), cpu: m.cpu_percent, memory: m.memory_percent, gpu }].slice(-SAMPLES));
  }

  return (
    <Box className="flex flex-col gap-4">
      {metrics.error ? <ErrorState error={metrics.error} /> : null}
      {m ? (
        <Card variant="outlined">
          <CardContent>
            <Typography className="waza-cluster-summary">
              <b>{m.hostname}</b>: CPU {m.cpu_percent.toFixed(0)}% of {m.cpu_count}, memory {m.memory_percent.toFixed(0)}% of{' '}
              {formatBytes(m.memory_total)}
              {(m.gpus ?? []).length
                ? (m.gpus ?? []).map(g => ` · GPU ${g.index} ${g.name ?? ''} ${g.utilization_pct ?? 0}% (${g.memory_used_mib ?? 0}/${g.memory_total_mib ?? 0} MiB)`).join('')
                : ' · no GPU'}
            </Typography>
            <Box aria-label="CPU, memory and GPU use over time" role="img" className="waza-chart">
              <LineChart
                height={260}
                skipAnimation
                xAxis={[{ data: samples.map(s => s.t), scaleType: 'time', valueFormatter: (d: Date) => d.toLocaleTimeString() }]}
                yAxis={[{ min: 0, max: 100, label: '%' }]}
                series={[
                  { data: samples.map(s => s.cpu), label: 'CPU', showMark: false },
                  { data: samples.map(s => s.memory), label: 'Memory', showMark: false },
                  { data: samples.map(s => s.gpu), label: 'GPU', showMark: false },
                ]}
              />
            </Box>
          </CardContent>
        </Card>
      ) : null}
      <Typography variant="h6" component="h2">
        Nodes
      </Typography>
      <Loadable state={nodes} empty="No nodes registered.">
        {list => (
          <ListTable
            label="Nodes"
            box={false}
            columns={['Node', 'Active', 'Last seen']}
            rows={list}
            renderRow={n => (
              <TableRow key={n.id}>
                <TableCell>{n.hostname ?? n.id}</TableCell>
                <TableCell>{n.active ? 'yes' : 'no'}</TableCell>
                <TableCell>{formatTime(n.last_seen)}</TableCell>
              </TableRow>
            )}
          />
        )}
      </Loadable>
    </Box>
  );
}

export default function Admin() {
  const [tab, setTab] = useState('users');
  return (
    <>
      <PageHeader title="Admin" />
      <Tabs value={tab} onChange={(_, v) => setTab(v)} aria-label="Admin sections" className="mb-3" variant="scrollable">
        <Tab value="users" label="Users" />
        <Tab value="tokens" label="Tokens" />
        <Tab value="activity" label="Activity" />
        <Tab value="cluster" label="Cluster" />
      </Tabs>
      {tab === 'users' ? <Users /> : tab === 'tokens' ? <Tokens /> : tab === 'activity' ? <Activity /> : <Cluster />}
    </>
  );
}
