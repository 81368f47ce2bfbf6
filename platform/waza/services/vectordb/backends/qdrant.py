"""Qdrant through qdrant-client: local storage in a folder, or a Qdrant server by URL.

Points have the vector DB's UUID string ids and the metadata as their payload. The metric maps
to Qdrant's distance (COSINE → Cosine, L2 → Euclid, IP → Dot); Euclid scores are distances and
become ``1 / (1 + d)``. The collection description lives in Qdrant's collection metadata.

Local cosine collections are stored as Dot collections of unit vectors, with
``waza_metric: COSINE`` in their metadata: waza normalises each vector on insert and each query
on search, so the scores are the cosine similarities. This is what a Qdrant server does
internally. Local mode normalises on insert too, but then recomputes the norms of all stored
vectors and divides them again on every cosine search. Over 100k x 384-d vectors that is two
extra passes that write the whole array, and a float64 query against float32 vectors: 8x the
time of the Dot search (`docs/performance.md`). Local collections created as Cosine (by
another client, or by waza before this change) are still read and searched as Cosine.

Local mode keeps everything in Python structures and is not safe for concurrent use, so its
calls are serialised; a server client is used concurrently. Local mode also commits one SQLite
transaction per point with a full sync (about 5 ms each here: minutes for a few thousand
vectors); its collection files are switched to WAL with ``synchronous=NORMAL``, which survives
a crash of the process and may lose the last commits on power loss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from waza.services.vectordb.backends.base import CollectionInfo, Hit, VectorBackend, l2_similarity
from waza.services.vectordb.filters import All, Any_, Condition, Literal, Node, is_number

_DISTANCE = {"COSINE": "Cosine", "L2": "Euclid", "IP": "Dot"}
_METRIC = {v: k for k, v in _DISTANCE.items()}
_UNIT_KEY = "waza_metric"  # collection metadata: a Dot collection that holds unit vectors


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero, as Qdrant's own normalisation)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def _equals(key: str, value: Literal) -> Any:
    from qdrant_client import models

    if is_number(value):  # ints and floats compare as numbers, as in Milvus
        assert isinstance(value, int | float)
        return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def to_filter(node: Node) -> Any:
    """The Qdrant `Filter` of a parsed filter."""
    from qdrant_client import models

    if isinstance(node, All):
        return models.Filter(must=[to_filter(item) for item in node.items])
    if isinstance(node, Any_):
        return models.Filter(should=[to_filter(item) for item in node.items])
    assert isinstance(node, Condition)
    key = ".".join(node.path)
    missing = models.IsEmptyCondition(is_empty=models.PayloadField(key=key))
    if node.op == "$eq":
        assert not isinstance(node.value, tuple)
        return models.Filter(must=[_equals(key, node.value)])
    if node.op == "$ne":
        assert not isinstance(node.value, tuple)
        return models.Filter(must_not=[_equals(key, node.value), missing])
    if node.op in ("$in", "$nin"):
        assert isinstance(node.value, tuple)
        matches = [_equals(key, v) for v in node.value]
        if node.op == "$in":
            return models.Filter(should=matches)
        return models.Filter(must_not=[*matches, missing])
    bound = {node.op[1:]: node.value}
    return models.Filter(must=[models.FieldCondition(key=key, range=models.Range(**bound))])


class QdrantBackend(VectorBackend):
    """A vector DB on Qdrant: a local storage folder, or a namespace on a Qdrant server."""

    engine = "qdrant"

    def __init__(
        self,
        endpoint: str,
        namespace: str = "",
        api_key: str | None = None,
        storage: Path | None = None,
    ) -> None:
        self.embedded = "://" not in endpoint
        # Local mode is plain Python state: one caller at a time.
        super().__init__(endpoint, namespace, storage, serialize=self.embedded)
        self._tuned: set[int] = set()
        self._unit: set[str] = set()  # local cosine collections stored as Dot of unit vectors
        from qdrant_client import QdrantClient

        with self.call("connect"):
            if self.embedded:
                Path(endpoint).mkdir(parents=True, exist_ok=True)
                self.client = QdrantClient(path=endpoint)
                self._tune_local_storage()
            else:
                self.client = QdrantClient(
                    url=endpoint, api_key=api_key, timeout=10, check_compatibility=False
                )

    def _tune_local_storage(self) -> None:
        """WAL and ``synchronous=NORMAL`` on each local collection's SQLite file (see above).

        qdrant-client has no option for it: this reaches its local collections' connections
        and does nothing when their layout differs.
        """
        collections = getattr(getattr(self.client, "_client", None), "collections", None)
        for collection in (collections or {}).values():
            conn = getattr(getattr(collection, "storage", None), "storage", None)
            if isinstance(conn, sqlite3.Connection) and id(conn) not in self._tuned:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._tuned.add(id(conn))

    def _create(self, physical: str, dimension: int, metric: str, description: str) -> None:
        from qdrant_client import models

        metadata: dict[str, Any] = {"description": description} if description else {}
        unit = self.embedded and metric == "COSINE"
        if unit:
            metadata[_UNIT_KEY] = "COSINE"
        self.client.create_collection(
            physical,
            vectors_config=models.VectorParams(
                size=dimension, distance=models.Distance("Dot" if unit else _DISTANCE[metric])
            ),
            metadata=metadata or None,
        )
        if unit:
            self._unit.add(physical)
        if self.embedded:
            self._tune_local_storage()

    def _drop(self, physical: str) -> None:
        self.client.delete_collection(physical)
        self._unit.discard(physical)

    def _exists(self, physical: str) -> bool:
        return bool(self.client.collection_exists(physical))

    def _names(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def _describe(self, physical: str) -> tuple[int, str, str] | None:
        config = self.client.get_collection(physical).config
        params = config.params.vectors
        if params is None or isinstance(params, dict):  # named vectors: not a waza collection
            return None
        metadata = getattr(config, "metadata", None) or {}
        description = str(metadata.get("description", ""))
        metric = _METRIC[params.distance.value]
        if metric == "IP" and metadata.get(_UNIT_KEY) == "COSINE":
            self._unit.add(physical)
            metric = "COSINE"
        return int(params.size), metric, description

    def _insert(
        self,
        physical: str,
        ids: list[str],
        vectors: np.ndarray,
        metadata: list[dict[str, Any]],
        upsert: bool,
    ) -> None:
        from qdrant_client import models

        if physical in self._unit:
            vectors = unit_rows(vectors)
        batch = models.Batch(ids=list(ids), vectors=vectors.tolist(), payloads=metadata)
        self.client.upsert(physical, points=batch, wait=True)

    def _search(
        self,
        physical: str,
        info: CollectionInfo,
        vectors: np.ndarray,
        limit: int,
        flt: Node | None,
        fields: Sequence[str] | None,
    ) -> list[list[Hit]]:
        payload: bool | list[str] = True
        if fields is not None and "*" not in fields:
            payload = list(fields) if fields else False
        query_filter = to_filter(flt) if flt is not None else None
        if physical in self._unit:
            vectors = unit_rows(vectors)
        results = []
        for vector in vectors.tolist():
            response = self.client.query_points(
                physical,
                query=vector,
                limit=limit,
                query_filter=query_filter,
                with_payload=payload,
            )
            hits = []
            for point in response.points:
                score = float(point.score)
                if info.metric == "L2":
                    score = l2_similarity(score)
                hits.append(Hit(str(point.id), score, dict(point.payload or {})))
            results.append(hits)
        return results

    def _count(self, physical: str) -> int:
        return int(self.client.count(physical, exact=True).count)

    def _delete(self, physical: str, ids: list[str] | None, flt: Node | None) -> int:
        from qdrant_client import models

        must: list[Any] = []
        if ids is not None:
            must.append(models.HasIdCondition(has_id=list(ids)))
        if flt is not None:
            must.append(to_filter(flt))
        selector = models.Filter(must=must)
        matched = int(self.client.count(physical, count_filter=selector, exact=True).count)
        if matched:
            self.client.delete(
                physical, points_selector=models.FilterSelector(filter=selector), wait=True
            )
        return matched

    def _close(self) -> None:
        self.client.close()
