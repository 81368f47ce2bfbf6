/** The left-sidebar "waza" panel: Models, Deployments, Vector stores and Catalog sections. */
import { ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  Collection,
  Container,
  Dataset,
  DatasetDetail,
  Deployment,
  DownloadProgress,
  Model,
  SearchHit,
  SecretName,
  SnippetKind,
  Status,
  VectorDB,
  WazaApi,
  WazaError,
  downloadProgress,
  formatBytes,
  formatEta,
  isActive,
  baseName,
  statusTone
} from './api';

export interface PanelActions {
  deploy(model: Model): void;
  openChat(dep: Deployment): void;
  showLogs(dep: Deployment): void;
  insertSnippet(kind: SnippetKind, id: string, extra?: { db?: string }): void;
}

const PENDING_POLL_MS = 1500;
const DOWNLOAD_POLL_MS = 1000;

type Load<T> = { state: 'loading' } | { state: 'error'; error: string } | { state: 'ok'; value: T };

function message(err: unknown): string {
  return err instanceof WazaError ? err.display : String((err as Error)?.message ?? err);
}

/** Load `fn` now and whenever `tick` or `deps` change; keep the last value while reloading. */
function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [load, setLoad] = React.useState<Load<T>>({ state: 'loading' });
  const [again, setAgain] = React.useState(0);
  React.useEffect(() => {
    let live = true;
    fn().then(
      value => live && setLoad({ state: 'ok', value }),
      err => live && setLoad({ state: 'error', error: message(err) })
    );
    return () => {
      live = false;
    };
  }, [...deps, again]);
  return [load, () => setAgain(n => n + 1)];
}

function Show<T>(props: {
  load: Load<T>;
  empty: string;
  isEmpty: (v: T) => boolean;
  children: (v: T) => React.ReactNode;
}): JSX.Element {
  const { load } = props;
  if (load.state === 'loading') {
    return <div className="waza-loading">Loading…</div>;
  }
  if (load.state === 'error') {
    return (
      <div className="waza-error" role="alert">
        {load.error}
      </div>
    );
  }
  if (props.isEmpty(load.value)) {
    return <div className="waza-empty">{props.empty}</div>;
  }
  return <>{props.children(load.value)}</>;
}

function Section(props: { title: string; id: string; children: React.ReactNode }): JSX.Element {
  const [open, setOpen] = React.useState(true);
  return (
    <section className="waza-section" data-section={props.id}>
      <button
        className="waza-section-header"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        <span className="waza-caret">{open ? '▾' : '▸'}</span> {props.title}
      </button>
      {open && <div className="waza-section-body">{props.children}</div>}
    </section>
  );
}

function Badge(props: { status: string }): JSX.Element {
  return (
    <span className={`waza-badge waza-badge-${statusTone(props.status)}`}>{props.status}</span>
  );
}

function SmallButton(props: {
  label: string;
  title?: string;
  onClick: () => void;
  disabled?: boolean;
}): JSX.Element {
  return (
    <button
      className="jp-Button jp-mod-minimal waza-action"
      title={props.title ?? props.label}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      {props.label}
    </button>
  );
}

