import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from './App';
import { StaticAuth, type User } from './auth';
import { ADMIN, ALICE, fakeApi, type FakeApi } from './test/fakeApi';
import { WazaTheme } from './theme';

let api: FakeApi | null = null;
afterEach(() => api?.restore());

const MODELS = [
  { id: 'm1', name: 'tiny-chat', purpose: 'chat', source: 'local', m_files: [{ name: 'model.safetensors' }] },
  { id: 'm2', name: 'all-MiniLM-L6-v2', purpose: 'embedding', hub: 'hf', m_files: [] },
];

function renderAt(path: string, user: User | null) {
  return render(
    <WazaTheme>
      <MemoryRouter initialEntries={[path]}>
        <StaticAuth user={user}>
          <App />
        </StaticAuth>
      </MemoryRouter>
    </WazaTheme>,
  );
}

describe('the shell', () => {
  it('shows the name and role, and the Admin page to admins', async () => {
    api = fakeApi({ 'GET /api/models/': { data: MODELS } });
    renderAt('/models', ADMIN as User);
    expect(screen.getByTestId('user-name')).toHaveTextContent('Ada Admin');
    expect(screen.getByTestId('user-role')).toHaveTextContent('admin');
    const nav = screen.getByRole('navigation', { name: 'Pages' });
    expect(within(nav).getByRole('link', { name: 'Admin' })).toBeInTheDocument();
    expect(await screen.findByRole('link', { name: 'tiny-chat' }, { timeout: 10_000 })).toHaveAttribute('href', '/models/m1');
  });

  it('hides Admin from a normal user and refuses the page', async () => {
    renderAt('/admin', ALICE as User);
    expect(screen.getByTestId('user-role')).toHaveTextContent('user');
    const nav = screen.getByRole('navigation', { name: 'Pages' });
    expect(within(nav).queryByRole('link', { name: 'Admin' })).toBeNull();
    expect(within(nav).getByRole('link', { name: 'Models' })).toBeInTheDocument();
    expect(await screen.findByText(/Admin pages are for administrators/)).toBeInTheDocument();
  });

  it('sends a signed-out visitor to the sign-in page', () => {
    renderAt('/deployments', null);
    expect(screen.getByRole('heading', { name: 'Sign in to waza' })).toBeInTheDocument();
    expect(screen.queryByRole('navigation')).toBeNull();
  });

  it('filters the model list as you type, with an empty state', async () => {
    api = fakeApi({ 'GET /api/models/': { data: MODELS } });
    renderAt('/models', ALICE as User);
    await screen.findByRole('link', { name: 'tiny-chat' }, { timeout: 10_000 });
    const search = screen.getByLabelText('Search models');
    await userEvent.type(search, 'minilm');
    expect(screen.queryByRole('link', { name: 'tiny-chat' })).toBeNull();
    expect(screen.getByRole('link', { name: 'all-MiniLM-L6-v2' })).toBeInTheDocument();
    await userEvent.clear(search);
    await userEvent.type(search, 'nothing-like-this');
    expect(screen.getByText(/No model matches/)).toBeInTheDocument();
  });

  it('shows the API error with a retry', async () => {
    api = fakeApi({ 'GET /api/serving/deployments': { status: 503, data: { detail: 'Ray is not reachable' } } });
    renderAt('/deployments', ALICE as User);
    expect(await screen.findByText('Error 503: Ray is not reachable')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Retry' })).toBeInTheDocument();
  });

  it('lists deployments with their error code and reason', async () => {
    api = fakeApi({
      'GET /api/serving/deployments': {
        data: [
          { id: 'd1', m_id: 'm1', m_name: 'big-model', status: 'FAILED', engine_name: 'vllm', requested_at: '2026-01-01T00:00:00Z', owner_id: ALICE.sub, starting_copies: 1, last_error_code: 'INSUFFICIENT_RESOURCES', last_error_message: 'needs 1 GPU, the cluster has 0' },
        ],
      },
    });
    renderAt('/deployments', ALICE as User);
    await userEvent.click(await screen.findByRole('button', { name: 'Show stopped' }));
    expect(await screen.findByText('INSUFFICIENT_RESOURCES: needs 1 GPU, the cluster has 0')).toBeInTheDocument();
    expect(screen.getByText('FAILED')).toBeInTheDocument();
  });
});
