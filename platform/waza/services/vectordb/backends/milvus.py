"""Milvus through pymilvus's `MilvusClient`: an embedded milvus-lite file or a Milvus server.

Each collection has three fields: ``id`` (VARCHAR primary key, a UUID string), ``vector``
(FLOAT_VECTOR of the collection's dimension, indexed with AUTOINDEX and the collection's metric)
and ``metadata`` (JSON). Filters become Milvus boolean expressions over ``metadata["..."]``;
every value is written as a literal here (milvus-lite has no expression templates), so field
names are restricted by the filter parser and strings are escaped below.

milvus-lite 3 serves a ``.db`` path from an in-process gRPC server; it needs ``load_collection``
after the process restarts, which happens lazily on first use of each collection. Its writes are
not safe to run concurrently (a flush racing an insert fails with "current_seq is monotonic"),
so writes to a milvus-lite file are serialised; searches run concurrently.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from waza.services.vectordb.backends.base import CollectionInfo, Hit, VectorBackend, l2_similarity
from waza.services.vectordb.filters import All, Any_, Condition, Literal, Node

ID_FIELD, VECTOR_FIELD, METADATA_FIELD = "id", "vector", "metadata"
ID_MAX_LENGTH = 64
DESCRIPTION_PROPERTY = "waza.description"
SERVER_TIMEOUT = 10.0


def _string(value: str) -> str:
    """A Milvus string literal (milvus-lite knows the escapes \\\\, \\", \\n, \\t and \\r)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
    )
    return f'"{escaped}"'


