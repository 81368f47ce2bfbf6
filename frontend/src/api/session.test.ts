import { afterEach, describe, expect, it } from 'vitest';
import { fakeApi, type FakeApi } from '../test/fakeApi';
import { streamChat } from './chat';
import { call, statusOf } from './client';
import './session';

let api: FakeApi | null = null;
afterEach(() => {
  api?.restore();
  localStorage.clear();
});

const count = (name: string) => api!.requests.filter(r => `${r.method?.toUpperCase()} ${r.url}` === name).length;

/** A platform whose access cookie has expired: models refuse until the session is renewed. */
function expiredSession(refresh: { status?: number; data: unknown } | (() => { status?: number; data: unknown })) {
  let renewed = false;
  api = fakeApi({
    'GET /api/models/': () => (renewed ? { data: [{ id: 'm1' }] } : { status: 401, data: { detail: 'Token expired' } }),
    'POST /api/auth/refresh': () => {
      const answer = typeof refresh === 'function' ? refresh() : refresh;
      renewed = (answer.status ?? 200) === 200;
      return answer;
    },
  });
}

describe('session renewal', () => {
  it('renews once on 401 and replays the call', async () => {
    expiredSession({ data: { access_token: 'new', token_type: 'bearer' } });
    expect(await call('get', '/api/models/')).toEqual([{ id: 'm1' }]);
    expect(count('POST /api/auth/refresh')).toBe(1);
    expect(count('GET /api/models/')).toBe(2);
  });

  it('renews once for every call refused at the same moment', async () => {
    expiredSession({ data: { access_token: 'new', token_type: 'bearer' } });
    const replies = await Promise.all([call('get', '/api/models/'), call('get', '/api/models/'), call('get', '/api/models/')]);
    expect(replies).toHaveLength(3);
    // a refresh token presented twice ends the session on the platform: only one renewal
    expect(count('POST /api/auth/refresh')).toBe(1);
  });

  it('gives the 401 back when the session cannot be renewed, without looping', async () => {
    expiredSession({ status: 401, data: { detail: 'invalid_grant' } });
    const error = await call('get', '/api/models/').catch(e => e);
    expect(statusOf(error)).toBe(401);
    expect(count('POST /api/auth/refresh')).toBe(1);
    expect(count('GET /api/models/')).toBe(1);
  });

  it('does not renew for a wrong password', async () => {
    api = fakeApi({ 'POST /api/auth/token': { status: 401, data: { detail: 'Invalid credentials' } } });
    const error = await call('post', '/api/auth/token', { body: { username: 'a', password: 'b' }, form: true }).catch(e => e);
    expect(statusOf(error)).toBe(401);
    expect(api.requests).toHaveLength(1);
  });

  it('only replays when another tab renewed the session after the call was sent', async () => {
    let renewedElsewhere = false;
    api = fakeApi({
      'GET /api/models/': () => {
        if (renewedElsewhere) {
          return { data: [] };
        }
        renewedElsewhere = true;
        localStorage.setItem('waza-ui-renewed-at', String(Date.now() + 1)); // the other tab's mark
        return { status: 401, data: { detail: 'Token expired' } };
      },
    });
    expect(await call('get', '/api/models/')).toEqual([]);
    expect(count('POST /api/auth/refresh')).toBe(0);
  });

  it('renews the session for a chat stream too', async () => {
    expiredSession({ data: { access_token: 'new', token_type: 'bearer' } });
    let posts = 0;
    const result = await streamChat('d1', [{ role: 'user', content: 'hi' }], {}, () => undefined, undefined, async () => {
      posts += 1;
      if (posts === 1) {
        return new Response(JSON.stringify({ detail: 'Token expired' }), { status: 401 });
      }
      return new Response('data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n', {
        status: 200,
        headers: { 'Content-Type': 'text/event-stream' },
      });
    });
    expect(result.text).toBe('ok');
    expect(posts).toBe(2);
    expect(count('POST /api/auth/refresh')).toBe(1);
  });
});
