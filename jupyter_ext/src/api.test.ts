/** Unit tests of the data layer: URLs, bodies, error mapping, SSE parsing, status tones.
 * The HTTP layer is a recording fake (the real server is covered by tests/lab in Python). */
import { describe, expect, it } from 'vitest';

import {
  Deployment,
  FileDownload,
  WazaApi,
  WazaError,
  downloadProgress,
  formatBytes,
  formatEta,
  baseName,
  isActive,
  sseEvents,
  statusTone
} from './api';

type Call = { url: string; init: RequestInit };

function fakeFetch(responses: Array<Response | Error>) {
  const calls: Call[] = [];
  const fetch = async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const next = responses.shift();
    if (!next) {
      throw new Error('no more responses');
    }
    if (next instanceof Error) {
      throw next;
    }
    return next;
  };
  return { calls, fetch };
}

const json = (value: unknown, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json' } });

async function* chunks(parts: string[]): AsyncGenerator<string> {
  for (const part of parts) {
    yield part;
  }
}

describe('WazaApi', () => {
  it('builds URLs under <base>/waza/ with only the set query parameters', async () => {
    const { calls, fetch } = fakeFetch([json({ models: [], errors: [] })]);
    const api = new WazaApi({ baseUrl: '/user/ann', fetch });
    await api.models('tiny');
    expect(calls[0].url).toBe('/user/ann/waza/models?q=tiny');
    expect(calls[0].init.method).toBe('GET');
    expect(api.url('models', { q: '', hub: undefined })).toBe('/user/ann/waza/models');
  });

  it('sends the API URL override as a header and JSON bodies without unset options', async () => {
    const { calls, fetch } = fakeFetch([json({ deployment_id: 'd1' }, 201)]);
    const api = new WazaApi({ baseUrl: '/', fetch, apiUrl: 'http://waza:7777/api' });
    const id = await api.deploy('m/1', { engine: undefined, replicas: 2, gpu: 0.5, cpu: NaN });
    expect(id).toBe('d1');
    expect(calls[0].url).toBe('/waza/models/m%2F1/deploy');
    const headers = calls[0].init.headers as Record<string, string>;
    expect(headers['X-Waza-Api-Url']).toBe('http://waza:7777/api');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ replicas: 2, gpu: 0.5 });
  });

  it('turns error bodies into WazaErrors with the platform status, source and reason', async () => {
    const body = { message: 'not enough CPUs', status: 400, source: 'platform', reason: 'insufficient_cpu' };
    const { fetch } = fakeFetch([json(body, 400)]);
    const api = new WazaApi({ baseUrl: '/', fetch });
    const err = await api.deploy('m', { cpu: 256 }).catch(e => e);
    expect(err).toBeInstanceOf(WazaError);
    expect(err.status).toBe(400);
    expect(err.reason).toBe('insufficient_cpu');
    expect(err.display).toBe('Error 400: not enough CPUs');
  });

  it('reports an unreachable platform or server as a connection error', async () => {
    const down = { message: 'cannot reach the waza platform', status: 502, source: 'connection' };
    const { fetch } = fakeFetch([json(down, 502), new TypeError('Failed to fetch')]);
    const api = new WazaApi({ baseUrl: '/', fetch });
    const first = await api.deployments().catch(e => e);
    expect(first.display).toBe('Cannot reach waza: cannot reach the waza platform');
    const second = await api.vectorDbs().catch(e => e);
    expect(second.source).toBe('network');
    expect(second.status).toBe(0);
  });

  it('falls back on the status text when the error body is not JSON', async () => {
    const { fetch } = fakeFetch([new Response('<html>', { status: 504, statusText: 'Gateway Timeout' })]);
    const err = await new WazaApi({ baseUrl: '/', fetch }).status().catch(e => e);
    expect(err.message).toBe('Gateway Timeout');
    expect(err.source).toBe('extension');
  });

  it('treats a non-admin 403 on containers as no containers, other errors as errors', async () => {
    const forbidden = json({ message: 'Admin privileges required', status: 403, source: 'platform' }, 403);
    const down = json({ message: 'down', status: 502, source: 'connection' }, 502);
    const { fetch } = fakeFetch([forbidden, down]);
    const api = new WazaApi({ baseUrl: '/', fetch });
    expect(await api.containers()).toEqual([]);
    await expect(api.containers()).rejects.toBeInstanceOf(WazaError);
  });

  it('streams chat pieces and returns the summary', async () => {
    const sse =
      'data: {"delta": "Hel"}\n\ndata: {"delta": "lo"}\n\n' +
      'event: done\ndata: {"usage": {"completion_tokens": 2}, "ttft": 0.1, "tokens_per_s": 20}\n\n';
    const { calls, fetch } = fakeFetch([new Response(sse, { status: 200 })]);
    const pieces: string[] = [];
    const summary = await new WazaApi({ baseUrl: '/', fetch }).chat(
      'd1',
      [{ role: 'user', content: 'hi' }],
      p => pieces.push(p),
      { maxTokens: 8 }
    );
    expect(pieces.join('')).toBe('Hello');
    expect(summary?.usage.completion_tokens).toBe(2);
    expect(JSON.parse(String(calls[0].init.body))).toEqual({
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8
    });
  });

  it('raises an error event of the chat stream', async () => {
    const sse = 'data: {"delta": "a"}\n\nevent: error\ndata: {"message": "runtime died", "status": 502}\n\n';
    const { fetch } = fakeFetch([new Response(sse, { status: 200 })]);
    const err = await new WazaApi({ baseUrl: '/', fetch })
      .chat('d1', [{ role: 'user', content: 'hi' }], () => undefined)
      .catch(e => e);
    expect(err.message).toBe('runtime died');
  });
});

