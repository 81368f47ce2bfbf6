/** Model deployments: live status, error codes and reasons, logs, stop, deploy. */
import {
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  MenuItem,
  TableCell,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { call, describeError, type Schemas } from '../api/client';
import { useAuth } from '../auth';
import { DeployDialog } from '../components/DeployDialog';
import { formatTime } from '../components/format';
import { ListTable } from '../components/ListTable';
import { ErrorState, Loadable, Loading, PageHeader, useLoad } from '../components/states';
import { StatusChip } from '../components/StatusChip';

type Deployment = Schemas['UIModelDeployment'];
export const LIVE = new Set(['REQUESTED', 'DEPLOYING', 'INITIALIZING', 'DEPLOYED', 'STOPPING']);

function Logs({ deployment, onClose }: { deployment: Deployment; onClose: () => void }) {
  const logs = useLoad(
    signal => call('get', '/api/serving/deployment/{deployment_id}/logs', { path: { deployment_id: deployment.id }, signal }),
    [deployment.id],
    3000,
  );
  return (
    <Dialog open onClose={onClose} fullWidth maxWidth="md">
      <DialogTitle>Logs of {deployment.m_name}</DialogTitle>
      <DialogContent>
        {logs.data === undefined ? (
          logs.error ? <ErrorState error={logs.error} /> : <Loading />
        ) : (logs.data.logs ?? []).length === 0 ? (
          <Typography color="text.secondary">No log lines yet.</Typography>
        ) : (
          <Box component="pre" className="waza-logs m-0 max-h-96 overflow-auto text-xs" tabIndex={0} aria-label="Log lines">
            {(logs.data.logs ?? []).join('\n')}
          </Box>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Close</Button>
      </DialogActions>
    </Dialog>
  );
}

function PickModel({ onPick, onClose }: { onPick: (m: { id: string; name: string }) => void; onClose: () => void }) {
  const models = useLoad(signal => call('get', '/api/models/', { signal }), []);
  const [id, setId] = useState('');
  const list = (models.data ?? []).filter(m => m.id);
  return (
    <Dialog open onClose={onClose} fullWidth maxWidth="xs">
      <DialogTitle>Deploy a model</DialogTitle>
      <DialogContent sx={{ pt: '8px !important' }}>
        {models.error ? <ErrorState error={models.error} /> : null}
        <TextField select fullWidth label="Model" value={id} onChange={e => setId(e.target.value)} disabled={!models.data}>
          {list.map(m => (
            <MenuItem key={m.id} value={m.id!}>
              {m.name}
            </MenuItem>
          ))}
        </TextField>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          variant="contained"
          disabled={!id}
          onClick={() => {
            const m = list.find(x => x.id === id);
            if (m) {
              onPick({ id: m.id!, name: m.name });
            }
          }}
        >
          Next
        </Button>
      </DialogActions>
    </Dialog>
  );
}

export default function Deployments() {
  const { user } = useAuth();
  const deployments = useLoad(signal => call('get', '/api/serving/deployments', { signal }), [], 2000);
  const [showStopped, setShowStopped] = useState(false);
  const [logsOf, setLogsOf] = useState<Deployment | null>(null);
  const [picking, setPicking] = useState(false);
  const [model, setModel] = useState<{ id: string; name: string } | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const navigate = useNavigate();

  const stop = async (d: Deployment) => {
    setActionError(null);
    try {
      await call('delete', '/api/serving/deployment/{deployment_id}', { path: { deployment_id: d.id } });
      deployments.reload();
    } catch (caught) {
      setActionError(describeError(caught));
    }
  };

  const rows = (deployments.data ?? []).filter(d => showStopped || d.status !== 'STOPPED');
  return (
    <>
      <PageHeader title="Deployments">
        <Button variant="outlined" onClick={() => setShowStopped(s => !s)} aria-pressed={showStopped}>
          {showStopped ? 'Hide stopped' : 'Show stopped'}
        </Button>
        <Button variant="contained" onClick={() => setPicking(true)}>
          Deploy a model
        </Button>
      </PageHeader>
      {actionError ? <ErrorState error={actionError} /> : null}
      <Loadable state={{ ...deployments, data: deployments.data && rows }} empty="No running deployments: deploy a model.">
        {list => (
          <ListTable
            label="Deployments"
            className="waza-list"
            columns={['Model', 'Status', 'Engine', 'Replicas', 'Owner', 'Requested', { label: 'Actions', align: 'right' }]}
            rows={list}
            renderRow={d => (
              <TableRow key={d.id} data-deployment={d.id} data-model={d.m_name}>
                <TableCell>
                  {d.m_name}
                  {d.last_error_code ? (
                    <Typography variant="body2" color="error" className="waza-deploy-error">
                      {d.last_error_code}: {d.last_error_message}
                    </Typography>
                  ) : null}
                </TableCell>
                <TableCell>
                  <StatusChip status={d.status} />
                </TableCell>
                <TableCell>{d.engine_name}</TableCell>
                <TableCell>{d.starting_copies}</TableCell>
                <TableCell>{d.owner_id === user?.sub ? 'you' : d.owner_id.slice(0, 8)}</TableCell>
                <TableCell>{formatTime(d.requested_at)}</TableCell>
                <TableCell align="right" className="whitespace-nowrap">
                  {d.status === 'DEPLOYED' ? (
                    <Button size="small" onClick={() => navigate(`/chat?deployment=${d.id}`)}>
                      Chat
                    </Button>
                  ) : null}
                  <Button size="small" onClick={() => setLogsOf(d)}>
                    Logs
                  </Button>
                  {LIVE.has(d.status) ? (
                    <Button size="small" color="error" onClick={() => void stop(d)}>
                      Stop
                    </Button>
                  ) : null}
                </TableCell>
              </TableRow>
            )}
          />
        )}
      </Loadable>
      {logsOf ? <Logs deployment={logsOf} onClose={() => setLogsOf(null)} /> : null}
      {picking ? (
        <PickModel
          onClose={() => setPicking(false)}
          onPick={m => {
            setPicking(false);
            setModel(m);
          }}
        />
      ) : null}
      <DeployDialog
        open={model !== null}
        model={model}
        onClose={() => setModel(null)}
        onDeployed={() => {
          setModel(null);
          deployments.reload();
        }}
      />
    </>
  );
}
