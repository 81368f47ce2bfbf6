/** App Garden: templates, deploy, and the running apps (open, stop). */
import {
  Alert,
  Box,
  Button,
  Card,
  CardActions,
  CardContent,
  Chip,
  Link,
  TableCell,
  TableRow,
  Typography,
} from '@mui/material';
import { useState } from 'react';
import { call, describeError, type Schemas } from '../api/client';
import { formatTime } from '../components/format';
import { ListTable } from '../components/ListTable';
import { Loadable, PageHeader, useLoad } from '../components/states';
import { StatusChip } from '../components/StatusChip';

type Template = Schemas['AppTemplate'];

/** A new deployment name from the template's (lower case, unique enough). */
export function appName(template: Template): string {
  const base = template.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'app';
  return `${base}-${Math.random().toString(36).slice(2, 7)}`;
}

export default function Apps() {
  const templates = useLoad(signal => call('get', '/api/apps/app_templates', { signal }), []);
  const deployments = useLoad(signal => call('get', '/api/apps/deployments', { signal }), [], 3000);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  const deploy = async (template: Template) => {
    setMessage(null);
    try {
      const app = await call('post', '/api/apps/deploy_app', { body: { name: appName(template), template_id: template.id } });
      setMessage({ ok: true, text: `Deploying ${app.name}` });
      deployments.reload();
    } catch (caught) {
      setMessage({ ok: false, text: describeError(caught) });
    }
  };

  const stop = async (id: string) => {
    try {
      await call('delete', '/api/apps/deployment/{deployment_id}', { path: { deployment_id: id } });
      deployments.reload();
    } catch (caught) {
      setMessage({ ok: false, text: describeError(caught) });
    }
  };

  return (
    <>
      <PageHeader title="App Garden" />
      {message ? (
        <Alert severity={message.ok ? 'success' : 'error'} className="mb-3">
          {message.text}
        </Alert>
      ) : null}
      <Typography variant="h6" component="h2" className="pb-2">
        Running apps
      </Typography>
      <Loadable state={{ ...deployments, data: deployments.data?.filter(d => d.status !== 'STOPPED') }} empty="No apps running.">
        {list => (
          <ListTable
            label="Running apps"
            box="mb-6 overflow-x-auto"
            columns={['Name', 'Status', 'Started', { label: 'Actions', align: 'right' }]}
            rows={list}
            renderRow={d => (
              <TableRow key={d.id} data-app={d.name}>
                <TableCell>
                  {d.name}
                  {d.error_code ? (
                    <Typography variant="body2" color="error">
                      {d.error_code}: {d.error_message}
                    </Typography>
                  ) : null}
                </TableCell>
                <TableCell>
                  <StatusChip status={d.status} />
                </TableCell>
                <TableCell>{formatTime(d.deployed_at ?? d.requested_at)}</TableCell>
                <TableCell align="right" className="whitespace-nowrap">
                  {d.status === 'DEPLOYED' && (d.url || d.access_path) ? (
                    <Button size="small" component={Link} href={d.url || d.access_path} target="_blank" rel="noopener">
                      Open
                    </Button>
                  ) : null}
                  <Button size="small" color="error" onClick={() => void stop(d.id)}>
                    Stop
                  </Button>
                </TableCell>
              </TableRow>
            )}
          />
        )}
      </Loadable>
      <Typography variant="h6" component="h2" className="pb-2">
        Templates
      </Typography>
      <Loadable state={templates} empty="No app templates.">
        {list => (
          <Box className="grid gap-3 sm:grid-cols-2 xl:grid-cols-3">
            {list.map(t => (
              <Card key={t.id} variant="outlined" data-template={t.name}>
                <CardContent>
                  <Typography variant="subtitle1" component="h3" sx={{ fontWeight: 600 }}>
                    {t.display_name ?? t.name}
                  </Typography>
                  <Typography variant="body2" color="text.secondary" className="pb-2">
                    {t.description ?? ''}
                  </Typography>
                  <Box className="flex flex-wrap gap-1">
                    <Chip size="small" label={t.template_type ?? 'app'} />
                    <Chip size="small" label={`v${t.version}`} />
                    {t.verified ? <Chip size="small" color="success" label="verified" /> : null}
                  </Box>
                </CardContent>
                <CardActions>
                  <Button size="small" onClick={() => void deploy(t)}>
                    Deploy
                  </Button>
                </CardActions>
              </Card>
            ))}
          </Box>
        )}
      </Loadable>
    </>
  );
}
