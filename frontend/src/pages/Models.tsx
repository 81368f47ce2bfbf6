/** The model registry: search, import (local path or hub, with progress), deploy. */
import {
  Alert,
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  LinearProgress,
  Link,
  Tab,
  TableCell,
  TableRow,
  Tabs,
  TextField,
  Typography,
} from '@mui/material';
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { Link as RouterLink, useNavigate } from 'react-router-dom';
import { call, describeError, type Schemas } from '../api/client';
import { DeployDialog } from '../components/DeployDialog';
import { formatBytes } from '../components/format';
import { ListTable } from '../components/ListTable';
import { Loadable, PageHeader, useLoad } from '../components/states';

type Model = Schemas['Model'];
type FileStatus = Schemas['ModelDownloadStatus'];

/** A model's hub download summed over its files: bytes, total, fraction, state. */
export function downloadSummary(files: FileStatus[]) {
  let bytes = 0;
  let total = 0;
  for (const f of files) {
    bytes += f.downloaded_bytes ?? (f.is_downloading ? 0 : (f.size ?? 0));
    total += f.size ?? 0;
  }
  const running = files.some(f => f.is_downloading);
  const error = files.find(f => f.download_error)?.download_error ?? null;
  const cancelled = files.some(f => f.download_cancelled_at && !f.download);
  const state = running ? 'downloading' : error ? 'failed' : cancelled ? 'cancelled' : 'done';
  const fraction = total > 0 ? Math.min(1, bytes / total) : state === 'done' ? 1 : null;
  return { bytes, total, fraction, state, error } as const;
}

export function matches(model: Model, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) {
    return true;
  }
  return [model.name, model.repo_modelId, model.modelfamily, model.purpose, model.description]
    .filter(Boolean)
    .some(v => String(v).toLowerCase().includes(q));
}

