"""Vector engines behind one interface (`VectorBackend`): Milvus and Qdrant."""

from __future__ import annotations

from pathlib import Path

from waza.errors import BadRequest
from waza.services.vectordb.backends.base import (
    DEFAULT_METRIC,
    METRICS,
    CollectionInfo,
    Hit,
    InsertResult,
    VectorBackend,
    check_collection_name,
    normalize_metric,
)

ENGINES = ("milvus", "qdrant")
_ALIASES = {
    "milvus": "milvus",
    "milvus-lite": "milvus",
    "milvus_lite": "milvus",
    "qdrant": "qdrant",
}

__all__ = [
    "DEFAULT_METRIC",
    "ENGINES",
    "METRICS",
    "CollectionInfo",
    "Hit",
    "InsertResult",
    "VectorBackend",
    "check_collection_name",
    "normalize_engine",
    "normalize_metric",
    "open_backend",
]


def normalize_engine(engine: str) -> str:
    """``milvus`` (also ``milvus-lite``) or ``qdrant``, in any case; anything else is a 400."""
    value = _ALIASES.get(engine.strip().lower())
    if value is None:
        raise BadRequest(f"Unknown vector engine {engine!r}; use one of {', '.join(ENGINES)}")
    return value


def open_backend(
    engine: str,
    endpoint: str,
    *,
    namespace: str = "",
    secret: str | None = None,
    storage: Path | None = None,
) -> VectorBackend:
    """Connect to (or open the local files of) one vector DB; ``secret`` is a token/API key."""
    if engine == "milvus":
        from waza.services.vectordb.backends.milvus import MilvusBackend

        return MilvusBackend(endpoint, namespace, token=secret, storage=storage)
    if engine == "qdrant":
        from waza.services.vectordb.backends.qdrant import QdrantBackend

        return QdrantBackend(endpoint, namespace, api_key=secret, storage=storage)
    raise BadRequest(f"Unknown vector engine {engine!r}")
