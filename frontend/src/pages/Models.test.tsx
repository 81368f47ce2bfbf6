import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, describe, expect, it } from 'vitest';
import { StaticAuth, type User } from '../auth';
import { ALICE, fakeApi, type FakeApi } from '../test/fakeApi';
import Models from './Models';

let api: FakeApi | null = null;
afterEach(() => api?.restore());

const FILE = { id: 'f1', m_id: 'm9', name: 'weights.bin', download: true, is_downloading: true, size: 4096, downloaded_bytes: 1024 };

describe('hub import', () => {
  it('follows the download and cancels it', async () => {
    let cancelled = false;
    api = fakeApi({
      'GET /api/models/': { data: [] },
      'POST /api/models/download/': { data: { result: true, message: 'ok', model_id: 'm9', files: ['f1'] } },
      'GET /api/model_files/download_status/': () => ({
        data: [cancelled ? { ...FILE, is_downloading: false, download: false, download_cancelled_at: '2026-01-01T00:00:00Z' } : FILE],
      }),
      'DELETE /api/model_files/downloads/cancel_all': () => {
        cancelled = true;
        return { data: { result: true, message: 'Cancelled 1 download(s)', total_downloads: 1, cancelled_count: 1, failed_count: 0 } };
      },
    });
    render(
      <MemoryRouter>
        <StaticAuth user={ALICE as User}>
          <Models />
        </StaticAuth>
      </MemoryRouter>,
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Import' }));
    const dialog = screen.getByRole('dialog');
    await userEvent.click(within(dialog).getByRole('tab', { name: 'Hugging Face Hub' }));
    await userEvent.type(within(dialog).getByLabelText(/Repository/), 'org/big');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Import' }));

    expect(await within(dialog).findByText('1.0 KB of 4.0 KB — downloading')).toBeInTheDocument();
    expect(within(dialog).getByRole('progressbar', { name: 'Download progress' })).toHaveAttribute('aria-valuenow', '25');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel download' }));
    expect(await within(dialog).findByText(/— cancelled/, undefined, { timeout: 3000 })).toBeInTheDocument();
    expect(within(dialog).queryByRole('button', { name: 'Cancel download' })).toBeNull();
    const cancel = api.requests.find(r => r.method === 'delete');
    expect(cancel?.params).toEqual({ model_id: 'm9' });
  });
});
