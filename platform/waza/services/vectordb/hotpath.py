"""A shortcut past FastAPI's routing for the platform's hottest call: vector search.

`SearchHotPath` is an ASGI middleware inside `RequestContextMiddleware` (so the request id,
body limit, ``Server-Timing``, security headers and access log all still apply). It answers
``POST /api/context/vectordbs/{id}/query`` itself when the call is the common, valid case:

* a bearer token the token cache already knows (any scope: search changes nothing),
* an ``application/json`` body that the route's own schema (`schemas.QueryVectors`) accepts.

It then runs the route's own function (`api.search`) in the thread pool and sends the answer
as the route would; a platform error becomes the same ``{"detail": ...}`` answer. Anything
else — no token or one not cached yet, another content type, a body that does not validate —
goes on to FastAPI with the body replayed, so every refusal is FastAPI's own answer.

What it saves per search: FastAPI's routing (nested route matching, done twice), dependency
solving, the request objects and four middleware layers — ~0.7 ms of server time on a 2-core
machine (`docs/performance.md`, vector search).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from waza.errors import WazaError
from waza.gateway.context import WazaContext
from waza.gateway.fastjson import ModelResponse
from waza.gateway.middleware import replaying, route_path
from waza.services.vectordb import schemas
from waza.services.vectordb.api import search

SEARCH_PATH = re.compile(r"/api/context/vectordbs/([0-9a-fA-F-]{32,36})/query")


class SearchHotPath:
    """Answers valid vector searches by cached tokens directly; passes everything else on."""

    def __init__(self, app: ASGIApp, ctx: WazaContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            SEARCH_PATH.fullmatch(route_path(scope))
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        principal = self._cached_caller(scope) if match else None
        if match is None or principal is None:
            await self.app(scope, receive, send)
            return
        body, receive = await _read_body(receive)
        query = _valid_query(body)
        try:
            vectordb_id = uuid.UUID(match.group(1))
        except ValueError:
            query = None
        if query is None:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["read_only"] = True  # the audit log skips reads
        response: Response
        try:
            result = await run_in_threadpool(search, self.ctx, principal, vectordb_id, query)
        except WazaError as exc:
            response = JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        else:
            response = ModelResponse(result)
        await response(scope, receive, send)

    def _cached_caller(self, scope: Scope) -> Any:
        """The principal of a JSON call's bearer token if the token cache knows it, else None."""
        token = content_type = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                token = token.strip() if scheme.lower() == "bearer" else ""
            elif name == b"content-type":
                content_type = value.decode("latin-1").partition(";")[0].strip().lower()
        if not token or content_type != "application/json":
            return None
        return self.ctx.auth.cached(token)


def _valid_query(body: bytes) -> schemas.QueryVectors | None:
    """The body as the route reads it (pydantic's parser, then the standard library's), or
    None when the route would refuse it."""
    try:
        try:
            data = from_json(body)
        except ValueError:
            data = json.loads(body)
        return schemas.QueryVectors.model_validate(data)
    except (ValueError, ValidationError):  # includes json.JSONDecodeError
        return None


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a receive callable that hands it out again first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, replaying(body, receive)
