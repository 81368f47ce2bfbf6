import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, useLocation } from 'react-router-dom';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../App';
import { AuthProvider, EXPIRED } from '../auth';
import { ADMIN, fakeApi, type FakeApi } from '../test/fakeApi';

let api: FakeApi | null = null;
afterEach(() => {
  api?.restore();
  localStorage.clear();
});

function Where() {
  const location = useLocation();
  return <output data-testid="where">{location.pathname + location.search}</output>;
}

function renderApp(at = '/models') {
  return render(
    <MemoryRouter initialEntries={[at]}>
      <AuthProvider>
        <App />
        <Where />
      </AuthProvider>
    </MemoryRouter>,
  );
}

describe('sign-in', () => {
  it('asks nothing of the API on a first visit, signs in with the form, then signs out', async () => {
    let signedIn = false;
    api = fakeApi({
      'POST /api/auth/token': () => {
        signedIn = true;
        return { data: { access_token: 't', token_type: 'bearer', expires_in: 3600 } };
      },
      'GET /api/auth/users/me': () => (signedIn ? { data: ADMIN } : { status: 401, data: { detail: 'Not authenticated' } }),
      'GET /api/models/': { data: [] },
      'POST /api/auth/logout': { data: { message: 'ok' } },
    });
    renderApp();
    expect(await screen.findByRole('heading', { name: 'Sign in to waza' })).toBeInTheDocument();
    expect(api.requests).toHaveLength(0); // no 401 in the console on a first visit

    await userEvent.type(screen.getByLabelText(/Username/), 'admin');
    await userEvent.type(screen.getByLabelText(/Password/), 'secret{Enter}');
    expect(await screen.findByTestId('user-name')).toHaveTextContent('Ada Admin');
    expect(String(api.requests[0].data)).toContain('username=admin');
    expect(await screen.findByText('No models yet: import one.')).toBeInTheDocument();
    expect(localStorage.getItem('waza-ui-signed-in')).toBe('1');

    await userEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { name: 'Sign in to waza' })).toBeInTheDocument();
    expect(localStorage.getItem('waza-ui-signed-in')).toBeNull();
  });

  it('shows why a sign-in failed', async () => {
    api = fakeApi({ 'POST /api/auth/token': { status: 401, data: { detail: 'Invalid credentials' } } });
    renderApp();
    await userEvent.type(await screen.findByLabelText(/Username/), 'admin');
    await userEvent.type(screen.getByLabelText(/Password/), 'wrong');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Error 401: Invalid credentials');
  });

  it('keeps an expired session going by renewing it', async () => {
    localStorage.setItem('waza-ui-signed-in', '1');
    let calls = 0;
    api = fakeApi({
      'GET /api/auth/users/me': { data: ADMIN },
      'GET /api/models/': () => (calls++ === 0 ? { status: 401, data: { detail: 'Token expired' } } : { data: [] }),
      'POST /api/auth/refresh': { data: { access_token: 'new', token_type: 'bearer', expires_in: 3600 } },
    });
    renderApp();
    expect(await screen.findByText('No models yet: import one.')).toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Sign in to waza' })).toBeNull();
  });

  it('when the session cannot be renewed, signs in again and returns to the page', async () => {
    localStorage.setItem('waza-ui-signed-in', '1');
    let signedIn = true;
    api = fakeApi({
      'GET /api/auth/users/me': () => (signedIn ? { data: ADMIN } : { status: 401, data: { detail: 'Not authenticated' } }),
      'GET /api/serving/deployments': () => (signedIn ? { data: [] } : { status: 401, data: { detail: 'Token expired' } }),
      'POST /api/auth/refresh': { status: 401, data: { detail: 'invalid_grant' } },
      'POST /api/auth/token': () => {
        signedIn = true;
        return { data: { access_token: 't', token_type: 'bearer', expires_in: 3600 } };
      },
    });
    signedIn = false; // e.g. signed out in another tab
    renderApp('/deployments?all=1');
    expect(await screen.findByText(EXPIRED)).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText(/Username/), 'admin');
    await userEvent.type(screen.getByLabelText(/Password/), 'secret{Enter}');
    await waitFor(() => expect(screen.getByTestId('where')).toHaveTextContent('/deployments?all=1'));
    expect(await screen.findByTestId('user-name')).toHaveTextContent('Ada Admin');
  });
});
