"""The etcd v3 backend.

Client choice: PyPI ``etcd3`` 0.12 cannot be imported with protobuf >= 4 unless
``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python`` is set, which would make every protobuf user in
the process (Ray, pymilvus, grpc) pure-Python and slow. PyPI ``etcdpy`` installs the same
``etcd3`` module and API regenerated for current protobuf, and it is the module JupyterHub's
``TraefikEtcdProxy`` imports, so the hub and the platform share one etcd client.

Quirks of that client handled here: an endpoint that fails once is shunned for 300 s (we build
the endpoint with ``time_retry=0``); a broken watch stream silently drops its watches (we
re-subscribe from the next revision); an expired lease's keep-alive answers TTL 0 instead of
failing (we raise :class:`LeaseExpired`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import grpc
from etcd3 import exceptions as etcd_errors
from etcd3.client import Endpoint, MultiEndpointEtcd3Client
from etcd3.events import DeleteEvent, PutEvent
from etcd3.transactions import Delete
from etcd3.utils import prefix_range_end
from etcd3.watch import WatchResponse

from .base import (
    KVError,
    KVStore,
    KVUnavailable,
    Lease,
    LeaseExpired,
    Watch,
    WatchCallback,
    WatchEvent,
)

log = logging.getLogger(__name__)

_GRPC_OPTIONS = [
    # Reconnect within a second of an etcd restart (gRPC's default back-off reaches 2 min).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Notice dead connections under long-lived watch streams.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]
# UNIMPLEMENTED: something that is not etcd answers at the URL (e.g. a plain HTTP server).
_UNAVAILABLE_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
}
_UNAVAILABLE_ERRORS = (
    etcd_errors.ConnectionFailedError,
    etcd_errors.ConnectionTimeoutError,
    etcd_errors.NoServerAvailableError,
    etcd_errors.WatchTimedOut,
)


def parse_etcd_url(url: str) -> tuple[str, int, bool]:
    """``http(s)://host[:port]`` → ``(host, port, secure)``; the port defaults to 2379."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an etcd URL (expected http://host:port): {url!r}")
    return parts.hostname, parts.port or 2379, parts.scheme == "https"


def _key_range(full_prefix: str) -> tuple[bytes, bytes]:
    """etcd's [start, end) range for a prefix; the empty prefix means every key."""
    if not full_prefix:
        return b"\0", b"\0"
    start = full_prefix.encode()
    return start, prefix_range_end(start)


class EtcdLease(Lease):
    """An etcd lease."""

    def __init__(self, store: EtcdKV, lease_id: int, ttl: int) -> None:
        self._store = store
        self.id = lease_id
        self.ttl = ttl

    def refresh(self) -> None:
        with self._store._errors("refresh lease"):
            responses = list(self._store._client.refresh_lease(self.id))
        if not responses or responses[0].TTL <= 0:
            raise LeaseExpired(f"etcd lease {self.id:x} has expired or was revoked")

    def revoke(self) -> None:
        try:
            with self._store._errors("revoke lease"):
                self._store._client.revoke_lease(self.id)
        except LeaseExpired:
            pass

    def __repr__(self) -> str:
        return f"EtcdLease(id={self.id:x}, ttl={self.ttl})"


class _EtcdWatch(Watch):
    """A prefix watch that re-subscribes from its next revision when the stream breaks."""

    def __init__(self, store: EtcdKV, full_prefix: str, callback: WatchCallback) -> None:
        self._store = store
        self._prefix = full_prefix
        self._start, self._end = _key_range(full_prefix)
        self._callback = callback
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._watcher: Any = None
        self._watch_id: int | None = None
        with store._errors("watch"):
            header = store._client.get_range_response(self._start, self._end, count_only=True)
        self._next_revision = int(header.header.revision) + 1
        self._subscribe()

    def _subscribe(self) -> None:
        with self._store._errors("watch"):
            watcher = self._store._client.watcher
            watch_id = watcher.add_callback(
                self._start,
                self._on_response,
                range_end=self._end,
                start_revision=self._next_revision,
            )
        with self._lock:
            self._watcher, self._watch_id = watcher, watch_id
        if self._cancelled.is_set():  # cancelled while subscribing
            watcher.cancel(watch_id)

    def _on_response(self, response: Any) -> None:
        if isinstance(response, WatchResponse):
            for event in response.events:
                if self._cancelled.is_set():
                    return
                self._next_revision = int(event.mod_revision) + 1
                if isinstance(event, PutEvent):
                    self._deliver(WatchEvent("put", self._key(event), event.value.decode()))
                elif isinstance(event, DeleteEvent):
                    self._deliver(WatchEvent("delete", self._key(event), None))
            return
        # The stream ended (None) or failed (an exception): its watches are gone.
        with self._lock:
            self._watcher = self._watch_id = None
        if isinstance(response, etcd_errors.RevisionCompactedError):
            lost = response.compacted_revision
            log.warning("watch on %r: events before revision %d were compacted", self._prefix, lost)
            self._next_revision = response.compacted_revision
        if not self._cancelled.is_set() and not self._store.closed:
            threading.Thread(
                target=self._resubscribe, name=f"waza-kv-rewatch:{self._prefix}", daemon=True
            ).start()

    def _key(self, event: Any) -> str:
        return self._store._rel(bytes(event.key).decode())

    def _deliver(self, event: WatchEvent) -> None:
        try:
            self._callback(event)
        except Exception:
            log.exception("watch callback for %r failed", self._prefix)

    def _resubscribe(self) -> None:
        delay = 0.1
        while not self._cancelled.wait(delay) and not self._store.closed:
            try:
                self._subscribe()
            except KVError as exc:
                log.debug("watch on %r: re-subscribing failed: %s", self._prefix, exc)
                delay = min(delay * 2, 2.0)
            else:
                log.info("watch on %r resumed at revision %d", self._prefix, self._next_revision)
                return

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            watcher, watch_id = self._watcher, self._watch_id
            self._watcher = self._watch_id = None
        if watcher is not None and watch_id is not None:
            try:
                watcher.cancel(watch_id)
            except Exception as exc:  # the stream may already be gone
                log.debug("cancelling watch on %r: %s", self._prefix, exc)
        self._store._forget(self)


