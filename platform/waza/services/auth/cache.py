"""A short-lived cache of resolved tokens, invalidated across processes through the KV store.

Resolving a token costs a database round trip; a cache hit costs a dict lookup, so the hot
path of every authenticated request needs neither the database nor a worker thread.

Correctness comes first: the cache is only *enabled* once an invalidation bus is attached
(`attach`). Every change that can end a token's validity (revoking a PAT, logout, disabling,
deleting or editing a user) clears this process's cache at once and bumps the key
`auth/epoch` in the config store; every other API process watches that key and clears its
cache too (within the store's watch latency: immediate on etcd, ~0.2 s embedded). Should the
watch fail, entries still expire after `ttl` seconds. The mechanism is
`waza.gateway.cache.InvalidatedCache`, shared with the other per-process caches.
"""

from __future__ import annotations

from waza.gateway.cache import InvalidatedCache
from waza.gateway.principal import Principal

EPOCH_KEY = "auth/epoch"


class PrincipalCache(InvalidatedCache[Principal]):
    """Token key → Principal; an entry also ends when its token expires (`put`'s expiry)."""

    def __init__(self, ttl: float = 30.0, max_entries: int = 10_000) -> None:
        super().__init__(EPOCH_KEY, ttl, max_entries)
