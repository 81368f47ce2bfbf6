/** A chat panel in the main area: streamed tokens from a deployment, with a stop button. */
import { ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import { ChatMessage, ChatSummary, Deployment, WazaApi, WazaError } from './api';

function Chat(props: { api: WazaApi; deployment: Deployment }): JSX.Element {
  const [messages, setMessages] = React.useState<ChatMessage[]>([]);
  const [draft, setDraft] = React.useState('');
  const [streaming, setStreaming] = React.useState<AbortController | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [summary, setSummary] = React.useState<ChatSummary | null>(null);

  const send = async () => {
    const text = draft.trim();
    if (!text || streaming) {
      return;
    }
    const history: ChatMessage[] = [...messages, { role: 'user', content: text }];
    setMessages([...history, { role: 'assistant', content: '' }]);
    setDraft('');
    setError(null);
    const controller = new AbortController();
    setStreaming(controller);
    try {
      const result = await props.api.chat(
        props.deployment.id,
        history,
        piece =>
          setMessages(current => {
            const last = current[current.length - 1];
            return [...current.slice(0, -1), { ...last, content: last.content + piece }];
          }),
        { signal: controller.signal }
      );
      setSummary(result);
    } catch (err) {
      setError(err instanceof WazaError ? err.display : String(err));
    }
    setStreaming(null);
  };

  return (
    <div className="waza-chat">
      <div className="waza-chat-header">
        Chat with <b>{props.deployment.m_name}</b>
        {summary && summary.tokens_per_s !== null && (
          <span className="waza-item-meta">
            {' '}
            · {summary.usage.completion_tokens ?? '?'} tokens · {summary.tokens_per_s.toFixed(1)}{' '}
            tok/s
          </span>
        )}
      </div>
      <div className="waza-chat-log" aria-live="polite">
        {!messages.length && <div className="waza-empty">Say something to the model.</div>}
        {messages.map((m, i) => (
          <div key={i} className={`waza-msg waza-msg-${m.role}`}>
            {m.content}
          </div>
        ))}
        {error && (
          <div className="waza-error" role="alert">
            {error}
          </div>
        )}
      </div>
      <form
        className="waza-chat-input"
        onSubmit={e => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          className="jp-mod-styled"
          aria-label="Message"
          value={draft}
          rows={2}
          onChange={e => setDraft(e.target.value)}
          onKeyDown={e => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void send();
            }
          }}
        />
        {streaming ? (
          <button type="button" className="jp-Button jp-mod-warn" onClick={() => streaming.abort()}>
            Stop
          </button>
        ) : (
          <button type="submit" className="jp-Button jp-mod-accept">
            Send
          </button>
        )}
      </form>
    </div>
  );
}

export class ChatPanel extends ReactWidget {
  constructor(
    private api: WazaApi,
    private deployment: Deployment
  ) {
    super();
    this.id = `waza-chat-${deployment.id}`;
    this.title.label = `Chat: ${deployment.m_name}`;
    this.title.closable = true;
    this.addClass('waza-chat-panel');
  }

  protected render(): JSX.Element {
    return <Chat api={this.api} deployment={this.deployment} />;
  }
}

function Logs(props: { api: WazaApi; deployment: Deployment }): JSX.Element {
  const [lines, setLines] = React.useState<string[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const load = async () => {
    try {
      setLines((await props.api.logs(props.deployment.id)).logs);
      setError(null);
    } catch (err) {
      setError(err instanceof WazaError ? err.display : String(err));
    }
  };
  React.useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), 3000);
    return () => window.clearInterval(timer);
  }, []);
  return (
    <div className="waza-logs">
      {error && (
        <div className="waza-error" role="alert">
          {error}
        </div>
      )}
      {lines === null && !error && <div className="waza-loading">Loading…</div>}
      {lines !== null && !lines.length && <div className="waza-empty">No log lines yet</div>}
      {lines !== null && lines.length > 0 && <pre>{lines.join('\n')}</pre>}
    </div>
  );
}

export class LogsPanel extends ReactWidget {
  constructor(
    private api: WazaApi,
    private deployment: Deployment
  ) {
    super();
    this.id = `waza-logs-${deployment.id}`;
    this.title.label = `Logs: ${deployment.m_name}`;
    this.title.closable = true;
    this.addClass('waza-logs-panel');
  }

  protected render(): JSX.Element {
    return <Logs api={this.api} deployment={this.deployment} />;
  }
}
