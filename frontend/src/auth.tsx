/** Who is signed in: the platform session (cookie), the user's name and roles. */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { call, http, statusOf, type Schemas } from './api/client';
import './api/session'; // renews the session once on 401 before anything below sees it

export type User = Schemas['UserInfo'];

interface AuthState {
  /** undefined while the first check runs; null when nobody is signed in */
  user: User | null | undefined;
  /** why the last session ended ("Your session expired"), for the sign-in page */
  notice: string | null;
  signIn(username: string, password: string): Promise<void>;
  signOut(): Promise<void>;
}

export const EXPIRED = 'Your session has ended. Sign in again to continue where you left off.';

const AuthContext = createContext<AuthState | null>(null);

// The session cookie is httpOnly, so the page cannot see it. This flag says a sign-in happened
// in this browser: without it the UI shows the sign-in page at once instead of asking the API
// (whose 401 the browser would log as a console error on every first visit).
const SIGNED_IN = 'waza-ui-signed-in';

function remember(on: boolean) {
  try {
    if (on) {
      localStorage.setItem(SIGNED_IN, '1');
    } else {
      localStorage.removeItem(SIGNED_IN);
    }
  } catch {
    // storage unavailable: every visit asks the API
  }
}

function maybeSignedIn(): boolean {
  try {
    return localStorage.getItem(SIGNED_IN) !== null;
  } catch {
    return true;
  }
}

export function isAdmin(user: User | null | undefined): boolean {
  return Boolean(user && (user.is_admin || (user.roles ?? []).includes('admin')));
}

export function AuthProvider({ children }: { children: ReactNode }) {
  // nobody signed in on this browser: the sign-in page at once, without asking the API
  const [user, setUser] = useState<User | null | undefined>(() => (maybeSignedIn() ? undefined : null));
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    if (maybeSignedIn()) {
      void call('get', '/api/auth/users/me')
        .then(me => live && setUser(me))
        .catch(error => {
          remember(false);
          if (live) {
            setNotice(statusOf(error) === 401 ? EXPIRED : null);
            setUser(null);
          }
        });
    }
    // a 401 that renewing the session could not cure (session revoked, signed out elsewhere,
    // refresh token expired) sends the user back to the sign-in page, which then returns them
    // to the page they were on
    const id = http.interceptors.response.use(undefined, error => {
      if (statusOf(error) === 401 && !String(error.config?.url ?? '').endsWith('/auth/token')) {
        remember(false);
        setUser(current => {
          if (current) {
            setNotice(EXPIRED);
          }
          return null;
        });
      }
      return Promise.reject(error);
    });
    return () => {
      live = false;
      http.interceptors.response.eject(id);
    };
  }, []);

  const signIn = useCallback(async (username: string, password: string) => {
    await call('post', '/api/auth/token', {
      body: { username, password, grant_type: 'password', client_id: 'waza-webui' },
      form: true,
    });
    const me = await call('get', '/api/auth/users/me');
    remember(true);
    setNotice(null);
    setUser(me);
  }, []);

  const signOut = useCallback(async () => {
    try {
      await call('post', '/api/auth/logout', {});
    } finally {
      remember(false);
      setNotice(null);
      setUser(null);
    }
  }, []);

  const value = useMemo(() => ({ user, notice, signIn, signOut }), [user, notice, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) {
    throw new Error('useAuth outside AuthProvider');
  }
  return state;
}

/** A fixed identity for component tests. */
export function StaticAuth({ user, children }: { user: User | null; children: ReactNode }) {
  const value = useMemo<AuthState>(
    () => ({ user, notice: null, signIn: async () => undefined, signOut: async () => undefined }),
    [user],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