/** "Import from the Hub": a repo id, then a progress bar (bytes, ETA) with Cancel. */
function HubImport(props: { api: WazaApi; onDone: () => void }): JSX.Element {
  const [repo, setRepo] = React.useState('');
  const [modelId, setModelId] = React.useState<string | null>(null);
  const [progress, setProgress] = React.useState<DownloadProgress | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    if (!modelId) {
      return;
    }
    let live = true;
    let timer = 0;
    const poll = async () => {
      try {
        const p = downloadProgress(await props.api.downloads(modelId));
        if (!live) {
          return;
        }
        setProgress(p);
        if (p.state === 'downloading') {
          timer = window.setTimeout(() => void poll(), DOWNLOAD_POLL_MS);
        } else {
          props.onDone();
        }
      } catch (err) {
        live && setError(message(err));
      }
    };
    void poll();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [modelId]);
  const [notice, setNotice] = React.useState<string | null>(null);
  const start = async () => {
    setError(null);
    setNotice(null);
    setProgress(null);
    try {
      const started = await props.api.hubImport(repo.trim());
      if (!started.files.length && !started.in_progress.length) {
        setNotice(started.message); // every file is here already: nothing to follow
      } else {
        setModelId(started.model_id);
      }
      props.onDone();
    } catch (err) {
      setError(message(err));
    }
  };
  const cancel = async () => {
    if (modelId) {
      try {
        await props.api.cancelImport(modelId);
      } catch (err) {
        setError(message(err));
      }
    }
  };
  const running = progress?.state === 'downloading' || (modelId !== null && progress === null);
  return (
    <div className="waza-hub-import">
      <form
        className="waza-search"
        onSubmit={e => {
          e.preventDefault();
          if (repo.trim() && !running) {
            setModelId(null);
            void start();
          }
        }}
      >
        <input
          className="jp-mod-styled"
          placeholder="Import from the Hub: org/name"
          aria-label="Hub repo to import"
          value={repo}
          onChange={e => setRepo(e.target.value)}
        />
      </form>
      {error && (
        <div className="waza-error" role="alert">
          {error}
        </div>
      )}
      {notice && (
        <div className="waza-item-meta waza-progress-text" role="status">
          {notice}
        </div>
      )}
      {modelId && progress && (
        <div className="waza-progress" data-state={progress.state}>
          <progress
            max={1}
            value={progress.fraction ?? undefined}
            aria-label={`Importing ${repo}`}
          />
          <span className="waza-item-meta waza-progress-text">
            {progress.state === 'downloading'
              ? `${formatBytes(progress.bytes)}${progress.total ? ' of ' + formatBytes(progress.total) : ''}` +
                (progress.eta !== null ? ` · ${formatEta(progress.eta)} left` : '')
              : progress.state === 'done'
                ? `Imported (${formatBytes(progress.bytes)})`
                : progress.state === 'cancelled'
                  ? 'Cancelled'
                  : `Failed: ${progress.error ?? 'unknown error'}`}
          </span>
          {progress.state === 'downloading' && (
            <SmallButton label="Cancel" onClick={() => void cancel()} />
          )}
        </div>
      )}
    </div>
  );
}

function ModelsSection(props: {
  api: WazaApi;
  tick: number;
  actions: PanelActions;
  refresh: () => void;
}): JSX.Element {
  const [query, setQuery] = React.useState('');
  const [applied, setApplied] = React.useState('');
  const [load] = useLoad(() => props.api.models(applied), [applied, props.tick]);
  return (
    <Section title="Models" id="models">
      <form
        className="waza-search"
        onSubmit={e => {
          e.preventDefault();
          setApplied(query);
        }}
      >
        <input
          className="jp-mod-styled"
          placeholder="Search models"
          aria-label="Search models"
          value={query}
          onChange={e => setQuery(e.target.value)}
        />
      </form>
      <HubImport api={props.api} onDone={props.refresh} />
      <Show load={load} empty="No models yet: right-click a model file → Register as model" isEmpty={v => !v.models.length}>
        {v => (
          <ul className="waza-list" aria-label="Models">
            {v.models.map(m => (
              <li key={m.id} className="waza-item" data-model={m.name}>
                <div className="waza-item-title" title={m.local_path ?? m.name}>
                  {m.name}
                </div>
                <div className="waza-item-meta">{[m.purpose, m.source].filter(Boolean).join(' · ')}</div>
                <div className="waza-item-actions">
                  <SmallButton label="Deploy" onClick={() => props.actions.deploy(m)} />
                  <SmallButton
                    label="Insert code"
                    onClick={() => props.actions.insertSnippet('model', m.id)}
                  />
                </div>
              </li>
            ))}
          </ul>
        )}
      </Show>
    </Section>
  );
}