describe('sseEvents', () => {
  it('reassembles events split across chunks, CRLF lines and multi-line data', async () => {
    const events = [];
    for await (const ev of sseEvents(chunks(['data: a\r', '\ndata: b\n', '\nevent: done\nda', 'ta: {}\n\n', 'data: tail']))) {
      events.push(ev);
    }
    expect(events).toEqual([
      { event: 'message', data: 'a\nb' },
      { event: 'done', data: '{}' },
      { event: 'message', data: 'tail' }
    ]);
  });
});

describe('status tones', () => {
  it('maps deployment statuses to badges', () => {
    expect(statusTone('DEPLOYED')).toBe('ok');
    expect(statusTone('DEPLOYING')).toBe('pending');
    expect(statusTone('REQUESTED')).toBe('pending');
    expect(statusTone('FAILED')).toBe('error');
    expect(statusTone('STOPPED')).toBe('stopped');
    expect(statusTone('STOPPING')).toBe('pending');
    expect(statusTone('RUNNING')).toBe('ok'); // a vector DB's
  });

  it('counts deploying and deployed as active, stopping and stopped not', () => {
    const dep = (status: string) => ({ status }) as any;
    expect(isActive(dep('DEPLOYED'))).toBe(true);
    expect(isActive(dep('DEPLOYING'))).toBe(true);
    expect(isActive(dep('STOPPING'))).toBe(false);
    expect(isActive(dep('FAILED'))).toBe(false);
  });
});

describe('Hub import', () => {
  const file = (over: Partial<FileDownload>): FileDownload => ({
    id: 'f',
    m_id: 'm1',
    name: 'w.bin',
    download: true,
    is_downloading: true,
    ...over
  });

  it('starts, polls one model and cancels through the extension', async () => {
    const { calls, fetch } = fakeFetch([
      json({ result: true, message: '', model_id: 'm1', files: ['f'], already_downloaded: [], in_progress: [] }, 202),
      json([file({ downloaded_bytes: 5, size: 10 })]),
      json({ cancelled_count: 1 })
    ]);
    const api = new WazaApi({ baseUrl: '/', fetch });
    expect((await api.hubImport('org/name')).model_id).toBe('m1');
    expect(calls[0].url).toBe('/waza/models/download');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ repo: 'org/name' });
    expect(await api.downloads('m1')).toHaveLength(1);
    expect(calls[1].url).toBe('/waza/models/downloads?model_id=m1');
    expect((await api.cancelImport('m/1')).cancelled_count).toBe(1);
    expect(calls[2].url).toBe('/waza/models/m%2F1/download');
    expect(calls[2].init.method).toBe('DELETE');
  });

  it('sums bytes, speed and the longest ETA over the running files', () => {
    const p = downloadProgress([
      file({ downloaded_bytes: 300, size: 1000, download_speed: 100, download_eta: 7 }),
      file({ downloaded_bytes: 200, size: 1000, download_speed: 50, download_eta: 16 }),
      file({ is_downloading: false, downloaded_bytes: null, size: 48 })
    ]);
    expect(p).toMatchObject({ bytes: 548, total: 2048, speed: 150, eta: 16, state: 'downloading' });
    expect(p.fraction).toBeCloseTo(548 / 2048);
  });

  it('tells done, failed and cancelled apart; unknown sizes have no fraction', () => {
    expect(downloadProgress([file({ is_downloading: false, size: 10 })])).toMatchObject({
      state: 'done', fraction: 1, eta: 0, bytes: 10
    });
    expect(
      downloadProgress([file({ is_downloading: false, download: false, download_error: 'HTTP 500' })])
    ).toMatchObject({ state: 'failed', error: 'HTTP 500', eta: null });
    expect(
      downloadProgress([file({ is_downloading: false, download: false, download_cancelled_at: 't' })])
        .state
    ).toBe('cancelled');
    expect(downloadProgress([file({ downloaded_bytes: 3, download_eta: null })])).toMatchObject({
      fraction: null, eta: null
    });
  });

  it('formats sizes and ETAs', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB');
    expect(formatEta(65)).toBe('1:05');
    expect(formatEta(3725)).toBe('1:02:05');
  });
});

describe('Deployments of all users (admins)', () => {
  const dep = (id: string, owner: string) =>
    ({ id, owner_id: owner, status: 'DEPLOYED' }) as unknown as Deployment;
  const me = { api_url: '', user: 'ann', user_id: 'u-ann', admin: true };

  it('shows mine unless all users are asked for', () => {
    const deps = [dep('a', 'u-ann'), dep('b', 'u-bob')];
    expect(WazaApi.visibleDeployments(deps, me, false).map(d => d.id)).toEqual(['a']);
    expect(WazaApi.visibleDeployments(deps, me, true).map(d => d.id)).toEqual(['a', 'b']);
    expect(WazaApi.visibleDeployments(deps, null, false)).toHaveLength(2);
  });

  it('asks for owner names only in the all-users view', async () => {
    const { calls, fetch } = fakeFetch([json([]), json([])]);
    const api = new WazaApi({ baseUrl: '/', fetch });
    await api.deployments();
    await api.deployments(true);
    expect(calls.map(c => c.url)).toEqual(['/waza/deployments', '/waza/deployments?owners=1']);
  });
});

describe('baseName', () => {
  it('keeps the last part of a path or URL', () => {
    expect(baseName('/home/alice/data/sales.csv')).toBe('sales.csv');
    expect(baseName('s3://bucket/folder/')).toBe('folder');
    expect(baseName('plain')).toBe('plain');
  });
});
