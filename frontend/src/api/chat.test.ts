import { describe, expect, it } from 'vitest';
import { ChatError, chatUrl, streamChat } from './chat';

function sse(chunks: string[], delayMs = 2): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const chunk of chunks) {
        await new Promise(r => setTimeout(r, delayMs));
        controller.enqueue(encoder.encode(chunk));
      }
      controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

const delta = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

describe('streamChat', () => {
  it('streams deltas split at any byte and counts tokens', async () => {
    const stream = delta('Hel') + delta('lo') + delta(' there') + `data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: 'stop' }], usage: { completion_tokens: 3 } })}\n\ndata: [DONE]\n\n`;
    const pieces = [stream.slice(0, 7), stream.slice(7, 40), stream.slice(40, 41), stream.slice(41)];
    const seen: string[] = [];
    let request: { url: string; body: any } | null = null;
    const result = await streamChat(
      'dep 1',
      [{ role: 'user', content: 'hi' }],
      { temperature: 0.2, max_tokens: 8 },
      text => seen.push(text),
      undefined,
      async (url, init) => {
        request = { url, body: JSON.parse(String(init.body)) };
        return sse(pieces);
      },
    );
    expect(request!.url).toBe(chatUrl('dep 1'));
    expect(request!.url).toBe('/runtime/models/dep%201/v1/chat/completions');
    expect(request!.body).toMatchObject({ stream: true, temperature: 0.2, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    expect(seen).toEqual(['Hel', 'Hello', 'Hello there']);
    expect(result.text).toBe('Hello there');
    expect(result.tokens).toBe(3);
    expect(result.finishReason).toBe('stop');
    expect(result.tokensPerSecond).toBeGreaterThan(0);
    expect(result.stopped).toBe(false);
  });

  it('turns an error answer into a ChatError with the detail', async () => {
    const reply = new Response(JSON.stringify({ detail: 'Deployment not found' }), { status: 404 });
    await expect(streamChat('x', [], {}, () => undefined, undefined, async () => reply)).rejects.toEqual(new ChatError('Error 404: Deployment not found', 404));
  });

  it('stops when aborted and keeps what arrived', async () => {
    const controller = new AbortController();
    const fetchImpl = async (_url: string, init: RequestInit) => {
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(encoder.encode(delta('partial')));
          init.signal?.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
        },
      });
      return new Response(body, { status: 200 });
    };
    const seen: string[] = [];
    const done = streamChat('x', [], {}, text => {
      seen.push(text);
      controller.abort();
    }, controller.signal, fetchImpl);
    const result = await done;
    expect(result.stopped).toBe(true);
    expect(result.text).toBe('partial');
  });
});
