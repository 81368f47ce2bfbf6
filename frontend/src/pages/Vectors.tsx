/** Vector stores: databases, their collections, and search (platform embeddings) with hits. */
import {
  Box,
  Button,
  Card,
  CardContent,
  Chip,
  List,
  ListItemButton,
  ListItemText,
  Paper,
  TextField,
  Typography,
} from '@mui/material';
import { useState, type FormEvent } from 'react';
import { call, describeError, type Schemas } from '../api/client';
import { Empty, ErrorState, Loadable, Loading, PageHeader, useLoad } from '../components/states';

type Hit = Schemas['SearchHit'];

/** Embed the text with the platform's embedding service, then query the collection. */
export async function searchCollection(dbId: string, collection: string, text: string, limit = 5): Promise<Hit[]> {
  const embedded = await call('post', '/api/embedding/generate', { body: { text } });
  const vector = embedded.embedding as number[];
  const found = await call('post', '/api/context/vectordbs/{vectordb_id}/query', {
    path: { vectordb_id: dbId },
    body: { collection_name: collection, vectors: [vector], limit },
  });
  return (found.results ?? []).flat() as Hit[];
}

function Search({ dbId, collection }: { dbId: string; collection: Schemas['Collection'] }) {
  const [text, setText] = useState('');
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!text.trim()) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setHits(await searchCollection(dbId, collection.name, text.trim()));
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card variant="outlined" data-collection={collection.name}>
      <CardContent className="flex flex-col gap-3">
        <Box className="flex flex-wrap items-center gap-2">
          <Typography variant="h6" component="h2">
            {collection.display_name || collection.name}
          </Typography>
          <Chip size="small" label={`${collection.count ?? 0} vectors`} />
          <Chip size="small" label={`dim ${collection.dimension}`} />
          <Chip size="small" label={collection.metric ?? ''} />
        </Box>
        <form onSubmit={submit} className="flex gap-2" aria-label={`Search ${collection.name}`}>
          <TextField
            size="small"
            fullWidth
            label="Search text"
            value={text}
            onChange={e => setText(e.target.value)}
            slotProps={{ htmlInput: { 'aria-label': `Search ${collection.name}` } }}
          />
          <Button type="submit" variant="contained" disabled={busy || !text.trim()}>
            {busy ? 'Searching…' : 'Search'}
          </Button>
        </form>
        {error ? <ErrorState error={error} /> : null}
        {hits === null ? null : hits.length === 0 ? (
          <Empty>No hits.</Empty>
        ) : (
          <Box className="flex flex-col gap-2" aria-label="Hits">
            {hits.map(hit => (
              <Paper key={String(hit.id)} variant="outlined" className="waza-hit p-2">
                <Typography variant="body2" sx={{ fontWeight: 600 }}>
                  score {Number(hit.score).toFixed(3)} · id {String(hit.id)}
                </Typography>
                <Box component="dl" className="m-0 grid grid-cols-[auto_1fr] gap-x-3 text-sm">
                  {Object.entries(hit.metadata ?? {}).map(([key, value]) => (
                    <Box key={key} className="contents">
                      <Box component="dt" sx={{ color: 'text.secondary' }}>
                        {key}
                      </Box>
                      <Box component="dd" className="m-0 break-words">
                        {typeof value === 'string' ? value : JSON.stringify(value)}
                      </Box>
                    </Box>
                  ))}
                </Box>
              </Paper>
            ))}
          </Box>
        )}
      </CardContent>
    </Card>
  );
}

export default function Vectors() {
  const dbs = useLoad(signal => call('get', '/api/context/vectordbs', { signal }), []);
  const [chosen, setChosen] = useState<string | null>(null);
  const dbId = chosen ?? dbs.data?.[0]?.id ?? null;
  const collections = useLoad(
    signal => (dbId ? call('get', '/api/context/collections/', { query: { vectordb_id: dbId }, signal }) : Promise.resolve([])),
    [dbId],
  );
  return (
    <>
      <PageHeader title="Vector stores" />
      <Loadable state={dbs} empty="No vector databases yet (create one from a notebook, the CLI or the API).">
        {list => (
          <Box className="grid gap-4 md:grid-cols-[240px_1fr]">
            <Paper variant="outlined">
              <List aria-label="Vector databases" dense>
                {list.map(db => (
                  <ListItemButton key={db.id} selected={db.id === dbId} onClick={() => setChosen(db.id)}>
                    <ListItemText primary={db.name} secondary={`${db.engine} · ${db.status}${db.shared ? ' · shared' : ''}`} />
                  </ListItemButton>
                ))}
              </List>
            </Paper>
            <Box className="flex min-w-0 flex-col gap-3">
              {collections.data === undefined || collections.loading ? (
                collections.error ? <ErrorState error={collections.error} /> : <Loading label="Loading collections" />
              ) : collections.error ? (
                <ErrorState error={collections.error} onRetry={collections.reload} />
              ) : collections.data.length === 0 ? (
                <Empty>No collections in this database.</Empty>
              ) : (
                collections.data.map(c => <Search key={c.name} dbId={dbId!} collection={c} />)
              )}
            </Box>
          </Box>
        )}
      </Loadable>
    </>
  );
}
