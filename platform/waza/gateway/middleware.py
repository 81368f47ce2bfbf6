"""One pure-ASGI middleware for what every request needs: a request id, a body-size limit, an
access log line, an audit record of every mutating call, a Server-Timing header
(`waza.gateway.timing`) and security headers (`security_headers`).

The audit row is written before the last byte of the response leaves, so a client that reads the
activity log right after a call sees that call.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waza.gateway import timing
from waza.gateway.logging import get_logger

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = get_logger("waza.access")

AuditSink = Callable[[dict[str, Any]], None]


class RequestContextMiddleware:
    """Request ids, body limit, access log and audit, in one pass."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        audit: Callable[[], AuditSink | None] | None = None,
        upload_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.audit = audit
        self.upload_limits = upload_limits or {}  # path → its own limit (file uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        too_large = await self._check_body(scope, headers, receive, send, request_id)
        if too_large is None:
            return
        receive = too_large

        started = time.perf_counter()
        timings = timing.begin()
        status = {"code": 500}
        audited = scope["method"] in MUTATING and route_path(scope).startswith("/api/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                    (b"server-timing", timing.header(timings, time.perf_counter() - started)),
                    *security_headers(message["headers"]),
                ]
            elif (
                message["type"] == "http.response.body"
                and not message.get("more_body", False)
                and audited
                and not scope["state"].get("read_only")
            ):
                await self._record(scope, status["code"], request_id, headers)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            principal = scope["state"].get("principal")
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status["code"],
                ms=round((time.perf_counter() - started) * 1000, 2),
                request_id=request_id,
                user=getattr(principal, "username", None),
            )

    async def _check_body(
        self, scope: Scope, headers: dict[str, str], receive: Receive, send: Send, rid: str
    ) -> Receive | None:
        """Refuse bodies over the limit with 413; returns the receive callable to use, or None.

        Upload routes (`upload_limits`) stream their body to disk: only a declared length over
        their own limit is refused here, and nothing is buffered.
        """
        length = headers.get("content-length")
        upload_limit = self.upload_limits.get(scope["path"])
        if upload_limit is not None:
            if length is not None and length.isdigit() and int(length) > upload_limit:
                await _reject(send, 413, rid, upload_limit)
                return None
            return receive
        if length is not None:
            if length.isdigit() and int(length) <= self.max_body_bytes:
                return receive
            await _reject(send, 413 if length.isdigit() else 400, rid, self.max_body_bytes)
            return None
        if scope["method"] not in MUTATING:
            return receive
        # Chunked upload without a length: buffer up to the limit, then replay.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _reject(send, 413, rid, self.max_body_bytes)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return replaying(b"".join(chunks), receive)

    async def _record(
        self, scope: Scope, status: int, request_id: str, headers: dict[str, str]
    ) -> None:
        sink = self.audit() if self.audit else None
        if sink is None:
            return
        route = scope.get("route")
        path = route_path(scope)
        template = getattr(route, "path", None) or path
        if not template.startswith("/api/"):
            template = "/api" + template
        params = scope.get("path_params") or {}
        principal = scope["state"].get("principal")
        entry = {
            "user_id": str(principal.user_id) if principal else None,
            "username": getattr(principal, "username", None),
            "module": _module_of(path),
            "apicall": template,
            "action": scope["method"],
            "object_id": next(iter(params.values()), None) if params else None,
            "status_code": status,
            "request_id": request_id,
            "client_ip": (scope.get("client") or ("?",))[0],
        }
        try:
            await anyio.to_thread.run_sync(sink, entry)
        except Exception:  # the audit must never break the call it records
            log.exception("audit write failed", request_id=request_id)


_ALWAYS = ((b"x-content-type-options", b"nosniff"),)
_HTML = (
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


def security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers to add: no MIME sniffing anywhere; HTML pages not framed by other sites and not
    leaking paths in the Referer. A header the route already set is left as it is."""
    present = {name.lower() for name, _ in headers}
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    wanted = _ALWAYS + (_HTML if content_type.startswith(b"text/html") else ())
    return [(name, value) for name, value in wanted if name not in present]


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive callable that hands out an already read ``body`` first, then defers to
    ``receive`` (for a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def route_path(scope: Scope) -> str:
    """The path the routes see: without the ``root_path`` a service prefix arrives as
    (``/services/waza/api/...`` under the hub is ``/api/...`` here)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _module_of(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[1] if len(parts) > 1 and parts[0] == "api" else (parts[0] if parts else "")


async def _reject(send: Send, status: int, request_id: str, limit: int) -> None:
    detail = (
        f"Request body too large (limit {limit} bytes)"
        if status == 413
        else "Invalid Content-Length header"
    )
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