class EtcdKV(KVStore):
    """The etcd backend. Every call times out after ``timeout`` seconds."""

    backend = "etcd"

    def __init__(self, url: str, namespace: str = "", *, timeout: float = 5.0) -> None:
        super().__init__(namespace)
        self.url = url
        host, port, secure = parse_etcd_url(url)
        endpoint = Endpoint(
            host,
            port,
            secure=secure,
            creds=grpc.ssl_channel_credentials() if secure else None,
            time_retry=0,
            opts=_GRPC_OPTIONS,
        )
        self._client = MultiEndpointEtcd3Client(endpoints=[endpoint], timeout=timeout)
        self._lock = threading.Lock()
        self._watches: set[_EtcdWatch] = set()
        self.closed = False

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate client and gRPC errors into :class:`KVError` subclasses."""
        if self.closed:
            raise KVError(f"the etcd store for {self.url} is closed")
        try:
            yield
        except _UNAVAILABLE_ERRORS as exc:
            raise KVUnavailable(f"etcd at {self.url} is unavailable ({action}: {exc})") from exc
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
            if code in _UNAVAILABLE_CODES:
                raise KVUnavailable(
                    f"etcd at {self.url} is unavailable ({action}: {details})"
                ) from exc
            if code == grpc.StatusCode.NOT_FOUND:
                raise LeaseExpired(f"etcd at {self.url}: {action}: {details}") from exc
            raise KVError(f"etcd at {self.url}: {action} failed: {details}") from exc
        except etcd_errors.Etcd3Exception as exc:
            raise KVError(f"etcd at {self.url}: {action} failed: {exc!r}") from exc

    def get(self, key: str) -> str | None:
        self._check_key(key)
        with self._errors("get"):
            value, _ = self._client.get(self._full(key))
        return None if value is None else bytes(value).decode()

    def put(self, key: str, value: str, lease: Lease | None = None) -> None:
        self._check_key(key)
        if not isinstance(value, str):
            raise TypeError(f"value must be a str, got {type(value).__name__}")
        with self._errors("put"):
            self._client.put(self._full(key), value, lease=None if lease is None else lease.id)

    def delete(self, key: str) -> bool:
        self._check_key(key)
        with self._errors("delete"):
            return bool(self._client.delete(self._full(key)))

    def get_prefix(self, prefix: str) -> dict[str, str]:
        start, end = _key_range(self._full(prefix))
        with self._errors("get prefix"):
            response = self._client.get_range_response(start, end, sort_order="ascend")
        return {self._rel(bytes(kv.key).decode()): bytes(kv.value).decode() for kv in response.kvs}

    def delete_prefix(self, prefix: str) -> int:
        start, end = _key_range(self._full(prefix))
        with self._errors("delete prefix"):
            _, responses = self._client.transaction(
                compare=[], success=[Delete(start, range_end=end)], failure=[]
            )
        return int(responses[0].response_delete_range.deleted)

    def lease(self, ttl: int) -> Lease:
        if ttl < 1:
            raise ValueError(f"lease ttl must be at least 1 second, got {ttl}")
        with self._errors("grant lease"):
            granted = self._client.lease(ttl)
        return EtcdLease(self, int(granted.id), int(granted.ttl))

    def watch_prefix(self, prefix: str, callback: WatchCallback) -> Watch:
        watch = _EtcdWatch(self, self._full(prefix), callback)
        with self._lock:
            self._watches.add(watch)
        return watch

    def _forget(self, watch: _EtcdWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.backend,
            "endpoint": self.url,
            "namespace": self.namespace,
        }
        try:
            with self._errors("status"):
                status = self._client.status()
                response = self._client.get_range_response(
                    *_key_range(self.namespace), count_only=True
                )
        except KVError as exc:
            return {**info, "ok": False, "error": str(exc)}
        return {
            **info,
            "ok": True,
            "version": status.version,
            "revision": int(response.header.revision),
        }

    def close(self) -> None:
        if self.closed:
            return
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.cancel()
        self.closed = True
        self._client.close()

    def __repr__(self) -> str:
        return f"EtcdKV({self.url!r}, namespace={self.namespace!r})"
