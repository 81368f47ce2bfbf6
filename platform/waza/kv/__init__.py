"""The config and discovery store: a namespaced key-value store with leases and watches.

:func:`open_kv` picks the backend from the settings: an embedded SQLite file
(``$WAZA_HOME/kv.sqlite``) on one machine, or etcd when ``etcd_url`` is set. ``EtcdKV`` is
imported lazily so the embedded default does not load gRPC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import KVError, KVStore, KVUnavailable, Lease, LeaseExpired, Watch, WatchEvent
from .embedded import EmbeddedKV
from .registry import ServiceRegistration, discover, service_key

if TYPE_CHECKING:
    from waza.settings import Settings

    from .etcd import EtcdKV

__all__ = [
    "EmbeddedKV",
    "EtcdKV",
    "KVError",
    "KVStore",
    "KVUnavailable",
    "Lease",
    "LeaseExpired",
    "ServiceRegistration",
    "Watch",
    "WatchEvent",
    "discover",
    "open_kv",
    "service_key",
]


def open_kv(settings: Settings | None = None) -> KVStore:
    """The store chosen by ``settings.effective_kv_backend``, namespaced by ``kv_prefix``."""
    if settings is None:
        from waza.settings import get_settings

        settings = get_settings()
    backend = settings.effective_kv_backend
    if backend == "embedded":
        return EmbeddedKV(settings.ensure_home() / "kv.sqlite", settings.kv_prefix)
    if backend == "etcd":
        if not settings.etcd_url:
            raise KVError("kv_backend is 'etcd' but etcd_url (WAZA_ETCD_URL) is empty")
        from .etcd import EtcdKV

        return EtcdKV(settings.etcd_url, settings.kv_prefix)
    raise KVError(f"unknown kv backend {backend!r}")


def __getattr__(name: str) -> Any:
    if name == "EtcdKV":
        from .etcd import EtcdKV

        return EtcdKV
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
