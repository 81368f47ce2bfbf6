"""A lean lane for plain JSON calls: kept-alive `http.client` connections instead of httpx.

httpx builds request and response models, merges URLs and runs h11 for every call; that is
~0.6 ms of client CPU per call on a 2-core machine once the caches are cold (measured in
`benchmarks/vectors.py`), against ~0.1 ms for the standard library's `http.client`. Calls
that are hot and simple — a JSON body or none, query parameters, a plain ``http://`` platform
URL with no proxy configured — take this lane; everything else (streams, uploads, forms,
``https``, proxies, a custom httpx transport, per-call timeouts) stays on httpx. Bodies and
query strings are encoded exactly as httpx encodes them.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

import waza

LANE_KWARGS = frozenset({"json", "content", "params", "headers"})
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
SAFE_PATH = re.compile(r"[A-Za-z0-9/_.~-]*")  # what httpx would send unchanged
MAX_IDLE = 8
USER_AGENT = f"waza-client/{waza.__version__}"


class Reply:
    """The parts of an answer the client reads (the same names as on `httpx.Response`)."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(self, status_code: int, reason: str, headers: Any, content: bytes) -> None:
        self.status_code = status_code
        self.reason_phrase = reason
        self.headers = headers  # an `http.client.HTTPMessage`: case-insensitive `get`
        self.content = content

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Lane:
    """Thread-safe keep-alive connections to one ``http://host:port/prefix`` platform URL."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/") + "/"
        self.host_header = parts.netloc
        self.timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @classmethod
    def for_url(cls, base_url: str, timeout: float) -> Lane | None:
        """A lane when `base_url` is plain http and no proxy is configured; else None."""
        if urlsplit(base_url).scheme != "http" or any(os.environ.get(v) for v in PROXY_VARIABLES):
            return None
        return cls(base_url, timeout)

    @staticmethod
    def accepts(path: str, kwargs: Mapping[str, Any]) -> bool:
        """Whether a call with these arguments may take the lane."""
        return (
            kwargs.keys() <= LANE_KWARGS
            and isinstance(kwargs.get("content", b""), bytes | str)
            and SAFE_PATH.fullmatch(path) is not None
        )

    def request(
        self, method: str, path: str, headers: Mapping[str, str], kwargs: Mapping[str, Any]
    ) -> Reply:
        """Send one call and read the whole answer; transport failures raise httpx's errors."""
        target = self.prefix + path
        if kwargs.get("params"):
            target += ("&" if "?" in target else "?") + str(httpx.QueryParams(kwargs["params"]))
        body: bytes | None = None
        send_headers = {"Host": self.host_header, "Accept": "*/*", "User-Agent": USER_AGENT}
        if "json" in kwargs:
            body = json.dumps(
                kwargs["json"], ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
            send_headers["Content-Type"] = "application/json"
        elif kwargs.get("content") is not None:
            content = kwargs["content"]
            body = content.encode() if isinstance(content, str) else bytes(content)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            send_headers["Content-Length"] = str(len(body or b""))
        send_headers.update(headers)
        send_headers.update(kwargs.get("headers") or {})
        connection = self._take()
        try:
            connection.request(method, target, body=body, headers=send_headers)
            answer = connection.getresponse()
            reply = Reply(answer.status, answer.reason, answer.headers, answer.read())
        except TimeoutError as exc:
            connection.close()
            raise httpx.TimeoutException(str(exc) or "timed out") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise httpx.TransportError(str(exc) or type(exc).__name__) from exc
        if answer.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return reply

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if _still_open(connection):
                    return connection
                connection.close()
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """False when the server closed an idle connection (readable at EOF) — as httpcore checks."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