function DeploymentsSection(props: {
  api: WazaApi;
  tick: number;
  actions: PanelActions;
  refresh: () => void;
  status: Status | null;
}): JSX.Element {
  const [showAll, setShowAll] = React.useState(false);
  const [allUsers, setAllUsers] = React.useState(false);
  const admin = !!props.status?.admin;
  const [load, reload] = useLoad(
    () => props.api.deployments(admin && allUsers),
    [props.tick, admin && allUsers]
  );
  const shown = (v: Deployment[]) =>
    WazaApi.visibleDeployments(v, props.status, admin && allUsers).filter(
      d => showAll || isActive(d)
    );
  // while a deployment is on its way (or stopping), follow it closely
  React.useEffect(() => {
    if (load.state === 'ok' && load.value.some(d => statusTone(d.status) === 'pending')) {
      const timer = window.setTimeout(reload, PENDING_POLL_MS);
      return () => window.clearTimeout(timer);
    }
  }, [load]);
  const [busy, setBusy] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const stop = async (d: Deployment) => {
    setBusy(d.id);
    setError(null);
    try {
      await props.api.stop(d.id);
    } catch (err) {
      setError(message(err));
    }
    setBusy(null);
    props.refresh();
  };
  return (
    <Section title="Deployments" id="deployments">
      <label className="waza-toggle">
        <input type="checkbox" checked={showAll} onChange={e => setShowAll(e.target.checked)} />{' '}
        include stopped
      </label>
      {admin && (
        <label className="waza-toggle">
          <input
            type="checkbox"
            aria-label="All users"
            checked={allUsers}
            onChange={e => setAllUsers(e.target.checked)}
          />{' '}
          all users
        </label>
      )}
      {error && (
        <div className="waza-error" role="alert">
          {error}
        </div>
      )}
      <Show
        load={load}
        empty="No deployments: deploy a model above"
        isEmpty={v => !shown(v).length}
      >
        {v => (
          <ul className="waza-list" aria-label="Deployments">
            {shown(v).map(d => (
                <li key={d.id} className="waza-item" data-deployment={d.id}>
                  <div className="waza-item-title">
                    {d.m_name} <Badge status={d.status} />
                    {admin && allUsers && (
                      <span className="waza-owner" title="Owner">
                        {d.owner_name ?? d.owner_id.slice(0, 8)}
                      </span>
                    )}
                  </div>
                  <div className="waza-item-meta">
                    {d.engine_name}
                    {d.last_error_code ? ` · ${d.last_error_code}` : ''}
                  </div>
                  {d.last_error_message && (
                    <div className="waza-item-error">{d.last_error_message}</div>
                  )}
                  <div className="waza-item-actions">
                    <SmallButton
                      label="Open chat"
                      disabled={statusTone(d.status) !== 'ok'}
                      onClick={() => props.actions.openChat(d)}
                    />
                    <SmallButton label="Logs" onClick={() => props.actions.showLogs(d)} />
                    <SmallButton
                      label="Insert code"
                      onClick={() => props.actions.insertSnippet('deployment', d.id)}
                    />
                    {isActive(d) && (
                      <SmallButton
                        label={busy === d.id ? 'Stopping…' : 'Stop'}
                        disabled={busy === d.id}
                        onClick={() => void stop(d)}
                      />
                    )}
                  </div>
                </li>
              ))}
          </ul>
        )}
      </Show>
    </Section>
  );
}

function CollectionSearch(props: {
  api: WazaApi;
  db: VectorDB;
  collection: Collection;
  actions: PanelActions;
}): JSX.Element {
  const [query, setQuery] = React.useState('');
  const [hits, setHits] = React.useState<Load<SearchHit[]> | null>(null);
  const run = async () => {
    setHits({ state: 'loading' });
    try {
      const value = await props.api.search(props.db.id, props.collection.name, query);
      setHits({ state: 'ok', value });
    } catch (err) {
      setHits({ state: 'error', error: message(err) });
    }
  };
  return (
    <div className="waza-collection" data-collection={props.collection.name}>
      <div className="waza-item-title">
        {props.collection.display_name || props.collection.name}{' '}
        <span className="waza-count">{props.collection.count}</span>
      </div>
      <div className="waza-item-actions">
        <SmallButton
          label="Insert code"
          onClick={() =>
            props.actions.insertSnippet('collection', props.collection.name, { db: props.db.id })
          }
        />
      </div>
      <form
        className="waza-search"
        onSubmit={e => {
          e.preventDefault();
          void run();
        }}
      >
        <input
          className="jp-mod-styled"
          placeholder={`Search ${props.collection.name}`}
          aria-label={`Search ${props.collection.name}`}
          value={query}
          onChange={e => setQuery(e.target.value)}
        />
      </form>
      {hits && (
        <Show load={hits} empty="No hits" isEmpty={v => !v.length}>
          {v => (
            <ol className="waza-hits">
              {v.map(h => (
                <li key={h.id} className="waza-hit">
                  <span className="waza-score">{h.score.toFixed(3)}</span>{' '}
                  {String(h.metadata.text ?? h.metadata.chunk ?? h.id).slice(0, 200)}
                  {h.metadata.source !== undefined && (
                    <div className="waza-item-meta">{String(h.metadata.source)}</div>
                  )}
                </li>
              ))}
            </ol>
          )}
        </Show>
      )}
    </div>
  );
}

