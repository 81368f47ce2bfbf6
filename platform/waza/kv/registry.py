"""Service discovery: live instances announce themselves at ``services/<name>/<instance_id>``.

A registration holds its key under a lease that a daemon thread keeps alive every ``ttl / 3``
seconds; when the process dies the key disappears within ``ttl``. Watch
``services/<name>/`` with :meth:`KVStore.watch_prefix` to follow instances coming and going.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from .base import KVError, KVStore, Lease, LeaseExpired

log = logging.getLogger(__name__)

SERVICES_PREFIX = "services/"


def _check_segment(kind: str, value: str) -> None:
    if not value or "/" in value:
        raise ValueError(f"{kind} must be non-empty and contain no '/': {value!r}")


def service_key(name: str, instance_id: str) -> str:
    """The key (relative to the store's namespace) that an instance registers under."""
    _check_segment("service name", name)
    _check_segment("instance id", instance_id)
    return f"{SERVICES_PREFIX}{name}/{instance_id}"


class ServiceRegistration:
    """Keeps ``info`` (JSON) registered for one service instance while started."""

    def __init__(
        self, kv: KVStore, name: str, instance_id: str, info: Mapping[str, Any], ttl: int = 15
    ) -> None:
        if ttl < 2:
            raise ValueError(f"ttl must be at least 2 seconds, got {ttl}")
        self.kv = kv
        self.key = service_key(name, instance_id)
        self.value = json.dumps(dict(info), sort_keys=True)
        self.ttl = ttl
        self._lease: Lease | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease(self) -> Lease | None:
        """The current lease (it changes when a lost lease is re-created)."""
        return self._lease

    def start(self) -> Self:
        """Register now (errors propagate) and keep the registration alive in the background."""
        if self._thread is not None:
            raise RuntimeError(f"{self.key} is already registered")
        self._register()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._keepalive, name=f"waza-kv-registration:{self.key}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the keep-alive and revoke the lease so the key disappears at once."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        lease, self._lease = self._lease, None
        if lease is not None:
            try:
                lease.revoke()
            except KVError as exc:
                log.warning(
                    "could not revoke %s (it expires within %ss): %s", self.key, self.ttl, exc
                )

    def _register(self) -> None:
        lease = self.kv.lease(self.ttl)
        try:
            self.kv.put(self.key, self.value, lease)
        except BaseException:
            with contextlib.suppress(KVError):
                lease.revoke()
            raise
        self._lease = lease

    def _keepalive(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._renew()
            except KVError as exc:
                log.warning("keeping %s registered failed (will retry): %s", self.key, exc)

    def _renew(self) -> None:
        lease = self._lease
        try:
            if lease is None:
                raise LeaseExpired("no lease")
            lease.refresh()
            if self.kv.get(self.key) != self.value:  # deleted or overwritten by someone else
                self.kv.put(self.key, self.value, lease)
        except LeaseExpired:
            log.info("the lease of %s was lost; registering again", self.key)
            self._lease = None
            self._register()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ServiceRegistration({self.key!r}, ttl={self.ttl})"


def discover(kv: KVStore, name: str) -> list[dict[str, Any]]:
    """The info of each live instance of service ``name``, ordered by instance id."""
    _check_segment("service name", name)
    instances: list[dict[str, Any]] = []
    for key, raw in kv.get_prefix(f"{SERVICES_PREFIX}{name}/").items():
        try:
            info = json.loads(raw)
        except ValueError:
            log.warning("ignoring %s: not JSON", key)
            continue
        if isinstance(info, dict):
            instances.append(info)
    return instances
