"""The client's lean lane (`waza.client.lane`): plain JSON calls over kept-alive `http.client`
connections must put the same request on the wire as httpx, survive connections the server
closed, map failures like httpx, and be safe across threads.

The server here is the standard library's HTTP/1.1 server recording what it receives (a real
socket and parser, not a mock), so a call through the lane and the same call through httpx can
be compared byte for byte.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from waza.client.base import Transport
from waza.client.errors import ConnectionFailed, NotFoundError, RateLimited
from waza.client.lane import Lane


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]
    connections: set[tuple[str, int]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "body": body,
                "type": self.headers.get("Content-Type"),
                "auth": self.headers.get("Authorization"),
                "peer": self.client_address,
            }
        )
        self.connections.add(self.client_address)
        status, payload, extra = 200, {"ok": True, "path": self.path}, {}
        if self.path.startswith("/api/missing"):
            status, payload = 404, {"detail": "No such thing"}
            extra = {"X-Request-ID": "req-1"}
        elif self.path.startswith("/api/busy"):
            status, payload, extra = 429, {"detail": "Slow down"}, {"Retry-After": "7"}
        elif self.path.startswith("/api/empty"):
            status, payload = 204, None
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **extra}.items():
            self.send_header(name, value)
        self.send_header("Server-Timing", "app;dur=0.10")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.path.startswith("/api/drop"):
            # close without saying so: the client holds a connection the server has closed
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, Any]], set[tuple[str, int]]]]:
    handler = type("Handler", (Recorder,), {"seen": [], "connections": set()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.seen, handler.connections
    finally:
        httpd.shutdown()
        httpd.server_close()


CALLS = [
    ("GET", "models/", {"params": {"limit": 5, "shared": True, "off": False, "tag": ["a", "b"]}}),
    ("POST", "context/vectordbs/x/query", {"json": {"name": "café ☕", "vectors": [[0.5, 1e-7]]}}),
    ("POST", "items", {"content": b'{"a":1}', "headers": {"Content-Type": "application/json"}}),
    ("PUT", "items/1", {"json": [1, "two", None]}),
    ("DELETE", "items/1", {"params": {"force": True}}),
    ("POST", "auth/token", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), CALLS)
def test_lane_sends_what_httpx_sends(server, method: str, path: str, kwargs: dict) -> None:
    url, seen, _ = server
    lean = Transport(url, "tok-1")
    plain = Transport(url, "tok-1", transport=httpx.HTTPTransport())  # httpx only
    assert lean._lane is not None and plain._lane is None
    assert lean.json(method, path, **dict(kwargs)) == plain.json(method, path, **dict(kwargs))
    through_lane, through_httpx = seen
    for key in ("method", "path", "body", "type", "auth"):
        assert through_lane[key] == through_httpx[key], key
    assert through_lane["auth"] == "Bearer tok-1"
    lean.close()
    plain.close()


def test_lane_keeps_connections_and_replaces_closed_ones(server) -> None:
    url, _, connections = server
    transport = Transport(url, "tok")
    for _ in range(5):
        assert transport.json("GET", "ping")["ok"] is True
    assert len(connections) == 1  # one kept-alive connection for five calls
    transport.json("GET", "drop")  # the server closes this connection after answering
    assert transport.json("GET", "ping")["path"] == "/api/ping"
    assert len(connections) == 2
    transport.close()


def test_lane_errors_read_like_httpx_errors(server) -> None:
    url, _, _ = server
    transport = Transport(url, "tok")
    with pytest.raises(NotFoundError) as missing:
        transport.json("GET", "missing")
    assert missing.value.detail == "No such thing" and missing.value.request_id == "req-1"
    with pytest.raises(RateLimited) as busy:
        transport.json("POST", "busy", json={})
    assert busy.value.retry_after == 7
    assert transport.json("DELETE", "empty") is None
    replies: list[tuple[int, str]] = []
    transport.on_reply = lambda status, headers: replies.append(
        (status, headers.get("server-timing"))
    )
    transport.json("GET", "ping")
    assert replies == [(200, "app;dur=0.10")]
    transport.close()


def test_lane_reports_an_unreachable_platform_as_connection_failed(server) -> None:
    url, _, _ = server
    port = int(url.rsplit(":", 1)[1])
    transport = Transport(f"http://127.0.0.1:{port}", "tok")
    transport.json("GET", "ping")
    dead = Transport("http://127.0.0.1:9", "tok")  # nothing listens on the discard port
    with pytest.raises(ConnectionFailed, match="cannot reach the waza platform"):
        dead.json("GET", "ping")
    with pytest.raises(ValueError):  # as httpx: JSON has no NaN
        transport.json("POST", "items", json={"x": float("nan")})
    transport.close()


def test_lane_is_safe_across_threads(server) -> None:
    url, seen, connections = server
    transport = Transport(url, "tok")

    def call(n: int) -> str:
        return str(transport.json("GET", f"items/{n}", params={"n": n})["path"])

    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(call, range(64)))
    assert paths == [f"/api/items/{n}?n={n}" for n in range(64)]
    assert len(seen) == 64 and len(connections) <= 64
    transport.close()


def test_only_plain_calls_take_the_lane(server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _, _ = server
    assert Lane.for_url("https://platform.example/api", 5) is None  # TLS stays on httpx
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert Lane.for_url(url + "/api", 5) is None  # so does anything behind a proxy
    monkeypatch.delenv("HTTP_PROXY")
    assert Lane.accepts("context/vectordbs/1/query", {"json": {}, "params": {"a": 1}})
    assert not Lane.accepts("uploads", {"files": {"f": b"x"}})
    assert not Lane.accepts("items", {"content": iter([b"x"])})
    assert not Lane.accepts("items", {"json": {}, "timeout": 3})
    assert not Lane.accepts("catalog/datasets/v2/urn:li:dataset:(x,y z,PROD)", {})
