/**
 * The typed data layer of the waza panels: calls the server extension under
 * `<base_url>/waza/` and turns its JSON errors into `WazaError`s.
 *
 * It depends only on a fetch-like function, so the panels pass JupyterLab's
 * `ServerConnection.makeRequest` (token and XSRF handled) and tests pass their own.
 */

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface Model {
  id: string;
  name: string;
  purpose?: string | null;
  source?: string | null;
  local_path?: string | null;
  modelfamily?: string | null;
  description?: string | null;
}

export interface Deployment {
  id: string;
  m_id: string;
  m_name: string;
  status: string;
  engine_name: string;
  requested_at: string;
  deployed_at?: string | null;
  last_error_code?: string | null;
  last_error_message?: string | null;
  access_path: string;
  owner_id: string;
  /** with `deployments(true)`, for admins */
  owner_name?: string | null;
  starting_copies: number;
}

export interface DownloadStarted {
  result: boolean;
  message: string;
  model_id: string;
  files: string[];
  already_downloaded: string[];
  in_progress: string[];
}

/** One file's download state, as the platform reports it. */
export interface FileDownload {
  id: string;
  m_id: string;
  name: string;
  download: boolean;
  is_downloading: boolean;
  download_percentage?: number | null;
  download_speed?: number | null;
  download_eta?: number | null;
  downloaded_bytes?: number | null;
  size?: number | null;
  download_error?: string | null;
  download_cancelled_at?: string | null;
}

/** A model's import from the Hub, summed over its files (what the progress bar shows). */
export interface DownloadProgress {
  bytes: number;
  total: number;
  /** 0..1 (null while the total size is unknown) */
  fraction: number | null;
  /** bytes per second, summed over the files being downloaded */
  speed: number;
  /** seconds left (null when unknown) */
  eta: number | null;
  state: 'downloading' | 'done' | 'failed' | 'cancelled';
  error?: string;
}

/** Sum one model's file downloads into one progress line. */
export function downloadProgress(files: FileDownload[]): DownloadProgress {
  let bytes = 0;
  let total = 0;
  let speed = 0;
  let eta: number | null = 0;
  let unknownSize = false;
  for (const f of files) {
    const size = f.size ?? null;
    const got = f.downloaded_bytes ?? (f.is_downloading ? 0 : (size ?? 0));
    bytes += got;
    if (size === null) {
      unknownSize = true;
    } else {
      total += size;
    }
    if (f.is_downloading) {
      speed += f.download_speed ?? 0;
      eta = f.download_eta === null || f.download_eta === undefined || eta === null
        ? null
        : Math.max(eta, f.download_eta);
    }
  }
  const error = files.find(f => f.download_error)?.download_error ?? undefined;
  const running = files.some(f => f.is_downloading);
  let state: DownloadProgress['state'] = 'done';
  if (running) {
    state = 'downloading';
  } else if (error) {
    state = 'failed';
  } else if (files.some(f => f.download_cancelled_at)) {
    state = 'cancelled';
  }
  if (!running) {
    eta = state === 'done' ? 0 : null;
  }
  const fraction = unknownSize || total === 0 ? (state === 'done' && files.length ? 1 : null) : Math.min(1, bytes / total);
  return { bytes, total, fraction, speed, eta, state, error };
}

/** The last part of a path or URL (a dataset's name is often a whole path). */
export function baseName(name: string): string {
  return name.split('/').filter(Boolean).pop() ?? name;
}

/** `1.5 MB`-style sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** `1:05`-style durations (`h:mm:ss` past an hour). */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export interface DeploymentLogs {
  deployment_id: string;
  logs: string[];
  capture_active: boolean;
}

export interface VectorDB {
  id: string;
  name: string;
  engine: string;
  status: string;
  shared: boolean;
}

export interface Collection {
  name: string;
  display_name: string;
  vectordb_id: string;
  dimension: number;
  metric: string;
  count: number;
}

export interface SearchHit {
  id: string;
  score: number;
  metadata: Record<string, unknown>;
}

export interface Dataset {
  urn: string;
  name: string;
  platform: string;
  description?: string | null;
  tags: string[];
}

export interface SchemaField {
  name: string;
  type?: string;
  [key: string]: unknown;
}

export interface DatasetDetail {
  dataset: Dataset;
  schema: { name: string; fields: SchemaField[] } | null;
}

export interface Container {
  urn: string;
  name: string;
  datasets: string[];
  sub_containers: string[];
}

export interface SecretName {
  name: string;
  urn: string;
  description?: string | null;
}

export interface Status {
  api_url: string;
  user: string;
  user_id?: string;
  admin: boolean;
}

export interface DeployOptions {
  engine?: string;
  replicas?: number;
  cpu?: number;
  gpu?: number;
  force_cpu?: boolean;
}

export type SnippetKind = 'model' | 'deployment' | 'collection' | 'dataset';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatSummary {
  usage: Record<string, number>;
  ttft: number | null;
  tokens_per_s: number | null;
}