function VectorDbItem(props: { api: WazaApi; db: VectorDB; tick: number; actions: PanelActions }) {
  const [load] = useLoad(() => props.api.collections(props.db.id), [props.db.id, props.tick]);
  return (
    <li className="waza-item" data-vectordb={props.db.name}>
      <div className="waza-item-title">
        {props.db.name} <Badge status={props.db.status.toUpperCase()} />
      </div>
      <div className="waza-item-meta">{props.db.engine}</div>
      <Show load={load} empty="No collections" isEmpty={v => !v.length}>
        {v => (
          <>
            {v.map(c => (
              <CollectionSearch key={c.name} api={props.api} db={props.db} collection={c} actions={props.actions} />
            ))}
          </>
        )}
      </Show>
    </li>
  );
}

function VectorsSection(props: { api: WazaApi; tick: number; actions: PanelActions }): JSX.Element {
  const [load] = useLoad(() => props.api.vectorDbs(), [props.tick]);
  return (
    <Section title="Vector stores" id="vectors">
      <Show load={load} empty="No vector stores yet" isEmpty={v => !v.length}>
        {v => (
          <ul className="waza-list" aria-label="Vector stores">
            {v.map(db => (
              <VectorDbItem key={db.id} api={props.api} db={db} tick={props.tick} actions={props.actions} />
            ))}
          </ul>
        )}
      </Show>
    </Section>
  );
}

