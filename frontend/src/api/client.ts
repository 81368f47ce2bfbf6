/**
 * The platform's HTTP API through axios, typed by `schema.ts` — generated from the platform's
 * OpenAPI document (`frontend/scripts/openapi.py`), so a route or schema change that the UI
 * does not follow fails `tsc`.
 *
 * Same origin: the session is the `access_token` cookie that `POST /api/auth/token` sets.
 */
import axios, { AxiosError, type AxiosInstance } from 'axios';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The paths that have an operation for `M`. */
export type PathsFor<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][M]>] extends [never] ? never : P;
}[keyof paths];

type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type Content<R> = R extends { content: { 'application/json': infer T } } ? T : unknown;
/** The JSON body of the operation's success answer. */
export type Reply<P extends keyof paths, M extends Method> = Op<P, M> extends {
  responses: infer R;
}
  ? R extends { 200: infer A }
    ? Content<A>
    : R extends { 201: infer A }
      ? Content<A>
      : unknown
  : never;
type Field<O, K extends string> = O extends { parameters: { [key in K]?: infer T } } ? T : never;
type JsonBody<O> = O extends { requestBody?: { content: { 'application/json': infer B } } }
  ? B
  : O extends { requestBody: { content: { 'application/x-www-form-urlencoded': infer B } } }
    ? B
    : never;

/** Path parameters, query parameters and the JSON (or form) body of one operation. */
export type Args<P extends keyof paths, M extends Method> = ([Field<Op<P, M>, 'path'>] extends [
  never | undefined,
]
  ? { path?: undefined }
  : { path: NonNullable<Field<Op<P, M>, 'path'>> }) & {
  query?: [Field<Op<P, M>, 'query'>] extends [never | undefined] ? undefined : Field<Op<P, M>, 'query'>;
  body?: JsonBody<Op<P, M>>;
  form?: boolean;
  signal?: AbortSignal;
};

/** `/api/models/{model_id}` + `{model_id: 'x'}` → `/api/models/x` (each value URL-encoded). */
export function fillPath(template: string, values?: Record<string, unknown>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = values?.[name];
    if (value === undefined || value === null) {
      throw new Error(`missing path parameter ${name} for ${template}`);
    }
    return encodeURIComponent(String(value));
  });
}

export const http: AxiosInstance = axios.create({
  baseURL: '/',
  withCredentials: true,
  timeout: 60_000,
  headers: { Accept: 'application/json' },
  // repeated keys for arrays (`model_ids=a&model_ids=b`), as FastAPI reads them
  paramsSerializer: { indexes: null },
});

/** One typed call: `call('get', '/api/models/{model_id}', {path: {model_id}})`. */
export async function call<M extends Method, P extends PathsFor<M>>(
  method: M,
  path: P,
  args?: Args<P, M>,
): Promise<Reply<P, M>> {
  const a = (args ?? {}) as {
    path?: Record<string, unknown>;
    query?: Record<string, unknown>;
    body?: unknown;
    form?: boolean;
    signal?: AbortSignal;
  };
  const data = a.form && a.body ? new URLSearchParams(a.body as Record<string, string>) : a.body;
  const reply = await http.request({
    method,
    url: fillPath(path as string, a.path),
    params: a.query,
    data,
    signal: a.signal,
  });
  return reply.data as Reply<P, M>;
}

/** The platform's error answer in one line: `Error 403: Admin access required`. */
export function describeError(error: unknown): string {
  if (error instanceof AxiosError) {
    if (!error.response) {
      return error.code === 'ERR_CANCELED' ? 'Cancelled' : `Cannot reach waza: ${error.message}`;
    }
    const { status, data } = error.response;
    return `Error ${status}: ${detailOf(data) ?? error.response.statusText ?? 'request failed'}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The `detail` of a FastAPI error body (a string or a list of validation errors). */
export function detailOf(data: unknown): string | null {
  if (!data || typeof data !== 'object') {
    return typeof data === 'string' && data ? data : null;
  }
  const detail = (data as { detail?: unknown; message?: unknown }).detail ?? (data as { message?: unknown }).message;
  if (typeof detail === 'string') {
    return detail;
  }
  if (Array.isArray(detail)) {
    return detail
      .map(d => {
        const item = d as { loc?: unknown[]; msg?: string };
        const where = (item.loc ?? []).filter(x => x !== 'body').join('.');
        return where ? `${where}: ${item.msg}` : (item.msg ?? JSON.stringify(d));
      })
      .join('; ');
  }
  return null;
}

/** The HTTP status of a failed call (0 without an answer). */
export function statusOf(error: unknown): number {
  return error instanceof AxiosError ? (error.response?.status ?? 0) : 0;
}
