/** One model: its files (size, download state) and configs. */
import { Box, Breadcrumbs, Button, Card, CardContent, Link, Table, TableBody, TableCell, TableHead, TableRow, Typography } from '@mui/material';
import { useState } from 'react';
import { Link as RouterLink, useNavigate, useParams } from 'react-router-dom';
import { call } from '../api/client';
import { DeployDialog } from '../components/DeployDialog';
import { formatBytes, formatTime } from '../components/format';
import { Empty, Loadable, useLoad } from '../components/states';

export default function ModelDetail() {
  const { modelId = '' } = useParams();
  const navigate = useNavigate();
  const [deploying, setDeploying] = useState(false);
  const model = useLoad(signal => call('get', '/api/models/{model_id}', { path: { model_id: modelId }, signal }), [modelId]);
  const configs = useLoad(signal => call('get', '/api/models/{model_id}/configs', { path: { model_id: modelId }, signal }), [modelId]);

  return (
    <Loadable state={model} empty="" isEmpty={() => false}>
      {m => (
        <>
          <Breadcrumbs aria-label="breadcrumb" className="mb-2">
            <Link component={RouterLink} to="/models">
              Models
            </Link>
            <Typography color="text.primary">{m.name}</Typography>
          </Breadcrumbs>
          <Box className="mb-4 flex flex-wrap items-center justify-between gap-3">
            <Typography variant="h5" component="h1">
              {m.name}
            </Typography>
            <Button variant="contained" onClick={() => setDeploying(true)}>
              Deploy
            </Button>
          </Box>
          <Card variant="outlined" className="mb-4">
            <CardContent className="grid grid-cols-1 gap-2 sm:grid-cols-2">
              <Typography>Purpose: {m.purpose ?? '—'}</Typography>
              <Typography>Family: {m.modelfamily ?? '—'}</Typography>
              <Typography>Source: {m.hub ?? m.source ?? '—'}</Typography>
              <Typography className="break-all">Path: {m.local_path ?? m.repo_modelId ?? '—'}</Typography>
              <Typography>Created: {formatTime(m.created_timestamp)}</Typography>
              {m.description ? <Typography className="sm:col-span-2">{m.description}</Typography> : null}
            </CardContent>
          </Card>
          <Typography variant="h6" component="h2">
            Files
          </Typography>
          {(m.m_files ?? []).length === 0 ? (
            <Empty>No files.</Empty>
          ) : (
            <Box className="mb-4 overflow-x-auto">
              <Table size="small" aria-label="Files">
                <TableHead>
                  <TableRow>
                    <TableCell>Name</TableCell>
                    <TableCell>Size</TableCell>
                    <TableCell>Download</TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {(m.m_files ?? []).map(f => (
                    <TableRow key={f.id ?? f.name}>
                      <TableCell className="break-all">{f.name}</TableCell>
                      <TableCell>{formatBytes(f.size)}</TableCell>
                      <TableCell>
                        {f.download_error ? `failed: ${f.download_error}` : f.is_downloading ? `${f.download_percentage ?? 0}%` : f.download ? 'done' : '—'}
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </Box>
          )}
          <Typography variant="h6" component="h2">
            Configs
          </Typography>
          <Loadable state={configs} empty="No configs.">
            {list => (
              <Box className="grid gap-3">
                {list.map(c => (
                  <Card key={c.id} variant="outlined">
                    <CardContent>
                      <Typography sx={{ fontWeight: 600 }}>
                        {c.name ?? 'config'} {c.default ? '(default)' : ''}
                      </Typography>
                      <Box component="pre" className="m-0 overflow-x-auto text-sm">
                        {JSON.stringify(c.config, null, 2)}
                      </Box>
                    </CardContent>
                  </Card>
                ))}
              </Box>
            )}
          </Loadable>
          <DeployDialog open={deploying} model={{ id: m.id!, name: m.name }} onClose={() => setDeploying(false)} onDeployed={() => navigate('/deployments')} />
        </>
      )}
    </Loadable>
  );
}