def literal(value: Literal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    return repr(value)


_OPS = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def to_expression(node: Node) -> str:
    """The Milvus boolean expression of a parsed filter."""
    if isinstance(node, All):
        return " and ".join(f"({to_expression(item)})" for item in node.items)
    if isinstance(node, Any_):
        return " or ".join(f"({to_expression(item)})" for item in node.items)
    assert isinstance(node, Condition)
    path = METADATA_FIELD + "".join(f'["{part}"]' for part in node.path)
    if node.op in ("$in", "$nin"):
        assert isinstance(node.value, tuple)
        sign, join = ("==", " or ") if node.op == "$in" else ("!=", " and ")
        return "(" + join.join(f"{path} {sign} {literal(v)}" for v in node.value) + ")"
    assert not isinstance(node.value, tuple)
    return f"{path} {_OPS[node.op]} {literal(node.value)}"


class MilvusBackend(VectorBackend):
    """A vector DB on Milvus: one milvus-lite file, or a namespace on a Milvus server."""

    engine = "milvus"

    def __init__(
        self,
        endpoint: str,
        namespace: str = "",
        token: str | None = None,
        storage: Path | None = None,
    ) -> None:
        super().__init__(endpoint, namespace, storage)
        from pymilvus import MilvusClient

        self.embedded = endpoint.endswith(".db") and "://" not in endpoint
        self._writes: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.embedded else contextlib.nullcontext()
        )
        if self.embedded:
            Path(endpoint).parent.mkdir(parents=True, exist_ok=True)
            # milvus-lite imports scipy.sparse lazily inside its first searches; two first
            # searches at once then race on a half-imported module ("partially initialized
            # module 'scipy.sparse._bsr'"), so import it here, once, before any search runs
            import scipy.sparse  # noqa: F401
        kwargs: dict[str, Any] = {"token": token} if token else {}
        if not self.embedded:
            kwargs["timeout"] = SERVER_TIMEOUT
        with self.call("connect"):
            self.client = MilvusClient(uri=endpoint, **kwargs)
        self._loaded: set[str] = set()

    def _ensure_loaded(self, physical: str) -> None:
        if physical not in self._loaded:
            self.client.load_collection(physical)
            self._loaded.add(physical)

    def _create(self, physical: str, dimension: int, metric: str, description: str) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(
            auto_id=False, enable_dynamic_field=False, description=description
        )
        schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=ID_MAX_LENGTH)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field(METADATA_FIELD, DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index(VECTOR_FIELD, metric_type=metric, index_type="AUTOINDEX")
        # milvus-lite drops a schema's description; it keeps collection properties.
        extra = {"properties": {DESCRIPTION_PROPERTY: description}} if self.embedded else {}
        with self._writes:
            self.client.create_collection(
                physical, schema=schema, consistency_level="Strong", **extra
            )
            # sync=False: waiting for the index polls AllocTimestamp, which milvus-lite lacks
            # (it logs a traceback); an index on an empty collection is ready at once anyway.
            self.client.create_index(physical, index, sync=False)
            self.client.load_collection(physical)
        self._loaded.add(physical)

    def _drop(self, physical: str) -> None:
        with self._writes:
            self.client.drop_collection(physical)
        self._loaded.discard(physical)

    def _exists(self, physical: str) -> bool:
        return bool(self.client.has_collection(physical))

    def _names(self) -> list[str]:
        return list(self.client.list_collections())

    def _describe(self, physical: str) -> tuple[int, str, str] | None:
        desc = self.client.describe_collection(physical)
        dims = [
            int(f["params"]["dim"]) for f in desc.get("fields", []) if f.get("name") == VECTOR_FIELD
        ]
        if not dims:
            return None
        index = self.client.describe_index(physical, VECTOR_FIELD) or {}
        metric = str(index.get("metric_type") or "COSINE").upper()
        description = desc.get("description") or (desc.get("properties") or {}).get(
            DESCRIPTION_PROPERTY, ""
        )
        return dims[0], metric, str(description)

    def _insert(
        self,
        physical: str,
        ids: list[str],
        vectors: np.ndarray,
        metadata: list[dict[str, Any]],
        upsert: bool,
    ) -> None:
        rows = [
            {ID_FIELD: i, VECTOR_FIELD: v, METADATA_FIELD: m}
            for i, v, m in zip(ids, vectors.tolist(), metadata, strict=True)
        ]
        self._ensure_loaded(physical)
        with self._writes:
            if upsert:
                self.client.upsert(physical, rows)
            else:
                self.client.insert(physical, rows)

    def _after_insert(self, physical: str) -> None:
        # milvus-lite searches its in-memory buffer row by row in Python (0.2 s for a few
        # thousand 384-d rows, seconds for 100k) until it flushes at 128 MB; a flush after each
        # insert call (~25 ms for 100 rows) keeps searches on indexed segments (~5 ms).
        # A Milvus server flushes on its own schedule and limits explicit flushes.
        if self.embedded:
            with self._writes:
                self.client.flush(physical)

    def _search(
        self,
        physical: str,
        info: CollectionInfo,
        vectors: np.ndarray,
        limit: int,
        flt: Node | None,
        fields: Sequence[str] | None,
    ) -> list[list[Hit]]:
        self._ensure_loaded(physical)
        output = [] if fields is not None and not fields else [METADATA_FIELD]
        raw = self.client.search(
            physical,
            data=vectors.tolist(),
            limit=limit,
            filter=to_expression(flt) if flt is not None else "",
            output_fields=output,
            search_params={"metric_type": info.metric},
        )
        results = []
        for hits in raw:
            out = []
            for hit in hits:
                distance = float(hit["distance"])
                if info.metric == "L2":  # Milvus reports the squared Euclidean distance
                    distance = l2_similarity(max(0.0, distance) ** 0.5)
                entity = hit.get("entity") or {}
                out.append(Hit(str(hit["id"]), distance, dict(entity.get(METADATA_FIELD) or {})))
            results.append(out)
        return results

    def _count(self, physical: str) -> int:
        self._ensure_loaded(physical)
        rows = self.client.query(physical, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def _delete(self, physical: str, ids: list[str] | None, flt: Node | None) -> int:
        parts = []
        if ids is not None:
            parts.append(f"{ID_FIELD} in [{', '.join(_string(i) for i in ids)}]")
        if flt is not None:
            parts.append(f"({to_expression(flt)})")
        expression = " and ".join(parts)
        self._ensure_loaded(physical)
        with self._writes:  # count and delete as one step against concurrent writes here
            rows = self.client.query(physical, filter=expression, output_fields=["count(*)"])
            matched = int(rows[0]["count(*)"]) if rows else 0
            if matched:
                self.client.delete(physical, filter=expression)
                if self.embedded:
                    self.client.flush(physical)
        return matched

    def _close(self) -> None:
        self.client.close()
        if self.embedded:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.endpoint)
