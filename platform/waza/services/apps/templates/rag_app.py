"""Built-in garden app `waza-rag`: questions answered from a vector collection.

Reads ``COLLECTION`` (required), ``WAZA_MODEL_DEPLOYMENT_ID`` (optional: a chat deployment that
writes the answer), ``RAG_TOP_K``, and reaches the platform API at ``WAZA_API_URL`` with the
app's own token ``WAZA_API_KEY`` (``POST /ingestion/rag/query``).
"""

from __future__ import annotations

import html
import os
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

app = FastAPI(title="waza rag", docs_url=None, redoc_url=None, openapi_url=None)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Ask your documents</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
.src{font-size:.85rem;color:#555;white-space:pre-wrap;margin:.3rem 0}</style></head><body>
<h1>Ask <code>__COLLECTION__</code></h1><p>Signed in as <b>__USER__</b></p>
<input id="question" size="60" placeholder="Your question"> <button id="ask">Ask</button>
<div id="answer"></div><div id="sources"></div>
<script>
document.getElementById("ask").onclick = async () => {
  const q = document.getElementById("question").value.trim(); if (!q) return;
  document.getElementById("answer").textContent = "…";
  const r = await fetch("ask", {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify({question: q})});
  const data = await r.json();
  document.getElementById("answer").textContent =
    r.ok ? (data.answer || "(no answer model: nearest passages below)") : data.detail;
  const box = document.getElementById("sources"); box.textContent = "";
  for (const p of (data.results || [])) {
    const d = document.createElement("div"); d.className = "src";
    d.textContent = `[${p.filename || p.source || "?"} @${p.offset ?? "?"}] ${p.text}`;
    box.append(d);
  }
};
</script></body></html>"""


class Ask(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


@app.get("/", response_class=HTMLResponse)
async def page(request: Request) -> str:
    user = html.escape(request.headers.get("x-waza-user", "?"))
    collection = html.escape(os.environ.get("COLLECTION", ""))
    return PAGE.replace("__USER__", user).replace("__COLLECTION__", collection)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/ask")
async def ask(body: Ask) -> dict[str, Any]:
    query: dict[str, Any] = {
        "collection": os.environ.get("COLLECTION", ""),
        "question": body.question,
        "top_k": int(os.environ.get("RAG_TOP_K", "4") or 4),
    }
    if os.environ.get("WAZA_MODEL_DEPLOYMENT_ID"):
        query["deployment_id"] = os.environ["WAZA_MODEL_DEPLOYMENT_ID"]
    async with httpx.AsyncClient(timeout=120) as http:
        reply = await http.post(
            os.environ.get("WAZA_API_URL", "").rstrip("/") + "/ingestion/rag/query",
            json=query,
            headers={"Authorization": f"Bearer {os.environ.get('WAZA_API_KEY', '')}"},
        )
    if reply.status_code != 200:
        detail = reply.json().get("detail") if reply.content else reply.text
        raise HTTPException(reply.status_code, detail=detail)
    result: dict[str, Any] = reply.json()
    return result
