import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StaticAuth, type User } from '../auth';
import { ALICE, fakeApi, type FakeApi } from '../test/fakeApi';
import Chat from './Chat';

let api: FakeApi | null = null;
afterEach(() => {
  api?.restore();
  vi.unstubAllGlobals();
});

const DEPLOYED = { id: 'd1', m_id: 'm1', m_name: 'tiny-chat', status: 'DEPLOYED', engine_name: 'transformers', requested_at: '2026-01-01T00:00:00Z', owner_id: ALICE.sub, starting_copies: 1 };

function sse(pieces: string[]): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      for (const piece of pieces) {
        await new Promise(r => setTimeout(r, 5));
        c.enqueue(encoder.encode(`data: ${JSON.stringify({ choices: [{ delta: { content: piece } }] })}\n\n`));
      }
      c.enqueue(encoder.encode('data: [DONE]\n\n'));
      c.close();
    },
  });
  return new Response(body, { status: 200 });
}

describe('chat playground', () => {
  it('streams the answer with the system prompt and shows tok/s', async () => {
    api = fakeApi({ 'GET /api/serving/deployments': { data: [DEPLOYED] } });
    const fetchMock = vi.fn(async () => sse(['Hello', ' from', ' tiny']));
    vi.stubGlobal('fetch', fetchMock);
    render(
      <MemoryRouter initialEntries={['/chat?deployment=d1']}>
        <StaticAuth user={ALICE as User}>
          <Chat />
        </StaticAuth>
      </MemoryRouter>,
    );
    const box = await screen.findByLabelText('Message', { selector: 'textarea' });
    await userEvent.type(box, 'Say something{Enter}');
    expect(await screen.findByText(/tok\/s/)).toBeInTheDocument();
    expect(screen.getByText('Hello from tiny')).toBeInTheDocument();
    expect(screen.getByText('Say something')).toBeInTheDocument();
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/runtime/models/d1/v1/chat/completions');
    expect(JSON.parse(String(init.body)).messages[0]).toEqual({ role: 'system', content: 'You are a helpful assistant.' });
  });

  it('says when nothing is deployed', async () => {
    api = fakeApi({ 'GET /api/serving/deployments': { data: [{ ...DEPLOYED, status: 'FAILED' }] } });
    render(
      <MemoryRouter initialEntries={['/chat']}>
        <Chat />
      </MemoryRouter>,
    );
    expect(await screen.findByText(/No deployed model/)).toBeInTheDocument();
  });
});
