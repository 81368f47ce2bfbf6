import { AxiosError, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeApi, type FakeApi } from '../test/fakeApi';
import { call, describeError, detailOf, fillPath, statusOf } from './client';

let api: FakeApi | null = null;
afterEach(() => api?.restore());

function failed(status: number, data: unknown): AxiosError {
  const config = { headers: {} } as InternalAxiosRequestConfig;
  const response = { status, data, statusText: 'x', headers: {}, config } as AxiosResponse;
  return new AxiosError('failed', 'ERR_BAD_RESPONSE', config, null, response);
}

describe('fillPath', () => {
  it('fills and encodes path parameters', () => {
    expect(fillPath('/api/models/{model_id}/configs', { model_id: 'a b/c' })).toBe('/api/models/a%20b%2Fc/configs');
  });
  it('refuses a missing parameter', () => {
    expect(() => fillPath('/api/models/{model_id}', {})).toThrow(/model_id/);
  });
});

describe('errors', () => {
  it('reads a FastAPI detail string', () => {
    expect(describeError(failed(403, { detail: 'Admin access required' }))).toBe('Error 403: Admin access required');
    expect(statusOf(failed(403, {}))).toBe(403);
  });
  it('joins validation errors with their field', () => {
    const detail = [{ loc: ['body', 'name'], msg: 'Field required' }, { loc: ['query', 'limit'], msg: 'too big' }];
    expect(detailOf({ detail })).toBe('name: Field required; query.limit: too big');
  });
  it('says when the platform cannot be reached', () => {
    const error = new AxiosError('Network Error', 'ERR_NETWORK');
    expect(describeError(error)).toBe('Cannot reach waza: Network Error');
    expect(statusOf(error)).toBe(0);
  });
});

describe('call', () => {
  it('sends path, query and JSON body to the typed route', async () => {
    api = fakeApi({ 'POST /api/context/vectordbs/db%201/query': { data: { results: [], collection_name: 'c', vectordb_id: 'db 1' } } });
    const reply = await call('post', '/api/context/vectordbs/{vectordb_id}/query', {
      path: { vectordb_id: 'db 1' },
      body: { collection_name: 'c', vectors: [[0.1, 0.2]], limit: 3 },
    });
    expect(reply.collection_name).toBe('c');
    expect(JSON.parse(api.requests[0].data)).toEqual({ collection_name: 'c', vectors: [[0.1, 0.2]], limit: 3 });
  });
  it('form-encodes the login and repeats array query keys', async () => {
    api = fakeApi({
      'POST /api/auth/token': { data: { access_token: 't', token_type: 'bearer', expires_in: 60 } },
      'GET /api/model_files/download_status/': { data: [] },
    });
    await call('post', '/api/auth/token', { body: { username: 'a', password: 'b c' }, form: true });
    expect(String(api.requests[0].data)).toBe('username=a&password=b+c');
    await call('get', '/api/model_files/download_status/', { query: { model_ids: ['x', 'y'] } });
    expect(api.requests[1].params).toEqual({ model_ids: ['x', 'y'] });
  });
});
