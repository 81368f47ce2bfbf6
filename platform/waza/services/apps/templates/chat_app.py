"""Built-in garden app `waza-chat`: a browser chat over one model deployment.

Run by the process runtime with uvicorn behind the app's route (the prefix is stripped; the
root path is set). It reads ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` (set by the platform for
the chosen deployment and this app's own token), ``CHAT_SYSTEM_PROMPT`` and ``CHAT_MAX_TOKENS``.
``POST chat`` streams the answer as plain text, token by token, from the OpenAI endpoint.
"""

from __future__ import annotations

import html
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

app = FastAPI(title="waza chat", docs_url=None, redoc_url=None, openapi_url=None)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>waza chat</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
#log div{white-space:pre-wrap;margin:.5rem 0}.user{color:#345}.bot{color:#111}
textarea{width:100%;height:4rem}</style></head><body>
<h1>Chat</h1><p id="who">Signed in as <b>__USER__</b> · model deployment <code>__DEP__</code></p>
<div id="log"></div>
<textarea id="prompt" placeholder="Ask something"></textarea>
<button id="send">Send</button> <span id="state"></span>
<script>
const history = [];
async function send() {
  const box = document.getElementById("prompt"), text = box.value.trim();
  if (!text) return;
  box.value = ""; history.push({role: "user", content: text});
  const log = document.getElementById("log");
  const q = document.createElement("div"); q.className = "user"; q.textContent = "You: " + text;
  const a = document.createElement("div"); a.className = "bot answer";
  log.append(q, a);
  document.getElementById("state").textContent = "streaming…";
  const reply = await fetch("chat", {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify({messages: history})});
  const reader = reply.body.getReader(), decoder = new TextDecoder();
  let answer = "";
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    answer += decoder.decode(value, {stream: true}); a.textContent = answer;
  }
  history.push({role: "assistant", content: answer});
  document.getElementById("state").textContent = reply.ok ? "done" : "error " + reply.status;
}
document.getElementById("send").onclick = send;
</script></body></html>"""


class ChatRequest(BaseModel):
    messages: list[dict[str, str]] = Field(min_length=1, max_length=200)


def _client() -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=os.environ.get("OPENAI_BASE_URL", ""),
        api_key=os.environ.get("OPENAI_API_KEY", "none"),
        timeout=120,
    )


@app.get("/", response_class=HTMLResponse)
async def page(request: Request) -> str:
    user = html.escape(request.headers.get("x-waza-user", "?"))
    dep = html.escape(os.environ.get("WAZA_MODEL_DEPLOYMENT_ID", "?"))
    return PAGE.replace("__USER__", user).replace("__DEP__", dep)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/whoami")
async def whoami(request: Request) -> dict[str, Any]:
    """Who the platform says is calling, and whether any platform credential reached the app."""
    cookies = request.cookies
    leaked = bool(request.headers.get("authorization")) or any(
        k == "access_token" or k.startswith(("waza_app_", "jupyterhub-")) for k in cookies
    )
    return {
        "user": request.headers.get("x-waza-user"),
        "user_id": request.headers.get("x-waza-user-id"),
        "roles": request.headers.get("x-waza-roles"),
        "credentials_forwarded": leaked,
    }


@app.post("/chat")
async def chat(body: ChatRequest) -> StreamingResponse:
    system = os.environ.get("CHAT_SYSTEM_PROMPT", "").strip()
    messages: list[Any] = [{"role": "system", "content": system}] if system else []
    messages += [
        {"role": m.get("role", "user"), "content": m.get("content", "")} for m in body.messages
    ]
    max_tokens = int(os.environ.get("CHAT_MAX_TOKENS", "256") or 256)

    async def tokens() -> AsyncIterator[str]:
        client = _client()
        try:
            stream = await client.chat.completions.create(
                model="waza", messages=messages, max_tokens=max_tokens, stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as exc:  # shown in the page instead of a broken stream
            yield f"\n[error: {exc}]"
        finally:
            await client.close()

    return StreamingResponse(tokens(), media_type="text/plain; charset=utf-8")
