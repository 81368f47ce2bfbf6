import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../App';
import { AuthProvider } from '../auth';
import { ADMIN, fakeApi, type FakeApi } from '../test/fakeApi';

let api: FakeApi | null = null;
afterEach(() => {
  api?.restore();
  localStorage.clear();
});

function renderApp() {
  return render(
    <MemoryRouter initialEntries={['/models']}>
      <AuthProvider>
        <App />
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

  it('goes back to the sign-in page when the session has ended', async () => {
    localStorage.setItem('waza-ui-signed-in', '1');
    let calls = 0;
    api = fakeApi({
      'GET /api/auth/users/me': { data: ADMIN },
      'GET /api/models/': () => (calls++ === 0 ? { status: 401, data: { detail: 'Token expired' } } : { data: [] }),
    });
    renderApp();
    expect(await screen.findByText('Your session ended: sign in again.')).toBeInTheDocument();
  });
});