/** An error answered by the extension: the platform's status and message, or why it failed. */
export class WazaError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly source: 'platform' | 'connection' | 'extension' | 'network',
    readonly reason?: string
  ) {
    super(message);
    this.name = 'WazaError';
  }

  /** One line for an error state in a panel. */
  get display(): string {
    const where =
      this.source === 'connection' || this.source === 'network'
        ? 'Cannot reach waza'
        : `Error ${this.status}`;
    return `${where}: ${this.message}`;
  }
}

/** Turn a non-2xx response into a `WazaError` (the JSON body when there is one). */
export async function errorFrom(response: Response): Promise<WazaError> {
  let body: any = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message =
    (body && typeof body.message === 'string' && body.message) ||
    response.statusText ||
    `HTTP ${response.status}`;
  const source = body && body.source ? body.source : 'extension';
  return new WazaError(message, response.status, source, body?.reason ?? undefined);
}

export interface SseEvent {
  event: string;
  data: string;
}

/** Split a server-sent-events text stream (arbitrary chunks) into events. */
export async function* sseEvents(chunks: AsyncIterable<string>): AsyncGenerator<SseEvent> {
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  const flushLine = function* (line: string): Generator<SseEvent> {
    if (line === '') {
      if (data.length) {
        yield { event, data: data.join('\n') };
      }
      event = 'message';
      data = [];
    } else if (line.startsWith('data:')) {
      data.push(line.slice(5).replace(/^ /, ''));
    } else if (line.startsWith('event:')) {
      event = line.slice(6).trim();
    }
  };
  for await (const chunk of chunks) {
    buffer += chunk;
    let index: number;
    while ((index = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, index);
      buffer = buffer.slice(buffer[index] === '\r' ? index + 2 : index + 1);
      yield* flushLine(line);
    }
  }
  if (buffer) {
    yield* flushLine(buffer);
  }
  yield* flushLine('');
}

async function* textChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      yield decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
}

/** How a status (a deployment's, a vector DB's) looks in a badge. */
export type Tone = 'ok' | 'pending' | 'error' | 'stopped';

export function statusTone(status: string): Tone {
  const s = status.toUpperCase();
  if (s === 'DEPLOYED' || s === 'RUNNING') {
    return 'ok'; // RUNNING: a vector DB that answers
  }
  if (s === 'FAILED' || s === 'ERROR') {
    return 'error';
  }
  if (s === 'STOPPED' || s === 'STOPPING' || s === 'UNDEPLOYED') {
    return s === 'STOPPING' ? 'pending' : 'stopped';
  }
  return 'pending';
}

/** Deployments that still run (or are on their way). */
export function isActive(d: Deployment): boolean {
  const tone = statusTone(d.status);
  return tone === 'ok' || (tone === 'pending' && d.status.toUpperCase() !== 'STOPPING');
}

export interface ApiOptions {
  /** The Jupyter server's base URL (ends with `/`). */
  baseUrl: string;
  fetch: FetchLike;
  /** The "API URL override" setting (empty: the server's default platform). */
  apiUrl?: string;
}

/** Every call the panels make. */
export class WazaApi {
  constructor(private options: ApiOptions) {}

  set apiUrl(value: string) {
    this.options = { ...this.options, apiUrl: value };
  }