function ImportDialog({ open, onClose, onDone }: { open: boolean; onClose: () => void; onDone: () => void }) {
  const [tab, setTab] = useState<'local' | 'hub'>('local');
  const [path, setPath] = useState('');
  const [name, setName] = useState('');
  const [repo, setRepo] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [downloading, setDownloading] = useState<string | null>(null);
  const [files, setFiles] = useState<FileStatus[]>([]);
  const [stopping, setStopping] = useState(false);

  useEffect(() => {
    if (!downloading) {
      return;
    }
    let live = true;
    const poll = async () => {
      try {
        const status = await call('get', '/api/model_files/download_status/', { query: { model_ids: [downloading] } });
        if (!live) {
          return;
        }
        setFiles(status);
        if (downloadSummary(status).state === 'downloading') {
          setTimeout(() => live && void poll(), 1000);
        } else {
          onDone();
        }
      } catch (caught) {
        if (live) {
          setError(describeError(caught));
        }
      }
    };
    void poll();
    return () => {
      live = false;
    };
  }, [downloading, onDone]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (tab === 'local') {
        await call('post', '/api/models/import', { body: { path: path.trim(), name: name.trim() || null, private: false } });
        onDone();
        onClose();
      } else {
        const started = await call('post', '/api/models/download/', { body: { model: repo.trim() } });
        setDownloading(started.model_id);
      }
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  };

  // stop the hub download (its partial files are removed); the poll then shows it cancelled
  const cancelDownload = async () => {
    setStopping(true);
    try {
      await call('delete', '/api/model_files/downloads/cancel_all', { query: { model_id: downloading! } });
    } catch (caught) {
      setError(describeError(caught));
      setStopping(false);
    }
  };

  const summary = downloadSummary(files);
  const started = files.length > 0; // the first status answer has come
  const running = Boolean(downloading) && (!started || summary.state === 'downloading');
  return (
    <Dialog open={open} onClose={onClose} fullWidth maxWidth="sm">
      <form onSubmit={submit} aria-label="Import model">
        <DialogTitle>Import a model</DialogTitle>
        <DialogContent className="flex flex-col gap-3">
          <Tabs value={tab} onChange={(_, v) => setTab(v)} aria-label="Source">
            <Tab value="local" label="Local path" />
            <Tab value="hub" label="Hugging Face Hub" />
          </Tabs>
          {error ? (
            <Alert severity="error" className="waza-error" role="alert">
              {error}
            </Alert>
          ) : null}
          {tab === 'local' ? (
            <>
              <TextField label="Folder or file on the platform's machine" name="path" required value={path} onChange={e => setPath(e.target.value)} />
              <TextField label="Name (optional)" name="name" value={name} onChange={e => setName(e.target.value)} />
            </>
          ) : (
            <TextField label="Repository (e.g. HuggingFaceTB/SmolLM2-135M-Instruct)" name="repo" required value={repo} onChange={e => setRepo(e.target.value)} />
          )}
          {downloading ? (
            <Box className="waza-download" data-state={started ? summary.state : 'starting'}>
              <LinearProgress
                aria-label="Download progress"
                variant={!started || summary.fraction === null ? 'indeterminate' : 'determinate'}
                value={(summary.fraction ?? 0) * 100}
              />
              <Typography variant="body2" className="pt-1" role="status">
                {!started
                  ? 'Starting…'
                  : summary.state === 'failed'
                  ? `Failed: ${summary.error}`
                  : `${formatBytes(summary.bytes)} of ${formatBytes(summary.total)} — ${summary.state}`}
              </Typography>
            </Box>
          ) : null}
        </DialogContent>
        <DialogActions>
          {running ? (
            <Button color="error" onClick={() => void cancelDownload()} disabled={stopping}>
              {stopping ? 'Cancelling…' : 'Cancel download'}
            </Button>
          ) : null}
          <Button onClick={onClose}>{downloading ? 'Close' : 'Cancel'}</Button>
          <Button type="submit" variant="contained" disabled={busy || Boolean(downloading)}>
            {busy ? 'Importing…' : 'Import'}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

export default function Models() {
  const models = useLoad(signal => call('get', '/api/models/', { signal }), []);
  const [query, setQuery] = useState('');
  const [importing, setImporting] = useState(false);
  const [deploying, setDeploying] = useState<Model | null>(null);
  const navigate = useNavigate();
  const shown = useMemo(() => (models.data ?? []).filter(m => matches(m, query)), [models.data, query]);

  return (
    <>
      <PageHeader title="Models">
        <TextField size="small" label="Search models" type="search" value={query} onChange={e => setQuery(e.target.value)} />
        <Button variant="contained" onClick={() => setImporting(true)}>
          Import
        </Button>
      </PageHeader>
      <Loadable state={{ ...models, data: models.data && shown }} empty={query ? `No model matches “${query}”.` : 'No models yet: import one.'}>
        {rows => (
          <ListTable
            label="Models"
            className="waza-list"
            columns={['Name', 'Purpose', 'Source', 'Files', { label: 'Actions', align: 'right' }]}
            rows={rows}
            renderRow={m => (
              <TableRow key={m.id} data-model={m.name} hover>
                <TableCell>
                  <Link component={RouterLink} to={`/models/${m.id}`}>
                    {m.name}
                  </Link>
                </TableCell>
                <TableCell>{m.purpose ?? '—'}</TableCell>
                <TableCell>{m.hub ?? m.source ?? '—'}</TableCell>
                <TableCell>{m.m_files?.length ?? 0}</TableCell>
                <TableCell align="right">
                  <Button size="small" onClick={() => setDeploying(m)}>
                    Deploy
                  </Button>
                </TableCell>
              </TableRow>
            )}
          />
        )}
      </Loadable>
      {importing ? <ImportDialog open onClose={() => setImporting(false)} onDone={models.reload} /> : null}
      <DeployDialog
        open={deploying !== null}
        model={deploying ? { id: deploying.id!, name: deploying.name } : null}
        onClose={() => setDeploying(null)}
        onDeployed={() => navigate('/deployments')}
      />
    </>
  );
}
