/**
 * Keeping the browser session alive. The platform login sets two httpOnly cookies: the access
 * token (1 h by default) and the refresh token, sent only to `/api/auth/...`. When a call is
 * refused with 401, the session is renewed once (`POST /api/auth/refresh`, which rotates both
 * cookies) and the call replayed; only when that fails does the UI go back to sign-in.
 *
 * The platform treats a refresh token presented twice as stolen and ends the session, so the
 * renewal is single-flight: every call refused at the same moment waits on one refresh, and
 * tabs take a Web Lock in turn — a tab that finds another one already renewed the session
 * (after its call was sent) just replays.
 */
import { AxiosHeaders, type AxiosError, type InternalAxiosRequestConfig } from 'axios';
import { http, statusOf } from './client';

declare module 'axios' {
  interface AxiosRequestConfig {
    /** when the call was sent (ms since the epoch) */
    wazaSentAt?: number;
    /** a replay after a renewal: never renewed again */
    wazaRetried?: boolean;
  }
}

/** Calls whose 401 means what it says (wrong password, refresh refused, already signed out). */
const NO_RENEWAL = /\/api\/auth\/(token|refresh|logout)$/;
const RENEWED_AT = 'waza-ui-renewed-at';
const LOCK = 'waza-ui-session-renewal';

let inFlight: Promise<boolean> | null = null;

function renewedAt(): number {
  try {
    return Number(localStorage.getItem(RENEWED_AT) ?? 0);
  } catch {
    return 0;
  }
}

function markRenewed() {
  try {
    localStorage.setItem(RENEWED_AT, String(Date.now()));
  } catch {
    // storage unavailable: tabs cannot tell each other, the lock still orders them
  }
}

async function exclusive<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  return locks ? locks.request(LOCK, work) : work();
}

/**
 * Renew the session from its refresh cookie; true when it worked. `since`: when the refused
 * call was sent — if the session was renewed after that (another tab, or a renewal that ended
 * while the call was on its way), the call is just replayed.
 */
export function renewSession(since = 0): Promise<boolean> {
  inFlight ??= exclusive(async () => {
    if (renewedAt() > since) {
      return true;
    }
    try {
      await http.post('/api/auth/refresh', undefined, { wazaRetried: true });
      markRenewed();
      return true;
    } catch {
      return false;
    }
  }).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

/** The `axios` interceptors: stamp each call, renew once on 401 and replay it. */
export function keepSessionAlive(instance = http): () => void {
  const request = instance.interceptors.request.use(config => {
    config.wazaSentAt ??= Date.now();
    return config;
  });
  const response = instance.interceptors.response.use(undefined, async (error: AxiosError) => {
    const config = error.config as InternalAxiosRequestConfig | undefined;
    if (statusOf(error) !== 401 || !config || config.wazaRetried || NO_RENEWAL.test(config.url ?? '')) {
      throw error;
    }
    if (!(await renewSession(config.wazaSentAt ?? 0))) {
      throw error;
    }
    return instance.request({ ...config, headers: AxiosHeaders.from(config.headers), wazaRetried: true });
  });
  return () => {
    instance.interceptors.request.eject(request);
    instance.interceptors.response.eject(response);
  };
}

keepSessionAlive();
