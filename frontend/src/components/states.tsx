/** Loading, error and empty states that every page uses, the data-loading hook and the form-submit hook. */
import { Alert, Box, Button, CircularProgress, Typography } from '@mui/material';
import { Component, useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { describeError } from '../api/client';

export function Loading({ label = 'Loading' }: { label?: string }) {
  return (
    <Box className="flex items-center gap-3 p-6" role="status" aria-live="polite">
      <CircularProgress size={22} aria-label={label} />
      <Typography color="text.secondary">{label}…</Typography>
    </Box>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <Alert
      severity="error"
      className="waza-error my-3"
      action={
        onRetry ? (
          <Button color="inherit" size="small" onClick={onRetry}>
            Retry
          </Button>
        ) : undefined
      }
    >
      {typeof error === 'string' ? error : describeError(error)}
    </Alert>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Box className="waza-empty p-6 text-center" sx={{ color: 'text.secondary' }}>
      <Typography>{children}</Typography>
    </Box>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Load with `fetcher` when `deps` change (and every `pollMs` when set, quietly: a poll keeps
 * the last data on screen and only replaces it when the answer comes).
 */
export function useLoad<T>(fetcher: (signal: AbortSignal) => Promise<T>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fetchRef = useRef(fetcher);
  useLayoutEffect(() => {
    fetchRef.current = fetcher; // the latest closure, without restarting the effect below
  });

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (first: boolean) => {
      if (first) {
        setLoading(true);
      }
      try {
        const value = await fetchRef.current(controller.signal);
        if (!controller.signal.aborted) {
          setData(value);
          setError(null);
        }
      } catch (caught) {
        if (!controller.signal.aborted) {
          setError(caught);
        }
      } finally {
        if (!controller.signal.aborted) {
          setLoading(false);
          if (pollMs) {
            timer = setTimeout(() => void run(false), pollMs);
          }
        }
      }
    };
    void run(true);
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, pollMs]);

  const reload = useCallback(() => setTick(t => t + 1), []);
  return { data, error, loading, reload };
}

/** The usual page body: loading, error, empty, or the content. */
export function Loadable<T>({
  state,
  empty,
  isEmpty,
  children,
}: {
  state: Loaded<T>;
  empty: ReactNode;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ReactNode;
}) {
  if (state.data === undefined) {
    return state.error ? <ErrorState error={state.error} onRetry={state.reload} /> : <Loading />;
  }
  const blank = isEmpty ? isEmpty(state.data) : Array.isArray(state.data) && state.data.length === 0;
  return (
    <>
      {state.error ? <ErrorState error={state.error} onRetry={state.reload} /> : null}
      {blank ? <Empty>{empty}</Empty> : children(state.data)}
    </>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Box className="mb-4 flex flex-wrap items-center justify-between gap-3">
      <Typography variant="h5" component="h1">
        {title}
      </Typography>
      <Box className="flex flex-wrap items-center gap-2">{children}</Box>
    </Box>
  );
}

/**
 * A page that throws while rendering, or whose code-split chunk cannot be loaded (a newer build
 * was installed while this tab was open), shows an error with a reload instead of a blank app.
 */
export class PageBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: unknown }> {
  state = { error: null as unknown };

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  componentDidUpdate(previous: { resetKey: string }) {
    if (previous.resetKey !== this.props.resetKey && this.state.error) {
      this.setState({ error: null });
    }
  }

  render() {
    if (this.state.error) {
      return (
        <Alert
          severity="error"
          className="waza-error my-3"
          action={
            <Button color="inherit" size="small" onClick={() => window.location.reload()}>
              Reload
            </Button>
          }
        >
          This page failed: {this.state.error instanceof Error ? this.state.error.message : String(this.state.error)}
        </Alert>
      );
    }
    return this.props.children;
  }
}

/**
 * A form's submit handler for `action`: busy while it runs, the error it throws as a message.
 * Busy stays set when it succeeds (the form closes or the page changes) so it cannot be sent twice.
 */
export function useSubmit(action: () => Promise<void>) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  };
  return { error, busy, submit };
}
