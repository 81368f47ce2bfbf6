"""A short-lived cache of resolved tokens, invalidated across processes through the KV store.

Resolving a token costs a database round trip; a cache hit costs a dict lookup, so the hot
path of every authenticated request needs neither the database nor a worker thread.

Correctness comes first: the cache is only *enabled* once an invalidation bus is attached
(`attach`). Every change that can end a token's validity (revoking a PAT, logout, disabling,
deleting or editing a user) clears this process's cache at once and bumps the key
`auth/epoch` in the config store; every other API process watches that key and clears its
cache too (within the store's watch latency: immediate on etcd, ~0.2 s embedded). Should the
watch fail, entries still expire after `ttl` seconds.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.kv import KVStore, Watch, WatchEvent

EPOCH_KEY = "auth/epoch"
log = get_logger("waza.auth.cache")


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    fresh_until: float  # monotonic: the cache's own TTL
    token_expires_at: float | None  # wall clock: the token's expiry


class PrincipalCache:
    """Token key → Principal, bounded in size and age; disabled until a bus is attached."""

    def __init__(self, ttl: float = 30.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._kv: KVStore | None = None
        self._watch: Watch | None = None
        self.generation = 0  # bumped by every clear; see `put`

    @property
    def enabled(self) -> bool:
        return self._kv is not None and self.ttl > 0

    def attach(self, kv: KVStore) -> None:
        """Start listening for invalidations from other processes; enables the cache."""
        self._watch = kv.watch_prefix(EPOCH_KEY, self._on_event)
        self._kv = kv

    def detach(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._kv, self._watch = None, None
        self.clear()

    def _on_event(self, _event: WatchEvent) -> None:
        self.clear()

    def get(self, key: str) -> Principal | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.fresh_until < time.monotonic() or (
            entry.token_expires_at is not None and entry.token_expires_at <= time.time()
        ):
            self._entries.pop(key, None)
            return None
        return entry.principal

    def put(
        self, key: str, principal: Principal, token_expires_at: float | None, generation: int
    ) -> None:
        """Store a principal resolved while `generation` was current.

        A clear that happened during the database read (say, the token was revoked meanwhile)
        bumped the generation, so the possibly stale result is dropped instead of cached.
        """
        if not self.enabled:
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = _Entry(principal, time.monotonic() + self.ttl, token_expires_at)

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
            self._kv.put(EPOCH_KEY, uuid.uuid4().hex)
        except Exception as exc:  # other processes fall back to the TTL
            log.warning("could not publish a token invalidation", error=str(exc))
