/** The data catalog: datasets (schema view, register), containers, secrets (names only). */
import {
  Alert,
  Box,
  Button,
  Card,
  CardContent,
  Chip,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  Tab,
  TableCell,
  TableRow,
  Tabs,
  TextField,
  Typography,
} from '@mui/material';
import { useState } from 'react';
import { call, type Schemas } from '../api/client';
import { isAdmin, useAuth } from '../auth';
import { formatTime } from '../components/format';
import { ListTable } from '../components/ListTable';
import { Empty, ErrorState, Loadable, Loading, PageHeader, useLoad, useSubmit } from '../components/states';

type Dataset = Schemas['Dataset'];

/** `name:type` per line (type `string` when left out) → schema fields. */
export function parseFields(text: string): Schemas['SchemaField'][] {
  return text
    .split('\n')
    .map(line => line.trim())
    .filter(Boolean)
    .map(line => {
      const [name, type] = line.split(':').map(s => s.trim());
      return { name, type: type || 'string' };
    });
}

function RegisterDialog({ onClose, onDone }: { onClose: () => void; onDone: (urn: string) => void }) {
  const [name, setName] = useState('');
  const [platform, setPlatform] = useState('file');
  const [description, setDescription] = useState('');
  const [tags, setTags] = useState('');
  const [fields, setFields] = useState('');
  const { error, busy, submit } = useSubmit(async () => {
    const parsed = parseFields(fields);
    const urn = await call('post', '/api/catalog/datasets/', {
      body: {
        name: name.trim(),
        platform: platform.trim(),
        description: description.trim() || null,
        tags: tags.split(',').map(t => t.trim()).filter(Boolean),
        dataset_schema: parsed.length ? { name: name.trim(), platform: platform.trim(), fields: parsed } : null,
      },
    });
    onDone(urn);
  });

  return (
    <Dialog open onClose={onClose} fullWidth maxWidth="sm">
      <form onSubmit={submit} aria-label="Register dataset">
        <DialogTitle>Register a dataset</DialogTitle>
        <DialogContent className="flex flex-col gap-3" sx={{ pt: '8px !important' }}>
          {error ? (
            <Alert severity="error" className="waza-error" role="alert">
              {error}
            </Alert>
          ) : null}
          <TextField label="Name (a path or table name)" name="name" required value={name} onChange={e => setName(e.target.value)} />
          <TextField label="Platform" name="platform" required value={platform} onChange={e => setPlatform(e.target.value)} helperText="file, s3, postgres, …" />
          <TextField label="Description" name="description" value={description} onChange={e => setDescription(e.target.value)} />
          <TextField label="Tags (comma-separated)" name="tags" value={tags} onChange={e => setTags(e.target.value)} />
          <TextField label="Schema: one name:type per line" name="fields" multiline minRows={3} value={fields} onChange={e => setFields(e.target.value)} />
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={busy || !name.trim() || !platform.trim()}>
            {busy ? 'Registering…' : 'Register'}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

function SchemaView({ dataset }: { dataset: Dataset }) {
  const schema = useLoad(signal => call('get', '/api/catalog/datasets/by-urn/schema', { query: { urn: dataset.urn }, signal }), [dataset.urn]);
  return (
    <Card variant="outlined" className="waza-schema">
      <CardContent>
        <Typography variant="h6" component="h2">
          {dataset.name}
        </Typography>
        <Typography variant="body2" color="text.secondary" className="break-all pb-2">
          {dataset.urn}
        </Typography>
        {dataset.description ? <Typography className="pb-2">{dataset.description}</Typography> : null}
        {schema.data === undefined ? (
          schema.error ? <ErrorState error={schema.error} /> : <Loading label="Loading schema" />
        ) : (schema.data.fields ?? []).length === 0 ? (
          <Empty>No schema recorded.</Empty>
        ) : (
          <ListTable
            label="Schema"
            box={false}
            columns={['Field', 'Type', 'Description']}
            rows={schema.data.fields ?? []}
            renderRow={f => (
              <TableRow key={f.name}>
                <TableCell>{f.name}</TableCell>
                <TableCell>{f.type}</TableCell>
                <TableCell>{f.description ?? ''}</TableCell>
              </TableRow>
            )}
          />
        )}
      </CardContent>
    </Card>
  );
}

function Datasets() {
  const [query, setQuery] = useState('');
  const datasets = useLoad(signal => call('get', '/api/catalog/datasets/', { query: { query: query.trim() || undefined }, signal }), [query]);
  const [selected, setSelected] = useState<Dataset | null>(null);
  const [registering, setRegistering] = useState(false);
  return (
    <>
      <Box className="mb-3 flex flex-wrap gap-2">
        <TextField size="small" type="search" label="Search datasets" value={query} onChange={e => setQuery(e.target.value)} />
        <Button variant="contained" onClick={() => setRegistering(true)}>
          Register dataset
        </Button>
      </Box>
      <Loadable state={datasets} empty={query ? 'No dataset matches.' : 'No datasets yet: register one.'}>
        {list => (
          <Box className="grid gap-4 lg:grid-cols-2">
            <ListTable
              label="Datasets"
              className="waza-list"
              columns={['Name', 'Platform', 'Tags', 'Created']}
              rows={list}
              renderRow={d => (
                <TableRow
                  key={d.urn}
                  hover
                  selected={selected?.urn === d.urn}
                  data-dataset={d.name}
                  tabIndex={0}
                  className="cursor-pointer"
                  onClick={() => setSelected(d)}
                  onKeyDown={e => (e.key === 'Enter' || e.key === ' ') && setSelected(d)}
                >
                  <TableCell>{d.name}</TableCell>
                  <TableCell>{d.platform}</TableCell>
                  <TableCell>
                    {(d.tags ?? []).map(t => (
                      <Chip key={t} size="small" label={t} className="mr-1" />
                    ))}
                  </TableCell>
                  <TableCell>{formatTime(d.created_at)}</TableCell>
                </TableRow>
              )}
            />
            {selected ? <SchemaView dataset={selected} /> : <Empty>Pick a dataset to see its schema.</Empty>}
          </Box>
        )}
      </Loadable>
      {registering ? (
        <RegisterDialog
          onClose={() => setRegistering(false)}
          onDone={urn => {
            setRegistering(false);
            datasets.reload();
            void call('get', '/api/catalog/datasets/by-urn', { query: { urn } }).then(setSelected, () => undefined);
          }}
        />
      ) : null}
    </>
  );
}

function Containers() {
  const containers = useLoad(signal => call('get', '/api/catalog/containers/', { signal }), []);
  return (
    <Loadable state={containers} empty="No containers.">
      {list => (
        <ListTable
          label="Containers"
          box={false}
          columns={['Name', 'Datasets', 'Sub-containers']}
          rows={list}
          renderRow={c => (
            <TableRow key={c.urn}>
              <TableCell>{c.name}</TableCell>
              <TableCell>{(c.datasets ?? []).length}</TableCell>
              <TableCell>{(c.sub_containers ?? []).length}</TableCell>
            </TableRow>
          )}
        />
      )}
    </Loadable>
  );
}

function Secrets() {
  const secrets = useLoad(signal => call('get', '/api/catalog/secrets/', { signal }), []);
  return (
    <Loadable state={secrets} empty="No secrets.">
      {list => (
        <ListTable
          label="Secrets"
          box={false}
          columns={['Name', 'Description', 'Created']}
          rows={list}
          renderRow={s => (
            <TableRow key={s.urn}>
              <TableCell>{s.name}</TableCell>
              <TableCell>{s.description ?? ''}</TableCell>
              <TableCell>{formatTime(s.created_at)}</TableCell>
            </TableRow>
          )}
        />
      )}
    </Loadable>
  );
}

export default function Catalog() {
  const { user } = useAuth();
  const [tab, setTab] = useState('datasets');
  return (
    <>
      <PageHeader title="Catalog" />
      <Tabs value={tab} onChange={(_, v) => setTab(v)} aria-label="Catalog sections" className="mb-3">
        <Tab value="datasets" label="Datasets" />
        {/* the API lists containers to admins only */}
        {isAdmin(user) ? <Tab value="containers" label="Containers" /> : null}
        <Tab value="secrets" label="Secrets" />
      </Tabs>
      {tab === 'datasets' ? <Datasets /> : tab === 'containers' ? <Containers /> : <Secrets />}
      {tab === 'secrets' ? (
        <Typography variant="body2" color="text.secondary" className="pt-2">
          Secret values never leave the platform: only names are listed.
        </Typography>
      ) : null}
    </>
  );
}
