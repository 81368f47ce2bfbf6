/** Chat playground: pick a deployment, streamed answer, stop, system prompt, parameters, tok/s. */
import { Alert, Box, Button, Card, CardContent, MenuItem, Paper, TextField, Typography } from '@mui/material';
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useSearchParams } from 'react-router-dom';
import { streamChat, type ChatMessage, type ChatResult } from '../api/chat';
import { call, describeError } from '../api/client';
import { Empty, ErrorState, Loading, PageHeader, useLoad } from '../components/states';

export default function Chat() {
  const [params, setParams] = useSearchParams();
  const deployments = useLoad(signal => call('get', '/api/serving/deployments', { signal }), []);
  const ready = (deployments.data ?? []).filter(d => d.status === 'DEPLOYED');
  const chosen = params.get('deployment') ?? '';
  const deploymentId = ready.some(d => d.id === chosen) ? chosen : (ready[0]?.id ?? '');

  const [system, setSystem] = useState('You are a helpful assistant.');
  const [temperature, setTemperature] = useState('0.7');
  const [maxTokens, setMaxTokens] = useState('128');
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [draft, setDraft] = useState('');
  const [streaming, setStreaming] = useState<string | null>(null);
  const [result, setResult] = useState<ChatResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const logEnd = useRef<HTMLDivElement | null>(null);

  useEffect(() => () => abort.current?.abort(), []);
  useEffect(() => {
    // a block body: newer Chromium returns a promise from scrollIntoView, which React would
    // take for the effect's clean-up function
    void logEnd.current?.scrollIntoView?.({ block: 'nearest' });
  }, [messages, streaming]);

  const send = async (event?: FormEvent) => {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || !deploymentId || streaming !== null) {
      return;
    }
    const history: ChatMessage[] = [...messages, { role: 'user', content: text }];
    setMessages(history);
    setDraft('');
    setError(null);
    setResult(null);
    setStreaming('');
    const controller = new AbortController();
    abort.current = controller;
    const body = system.trim() ? [{ role: 'system' as const, content: system.trim() }, ...history] : history;
    try {
      const done = await streamChat(
        deploymentId,
        body,
        { temperature: Number(temperature), max_tokens: Number(maxTokens) },
        setStreaming,
        controller.signal,
      );
      setMessages([...history, { role: 'assistant', content: done.text }]);
      setResult(done);
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setStreaming(null);
      abort.current = null;
    }
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      void send();
    }
  };

  if (deployments.data === undefined) {
    return deployments.error ? <ErrorState error={deployments.error} onRetry={deployments.reload} /> : <Loading />;
  }
  const shown = streaming === null ? messages : [...messages, { role: 'assistant' as const, content: streaming }];
  return (
    <>
      <PageHeader title="Chat playground">
        <TextField
          select
          size="small"
          label="Deployment"
          value={deploymentId}
          onChange={e => setParams({ deployment: e.target.value })}
          sx={{ minWidth: 220 }}
          disabled={ready.length === 0}
        >
          {ready.map(d => (
            <MenuItem key={d.id} value={d.id}>
              {d.m_name} ({d.id.slice(0, 8)})
            </MenuItem>
          ))}
        </TextField>
        <Button onClick={() => { setMessages([]); setResult(null); setError(null); }} disabled={streaming !== null}>
          Clear
        </Button>
      </PageHeader>
      {ready.length === 0 ? (
        <Empty>No deployed model: deploy one on the Deployments page.</Empty>
      ) : (
        <Box className="grid gap-4 lg:grid-cols-[1fr_280px]">
          <Box className="flex min-w-0 flex-col gap-3">
            <Paper variant="outlined" className="waza-chat-log flex min-h-64 flex-col gap-2 overflow-y-auto p-3" sx={{ maxHeight: '60vh' }} aria-live="polite" aria-label="Conversation">
              {shown.length === 0 ? <Typography color="text.secondary">Say something to the model.</Typography> : null}
              {shown.map((m, i) => (
                <Box
                  key={i}
                  className={`waza-msg waza-msg-${m.role} max-w-[85%] whitespace-pre-wrap rounded-lg px-3 py-2`}
                  sx={{
                    alignSelf: m.role === 'user' ? 'flex-end' : 'flex-start',
                    bgcolor: m.role === 'user' ? 'primary.main' : 'action.hover',
                    color: m.role === 'user' ? 'primary.contrastText' : 'text.primary',
                  }}
                >
                  {m.content}
                </Box>
              ))}
              <div ref={logEnd} />
            </Paper>
            {error ? (
              <Alert severity="error" className="waza-error">
                {error}
              </Alert>
            ) : null}
            <Typography variant="body2" color="text.secondary" className="waza-chat-stats" aria-live="polite">
              {result
                ? `${result.tokens} tokens · ${result.tokensPerSecond ? result.tokensPerSecond.toFixed(1) : '—'} tok/s · first token ${result.ttft?.toFixed(2) ?? '—'} s${result.stopped ? ' · stopped' : ''}`
                : streaming !== null
                  ? 'Streaming…'
                  : ' '}
            </Typography>
            <form onSubmit={send} className="flex items-end gap-2" aria-label="Send a message">
              <TextField
                multiline
                maxRows={6}
                fullWidth
                label="Message"
                value={draft}
                onChange={e => setDraft(e.target.value)}
                onKeyDown={onKey}
                slotProps={{ htmlInput: { 'aria-label': 'Message' } }}
              />
              {streaming !== null ? (
                <Button variant="outlined" color="error" onClick={() => abort.current?.abort()}>
                  Stop
                </Button>
              ) : (
                <Button type="submit" variant="contained" disabled={!draft.trim()}>
                  Send
                </Button>
              )}
            </form>
          </Box>
          <Card variant="outlined">
            <CardContent className="flex flex-col gap-3">
              <Typography variant="subtitle1" component="h2">
                Parameters
              </Typography>
              <TextField label="System prompt" multiline minRows={3} value={system} onChange={e => setSystem(e.target.value)} />
              <TextField label="Temperature" type="number" value={temperature} onChange={e => setTemperature(e.target.value)} slotProps={{ htmlInput: { min: 0, max: 2, step: 0.1 } }} />
              <TextField label="Max tokens" type="number" value={maxTokens} onChange={e => setMaxTokens(e.target.value)} slotProps={{ htmlInput: { min: 1, max: 4096 } }} />
            </CardContent>
          </Card>
        </Box>
      )}
    </>
  );
}