  url(path: string, query?: Record<string, string | undefined>): string {
    const base = this.options.baseUrl.endsWith('/')
      ? this.options.baseUrl
      : this.options.baseUrl + '/';
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== '') {
        params.set(k, v);
      }
    }
    const qs = params.toString();
    return `${base}waza/${path}${qs ? '?' + qs : ''}`;
  }

  async request<T>(
    method: string,
    path: string,
    options: { query?: Record<string, string | undefined>; body?: unknown; signal?: AbortSignal } = {}
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.options.apiUrl) {
      headers['X-Waza-Api-Url'] = this.options.apiUrl;
    }
    const init: RequestInit = { method, headers, signal: options.signal };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await this.options.fetch(this.url(path, options.query), init);
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') {
        throw err;
      }
      throw new WazaError(String((err as Error)?.message ?? err), 0, 'network');
    }
    if (!response.ok) {
      throw await errorFrom(response);
    }
    return response;
  }

  async json<T>(
    method: string,
    path: string,
    options: { query?: Record<string, string | undefined>; body?: unknown } = {}
  ): Promise<T> {
    const response = await this.request<T>(method, path, options);
    return (await response.json()) as T;
  }

  status(): Promise<Status> {
    return this.json('GET', 'status');
  }

  async models(query = '', hub = false): Promise<{ models: Model[]; errors: string[] }> {
    return this.json('GET', 'models', { query: { q: query, hub: hub ? '1' : undefined } });
  }

  importModel(path: string, name?: string): Promise<Model> {
    return this.json('POST', 'models/import', { body: name ? { path, name } : { path } });
  }

  /** Start importing a Hub repo (all its files unless `files` names some). */
  hubImport(repo: string, files?: string[]): Promise<DownloadStarted> {
    return this.json('POST', 'models/download', { body: files ? { repo, files } : { repo } });
  }

  /** Per-file download state (one model's, or all you may see). */
  downloads(modelId?: string): Promise<FileDownload[]> {
    return this.json('GET', 'models/downloads', { query: { model_id: modelId } });
  }

  /** Cancel a model's running downloads. */
  cancelImport(modelId: string): Promise<{ cancelled_count: number }> {
    return this.json('DELETE', `models/${encodeURIComponent(modelId)}/download`);
  }

  async deploy(modelId: string, options: DeployOptions): Promise<string> {
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) {
      if (v !== undefined && v !== '' && !(typeof v === 'number' && Number.isNaN(v))) {
        body[k] = v;
      }
    }
    const reply = await this.json<{ deployment_id: string }>(
      'POST',
      `models/${encodeURIComponent(modelId)}/deploy`,
      { body }
    );
    return reply.deployment_id;
  }

  /** Deployments you may see; `owners` adds owner names (admins). */
  deployments(owners = false): Promise<Deployment[]> {
    return this.json('GET', 'deployments', { query: { owners: owners ? '1' : undefined } });
  }

  /** Mine only, unless `all` (what the admins' "all users" toggle switches). */
  static visibleDeployments(deps: Deployment[], me: Status | null, all: boolean): Deployment[] {
    if (all || !me?.user_id) {
      return deps;
    }
    return deps.filter(d => d.owner_id === me.user_id);
  }

  deployment(id: string): Promise<Deployment> {
    return this.json('GET', `deployments/${encodeURIComponent(id)}`);
  }

  logs(id: string): Promise<DeploymentLogs> {
    return this.json('GET', `deployments/${encodeURIComponent(id)}/logs`);
  }

  stop(id: string, force = false): Promise<{ stopped: boolean }> {
    return this.json('DELETE', `deployments/${encodeURIComponent(id)}`, {
      query: { force: force ? '1' : undefined }
    });
  }

  /**
   * Stream a chat answer: `onDelta` gets each piece; resolves with the summary
   * (null when stopped through `signal`).
   */
  async chat(
    id: string,
    messages: ChatMessage[],
    onDelta: (piece: string) => void,
    options: { maxTokens?: number; signal?: AbortSignal } = {}
  ): Promise<ChatSummary | null> {
    const response = await this.request('POST', `deployments/${encodeURIComponent(id)}/chat`, {
      body: { messages, max_tokens: options.maxTokens ?? 256 },
      signal: options.signal
    });
    if (!response.body) {
      throw new WazaError('the chat answer has no body', 502, 'extension');
    }
    try {
      for await (const ev of sseEvents(textChunks(response.body))) {
        const data = JSON.parse(ev.data);
        if (ev.event === 'done') {
          return data as ChatSummary;
        }
        if (ev.event === 'error') {
          throw new WazaError(data.message, data.status ?? 502, 'platform');
        }
        if (typeof data.delta === 'string') {
          onDelta(data.delta);
        }
      }
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') {
        return null;
      }
      throw err;
    }
    return null;
  }

  vectorDbs(): Promise<VectorDB[]> {
    return this.json('GET', 'vectordbs');
  }

  collections(dbId: string): Promise<Collection[]> {
    return this.json('GET', `vectordbs/${encodeURIComponent(dbId)}/collections`);
  }

  async search(dbId: string, collection: string, query: string, limit = 5): Promise<SearchHit[]> {
    const reply = await this.json<{ hits: SearchHit[] }>(
      'POST',
      `vectordbs/${encodeURIComponent(dbId)}/search`,
      { body: { collection, query, limit } }
    );
    return reply.hits;
  }

  datasets(query = ''): Promise<Dataset[]> {
    return this.json('GET', 'catalog/datasets', { query: { q: query } });
  }

  dataset(urn: string): Promise<DatasetDetail> {
    return this.json('GET', 'catalog/dataset', { query: { urn } });
  }

  registerDataset(path: string): Promise<{ urn: string }> {
    return this.json('POST', 'catalog/datasets', { body: { path } });
  }

  /** Containers (an admin's view; other users get none rather than an error). */
  async containers(): Promise<Container[]> {
    try {
      return await this.json<Container[]>('GET', 'catalog/containers');
    } catch (err) {
      if (err instanceof WazaError && err.status === 403 && err.source === 'platform') {
        return [];
      }
      throw err;
    }
  }

  secrets(): Promise<SecretName[]> {
    return this.json('GET', 'catalog/secrets');
  }

  async snippet(
    kind: SnippetKind,
    id: string,
    extra: { db?: string; flavor?: 'waza' | 'openai' } = {}
  ): Promise<string> {
    const reply = await this.json<{ code: string }>('GET', 'snippets', {
      query: { kind, id, db: extra.db, flavor: extra.flavor }
    });
    return reply.code;
  }
}
