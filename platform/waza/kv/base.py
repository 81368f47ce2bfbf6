"""The config and discovery store interface shared by the embedded and etcd backends.

Keys and values are ``str``. Keys passed to a store are relative to its namespace (e.g.
``"waza/"``), which the store adds on the way in and strips on the way out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self


class KVError(Exception):
    """Base class of errors raised by a :class:`KVStore`."""


class KVUnavailable(KVError):
    """The backend cannot be reached; the message names its URL or path."""


class LeaseExpired(KVError):
    """The lease does not exist any more (it expired or was revoked)."""


@dataclass(frozen=True)
class WatchEvent:
    """One change seen by a watch; ``value`` is ``None`` for deletes."""

    type: Literal["put", "delete"]
    key: str
    value: str | None


WatchCallback = Callable[[WatchEvent], None]


class Lease(ABC):
    """A time-to-live that keys can be attached to; they vanish when it expires or is revoked."""

    id: int
    ttl: int

    @abstractmethod
    def refresh(self) -> None:
        """Restart the TTL; raises :class:`LeaseExpired` when the lease is gone."""

    @abstractmethod
    def revoke(self) -> None:
        """End the lease now, deleting its keys (no error if it is already gone)."""


class Watch(ABC):
    """A running watch; events arrive on a background thread until :meth:`cancel`."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop delivering events (idempotent; safe to call from the callback)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()


def normalize_namespace(namespace: str) -> str:
    """``"waza"`` → ``"waza/"``; empty stays empty (the whole keyspace)."""
    return namespace if not namespace or namespace.endswith("/") else namespace + "/"


class KVStore(ABC):
    """A namespaced key-value store with leases and prefix watches."""

    backend: str = ""

    def __init__(self, namespace: str = "") -> None:
        self.namespace = normalize_namespace(namespace)

    # --- key mapping -----------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        return self.namespace + key

    def _rel(self, full_key: str) -> str:
        return full_key[len(self.namespace) :]

    @staticmethod
    def _check_key(key: str) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty str, got {key!r}")

    # --- operations ------------------------------------------------------------------------------
    @abstractmethod
    def get(self, key: str) -> str | None:
        """The value of ``key``, or ``None``."""

    @abstractmethod
    def put(self, key: str, value: str, lease: Lease | None = None) -> None:
        """Set ``key``; with ``lease`` the key lives only as long as the lease."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Delete ``key``; ``True`` if it existed."""

    @abstractmethod
    def get_prefix(self, prefix: str) -> dict[str, str]:
        """All keys starting with ``prefix`` and their values, sorted by key."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete all keys starting with ``prefix``; returns how many were deleted."""

    @abstractmethod
    def lease(self, ttl: int) -> Lease:
        """Grant a new lease of ``ttl`` seconds."""

    @abstractmethod
    def watch_prefix(self, prefix: str, callback: WatchCallback) -> Watch:
        """Call ``callback`` for each later put/delete of a key starting with ``prefix``."""

    @abstractmethod
    def health(self) -> dict[str, Any]:
        """``{"backend", "endpoint", "ok", ...}``; reports failures instead of raising."""

    @abstractmethod
    def close(self) -> None:
        """Cancel watches and release connections (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