function DatasetItem(props: { api: WazaApi; dataset: Dataset; actions: PanelActions }) {
  const [detail, setDetail] = React.useState<Load<DatasetDetail> | null>(null);
  const toggle = async () => {
    if (detail) {
      setDetail(null);
      return;
    }
    setDetail({ state: 'loading' });
    try {
      setDetail({ state: 'ok', value: await props.api.dataset(props.dataset.urn) });
    } catch (err) {
      setDetail({ state: 'error', error: message(err) });
    }
  };
  return (
    <li className="waza-item" data-dataset={props.dataset.name}>
      <button
        className="waza-link"
        aria-expanded={!!detail}
        title={props.dataset.name}
        onClick={() => void toggle()}
      >
        {baseName(props.dataset.name)}
      </button>
      <span className="waza-item-meta"> {props.dataset.platform}</span>
      <div className="waza-item-actions">
        <SmallButton
          label="Insert code"
          onClick={() => props.actions.insertSnippet('dataset', props.dataset.urn)}
        />
      </div>
      {detail && (
        <Show load={detail} empty="" isEmpty={() => false}>
          {v =>
            v.schema ? (
              <table className="waza-schema">
                <tbody>
                  {v.schema.fields.map(f => (
                    <tr key={f.name}>
                      <td>{f.name}</td>
                      <td>{String(f.type ?? f.nativeDataType ?? '')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <div className="waza-empty">No schema recorded</div>
            )
          }
        </Show>
      )}
    </li>
  );
}

function CatalogSection(props: { api: WazaApi; tick: number; actions: PanelActions }): JSX.Element {
  const [load] = useLoad(
    async (): Promise<[Dataset[], Container[], SecretName[]]> =>
      Promise.all([props.api.datasets(), props.api.containers(), props.api.secrets()]),
    [props.tick]
  );
  return (
    <Section title="Catalog" id="catalog">
      <Show load={load} empty="" isEmpty={() => false}>
        {([datasets, containers, secrets]) => {
          const inContainer = new Set(containers.flatMap(c => c.datasets));
          const loose = datasets.filter(d => !inContainer.has(d.urn));
          const byUrn = new Map(datasets.map(d => [d.urn, d]));
          return (
            <>
              <div className="waza-subtitle">Datasets</div>
              {!datasets.length && !containers.length && (
                <div className="waza-empty">No datasets: right-click a file → Register dataset</div>
              )}
              <ul className="waza-list waza-tree" aria-label="Datasets">
                {containers.map(c => (
                  <li key={c.urn} className="waza-container">
                    <div className="waza-item-title">📁 {c.name}</div>
                    <ul className="waza-list">
                      {c.datasets
                        .map(urn => byUrn.get(urn))
                        .filter((d): d is Dataset => !!d)
                        .map(d => (
                          <DatasetItem key={d.urn} api={props.api} dataset={d} actions={props.actions} />
                        ))}
                    </ul>
                  </li>
                ))}
                {loose.map(d => (
                  <DatasetItem key={d.urn} api={props.api} dataset={d} actions={props.actions} />
                ))}
              </ul>
              <div className="waza-subtitle">Secrets</div>
              {secrets.length ? (
                <ul className="waza-list" aria-label="Secrets">
                  {secrets.map(s => (
                    <li key={s.urn} className="waza-item waza-secret">
                      🔑 {s.name}
                    </li>
                  ))}
                </ul>
              ) : (
                <div className="waza-empty">No secrets</div>
              )}
            </>
          );
        }}
      </Show>
    </Section>
  );
}

function Sidebar(props: {
  api: WazaApi;
  actions: PanelActions;
  interval: () => number;
  onTick: (listener: () => void) => () => void;
}): JSX.Element {
  const [tick, setTick] = React.useState(0);
  const refresh = () => setTick(n => n + 1);
  const [status] = useLoad<Status>(() => props.api.status(), [tick]);
  React.useEffect(() => props.onTick(refresh), []);
  React.useEffect(() => {
    const seconds = props.interval();
    if (!seconds) {
      return;
    }
    const timer = window.setInterval(refresh, seconds * 1000);
    return () => window.clearInterval(timer);
  }, [props.interval()]);
  return (
    <div className="waza-sidebar">
      <header className="waza-header">
        <h2>waza</h2>
        <SmallButton label="⟳" title="Refresh" onClick={refresh} />
      </header>
      <div className="waza-connection">
        {status.state === 'ok' && (
          <span title={status.value.api_url}>
            {status.value.user}
            {status.value.admin ? ' (admin)' : ''}
          </span>
        )}
        {status.state === 'error' && (
          <div className="waza-error" role="alert">
            {status.error}
          </div>
        )}
      </div>
      <ModelsSection api={props.api} tick={tick} actions={props.actions} refresh={refresh} />
      <DeploymentsSection
        api={props.api}
        tick={tick}
        actions={props.actions}
        refresh={refresh}
        status={status.state === 'ok' ? status.value : null}
      />
      <VectorsSection api={props.api} tick={tick} actions={props.actions} />
      <CatalogSection api={props.api} tick={tick} actions={props.actions} />
    </div>
  );
}

/** The sidebar widget; `refresh()` reloads every section. */
export class WazaSidebar extends ReactWidget {
  private listeners = new Set<() => void>();

  constructor(
    private api: WazaApi,
    private actions: PanelActions,
    private interval: () => number
  ) {
    super();
    this.id = 'waza-sidebar';
    this.addClass('waza-panel');
  }

  refresh(): void {
    this.listeners.forEach(l => l());
  }

  protected render(): JSX.Element {
    return (
      <Sidebar
        api={this.api}
        actions={this.actions}
        interval={this.interval}
        onTick={listener => {
          this.listeners.add(listener);
          return () => this.listeners.delete(listener);
        }}
      />
    );
  }
}
