"""Per-process caches of database reads that every API process clears when the data changes.

The hot path of a request (the caller's token, the vector DB it searches) should need neither
the database nor a worker thread. An `InvalidatedCache` keeps such reads per process, and stays
correct across processes through the config store: a change clears this process's cache at
once (`invalidate_everywhere`) and bumps the cache's epoch key; every other API process watches
that key and clears its copy too (immediately on etcd, within ~0.2 s embedded). Should the watch
fail, entries still expire after `ttl` seconds.

Correctness comes first: a cache is only *enabled* once the invalidation bus is attached
(`attach`, at API start-up); without a config store it caches nothing.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from waza.gateway.logging import get_logger
from waza.kv import KVStore, Watch, WatchEvent

V = TypeVar("V")
log = get_logger("waza.cache")


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    fresh_until: float  # monotonic: the cache's own TTL
    expires_at: float | None  # wall clock: the value's own expiry (a token's), if any


class InvalidatedCache(Generic[V]):
    """Key → value, bounded in size and age; disabled until a bus is attached."""

    def __init__(self, epoch_key: str, ttl: float = 30.0, max_entries: int = 10_000) -> None:
        self.epoch_key = epoch_key
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, _Entry[V]] = {}
        self._lock = threading.Lock()
        self._kv: KVStore | None = None
        self._watch: Watch | None = None
        self.generation = 0  # bumped by every clear; see `put`

    @property
    def enabled(self) -> bool:
        return self._kv is not None and self.ttl > 0

    def attach(self, kv: KVStore) -> None:
        """Start listening for invalidations from other processes; enables the cache."""
        self._watch = kv.watch_prefix(self.epoch_key, self._on_event)
        self._kv = kv

    def detach(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._kv, self._watch = None, None
        self.clear()

    def _on_event(self, _event: WatchEvent) -> None:
        self.clear()

    def get(self, key: str) -> V | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic() or (
            entry.expires_at is not None and entry.expires_at <= time.time()
        ):
            self._entries.pop(key, None)
            return None
        return entry.value

    def put(self, key: str, value: V, expires_at: float | None, generation: int) -> None:
        """Store a value read while `generation` was current.

        A clear that happened during the database read (the data changed meanwhile) bumped the
        generation, so the possibly stale result is dropped instead of cached.
        """
        if not self.enabled:
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = _Entry(value, time.monotonic() + self.ttl, expires_at)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def invalidate_everywhere(self) -> None:
        """Clear here now, and tell every other process to clear too."""
        self.clear()
        if self._kv is None:
            return
        try:
            self._kv.put(self.epoch_key, uuid.uuid4().hex)
        except Exception as exc:  # other processes fall back to the TTL
            log.warning(
                "could not publish a cache invalidation", key=self.epoch_key, error=str(exc)
            )
