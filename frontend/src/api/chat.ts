/**
 * Streamed chat against a deployment's OpenAI-compatible endpoint
 * (`/runtime/models/{id}/v1/chat/completions`, `stream: true`): fetch + server-sent events
 * (parsed by `eventsource-parser`), so the answer shows token by token and can be stopped.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { renewSession } from './session';

/** One `data:` event of an OpenAI-compatible stream (the fields read here). */
interface StreamChunk {
  error?: string | { message?: string };
  usage?: { completion_tokens?: number | null };
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatParams {
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
}

export interface ChatResult {
  text: string;
  /** completion tokens (the server's usage when sent, else one per streamed delta) */
  tokens: number;
  /** seconds to the first token */
  ttft: number | null;
  /** completion tokens per second after the first one */
  tokensPerSecond: number | null;
  finishReason: string | null;
  stopped: boolean;
}

export class ChatError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export function chatUrl(deploymentId: string): string {
  return `/runtime/models/${encodeURIComponent(deploymentId)}/v1/chat/completions`;
}

/**
 * Send the conversation; `onDelta(text so far)` after each token. Abort through `signal`
 * (Stop): the promise then resolves with `stopped: true` and what had arrived.
 */
export async function streamChat(
  deploymentId: string,
  messages: ChatMessage[],
  params: ChatParams,
  onDelta: (text: string) => void,
  signal?: AbortSignal,
  fetchImpl: FetchLike = (input, init) => fetch(input, init),
): Promise<ChatResult> {
  const started = performance.now();
  let first: number | null = null;
  let last = started;
  let text = '';
  let deltas = 0;
  let usageTokens: number | null = null;
  let finishReason: string | null = null;
  let failure: string | null = null;

  const onEvent = (event: EventSourceMessage) => {
    if (event.data === '[DONE]') {
      return;
    }
    let chunk: StreamChunk;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      return;
    }
    if (chunk.error) {
      failure = typeof chunk.error === 'string' ? chunk.error : (chunk.error.message ?? JSON.stringify(chunk.error));
      return;
    }
    if (chunk.usage?.completion_tokens != null) {
      usageTokens = chunk.usage.completion_tokens;
    }
    const choice = chunk.choices?.[0];
    if (choice?.finish_reason) {
      finishReason = choice.finish_reason;
    }
    const piece = choice?.delta?.content;
    if (piece) {
      const now = performance.now();
      first ??= now;
      last = now;
      deltas += 1;
      text += piece;
      onDelta(text);
    }
  };

  let stopped = false;
  try {
    const sentAt = Date.now();
    const send = () => fetchImpl(chatUrl(deploymentId), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({
        model: 'any',
        messages,
        stream: true,
        stream_options: { include_usage: true },
        ...params,
      }),
      signal,
    });
    let response = await send();
    if (response.status === 401 && (await renewSession(sentAt))) {
      response = await send(); // the session expired and was renewed: once more
    }
    if (!response.ok || !response.body) {
      let detail = response.statusText || `HTTP ${response.status}`;
      try {
        const body = await response.json();
        detail = body?.detail ?? body?.error?.message ?? detail;
      } catch {
        // not JSON: keep the status text
      }
      throw new ChatError(`Error ${response.status}: ${detail}`, response.status);
    }
    const parser = createParser({ onEvent });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      parser.feed(value);
    }
  } catch (error) {
    if (signal?.aborted) {
      stopped = true;
    } else {
      throw error;
    }
  }
  if (failure) {
    throw new ChatError(failure, 500);
  }
  const tokens = usageTokens ?? deltas;
  const span = first === null ? 0 : (last - first) / 1000;
  return {
    text,
    tokens,
    ttft: first === null ? null : (first - started) / 1000,
    tokensPerSecond: tokens > 1 && span > 0 ? (tokens - 1) / span : null,
    finishReason,
    stopped,
  };
}
