"""The one behaviour every vector engine provides, and the checks they share.

A backend serves one vector DB: a set of named collections, each with a fixed dimension and
metric, holding vectors with a string id (a UUID) and a JSON metadata object. The public methods
here validate input, cache collection descriptions, create collections on first insert, map
engine failures to platform errors and (for engines whose local mode is not thread-safe)
serialise engine calls; the engine modules implement the ``_``-prefixed primitives.

**Scores are similarities: higher is better, on every engine.** COSINE gives the cosine
similarity (-1..1), IP the inner product, and L2 gives ``1 / (1 + d)`` where ``d`` is the
Euclidean distance (Milvus reports the squared distance; it is converted), so 1.0 is an exact
match and scores fall towards 0 with distance.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from waza.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unprocessable, WazaError
from waza.gateway.logging import get_logger
from waza.gateway.timing import timed
from waza.services.vectordb.filters import Node

log = get_logger("waza.vectordb")

METRICS = ("COSINE", "L2", "IP")
DEFAULT_METRIC = "COSINE"
_METRIC_ALIASES = {"EUCLID": "L2", "EUCLIDEAN": "L2", "DOT": "IP", "INNER_PRODUCT": "IP"}
MAX_DIMENSION = 32768
MAX_NAME_LENGTH = 200
INSERT_BATCH = 2000
COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalize_metric(metric: str | None, default: str = DEFAULT_METRIC) -> str:
    """``cosine``/``l2``/``ip`` in any case (plus ``euclid``, ``dot``) → COSINE, L2 or IP."""
    if metric is None or metric == "":
        return default
    value = str(metric).strip().upper()
    value = _METRIC_ALIASES.get(value, value)
    if value not in METRICS:
        raise BadRequest(f"Unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return value


def check_collection_name(name: str) -> str:
    """Collection names follow Milvus's rule on every engine: ``[A-Za-z_][A-Za-z0-9_]*``."""
    if not name or len(name) > MAX_NAME_LENGTH or not COLLECTION_NAME.match(name):
        raise Unprocessable(
            f"Invalid collection name {name!r}: use 1 to {MAX_NAME_LENGTH} letters, digits and "
            "underscores, starting with a letter or an underscore"
        )
    return name


def l2_similarity(distance: float) -> float:
    """The L2 score: 1 for an exact match, towards 0 as the Euclidean distance grows."""
    return 1.0 / (1.0 + max(0.0, float(distance)))


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection is: its name (without any namespace), dimension and metric."""

    name: str
    dimension: int
    metric: str
    description: str = ""


@dataclass
class Hit:
    """One search result: the vector's id, its similarity score and its metadata."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InsertResult:
    ids: list[str]
    created_collection: bool


def as_matrix(vectors: Sequence[Sequence[float]] | np.ndarray, what: str = "vectors") -> np.ndarray:
    """A 2-D float32 array of finite values, or a 400 that says what is wrong."""
    if isinstance(vectors, np.ndarray):
        matrix = vectors
    else:
        if len(vectors) == 0:
            raise BadRequest(f"No {what} given")
        first = len(vectors[0])
        if any(len(v) != first for v in vectors):
            raise BadRequest(f"All {what} must have the same dimension")
        matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise BadRequest(f"No {what} given")
    if matrix.shape[1] == 0:
        raise BadRequest(f"Empty {what} (dimension 0)")
    if matrix.shape[1] > MAX_DIMENSION:
        raise BadRequest(f"Dimension {matrix.shape[1]} exceeds the maximum of {MAX_DIMENSION}")
    matrix = np.asarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise BadRequest(f"{what.capitalize()} must hold finite numbers (no NaN or infinity)")
    return matrix


def canonical_ids(ids: Sequence[str] | None, count: int) -> tuple[list[str], bool]:
    """Caller ids as canonical UUID strings (or new UUIDs); the flag says ids were given."""
    if ids is None:
        return [str(uuid.uuid4()) for _ in range(count)], False
    if len(ids) != count:
        raise BadRequest(f"Got {len(ids)} ids for {count} vectors")
    try:
        out = [str(uuid.UUID(str(i))) for i in ids]
    except ValueError as exc:
        raise BadRequest("Vector ids must be UUIDs (the one id form every engine takes)") from exc
    if len(set(out)) != len(out):
        raise BadRequest("Vector ids repeat within one insert")
    return out, True


def project(metadata: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """Keep the requested metadata fields (``None`` or ``"*"`` keeps all)."""
    if fields is None or "*" in fields:
        return metadata
    return {k: metadata[k] for k in fields if k in metadata}


class VectorBackend(ABC):
    """A vector DB on one engine. Thread-safe; one instance per vector DB per process."""

    engine: ClassVar[str]

    def __init__(
        self,
        endpoint: str,
        namespace: str = "",
        storage: Path | None = None,
        *,
        serialize: bool = False,
    ) -> None:
        """``serialize``: the engine client must not be used from two threads at once."""
        self.endpoint = endpoint
        self.namespace = namespace
        #: The folder that holds this vector DB's files (embedded engines); removed by `destroy`.
        self.storage = storage
        self._meta_lock = threading.RLock()
        self._engine_lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if serialize else contextlib.nullcontext()
        )
        self._infos: dict[str, CollectionInfo] = {}
        self._closed = False

    # ---- engine primitives (physical names include the namespace) -------------------------------
    @abstractmethod
    def _create(self, physical: str, dimension: int, metric: str, description: str) -> None: ...

    @abstractmethod
    def _drop(self, physical: str) -> None: ...

    @abstractmethod
    def _exists(self, physical: str) -> bool: ...

    @abstractmethod
    def _names(self) -> list[str]: ...

    @abstractmethod
    def _describe(self, physical: str) -> tuple[int, str, str] | None:
        """(dimension, metric, description), or None when the collection does not exist."""

    @abstractmethod
    def _insert(
        self,
        physical: str,
        ids: list[str],
        vectors: np.ndarray,
        metadata: list[dict[str, Any]],
        upsert: bool,
    ) -> None: ...

    @abstractmethod
    def _search(
        self,
        physical: str,
        info: CollectionInfo,
        vectors: np.ndarray,
        limit: int,
        flt: Node | None,
        fields: Sequence[str] | None,
    ) -> list[list[Hit]]: ...

    @abstractmethod
    def _count(self, physical: str) -> int: ...

    @abstractmethod
    def _delete(self, physical: str, ids: list[str] | None, flt: Node | None) -> int:
        """Delete the vectors matching both ``ids`` and ``flt`` (either may be None); how many."""

    def _after_insert(self, physical: str) -> None:  # noqa: B027 (optional hook)
        """Called once after each `insert` (all its batches) succeeded; nothing by default."""

    @abstractmethod
    def _close(self) -> None: ...

    # ---- helpers --------------------------------------------------------------------------------
    def physical(self, name: str) -> str:
        return self.namespace + name

    @contextlib.contextmanager
    def call(self, action: str) -> Iterator[None]:
        """Serialise when needed; turn engine failures into a 503 with the engine's message."""
        if self._closed:
            raise ServiceUnavailable(f"The {self.engine} vector DB is closed")
        with self._engine_lock, timed("engine"):
            try:
                yield
            except WazaError:
                raise
            except Exception as exc:
                log.warning("vector engine call failed", engine=self.engine, action=action)
                raise ServiceUnavailable(f"{self.engine} failed to {action}: {exc}") from exc

    def _forget(self, name: str) -> None:
        with self._meta_lock:
            self._infos.pop(name, None)

    # ---- public behaviour -----------------------------------------------------------------------
    def describe_collection(self, name: str) -> CollectionInfo | None:
        """The collection's dimension and metric (cached), or None when it does not exist."""
        info = self._infos.get(name)
        if info is not None:
            return info
        physical = self.physical(check_collection_name(name))
        with self.call("describe a collection"):
            found = self._describe(physical) if self._exists(physical) else None
        if found is None:
            return None
        info = CollectionInfo(name, found[0], found[1], found[2])
        with self._meta_lock:
            self._infos[name] = info
        return info

    def require(self, name: str) -> CollectionInfo:
        info = self.describe_collection(name)
        if info is None:
            raise NotFound(f"Collection {name!r} not found")
        return info

    def list_collections(self) -> list[str]:
        with self.call("list collections"):
            names = self._names()
        n = len(self.namespace)
        return sorted(x[n:] for x in names if x.startswith(self.namespace))

    def create_collection(
        self, name: str, dimension: int, metric: str | None = None, description: str = ""
    ) -> CollectionInfo:
        """Create an empty collection; 409 when the name is taken."""
        check_collection_name(name)
        if not 1 <= int(dimension) <= MAX_DIMENSION:
            raise BadRequest(f"Dimension must be between 1 and {MAX_DIMENSION}")
        info = CollectionInfo(name, int(dimension), normalize_metric(metric), description or "")
        with self._meta_lock:
            if self.describe_collection(name) is not None:
                raise Conflict(f"Collection {name!r} already exists")
            with self.call("create a collection"):
                self._create(self.physical(name), info.dimension, info.metric, info.description)
            self._infos[name] = info
        return info

    def drop_collection(self, name: str) -> bool:
        """Drop a collection and its vectors; False when there was none."""
        with self._meta_lock:
            if self.describe_collection(name) is None:
                return False
            with self.call("drop a collection"):
                self._drop(self.physical(name))
            self._forget(name)
        return True

    def count(self, name: str) -> int:
        self.require(name)
        with self.call("count vectors"):
            return self._count(self.physical(name))

    def insert(
        self,
        name: str,
        vectors: Sequence[Sequence[float]] | np.ndarray,
        metadata: Sequence[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        create_if_missing: bool = True,
        metric: str | None = None,
        description: str = "",
    ) -> InsertResult:
        """Insert a batch; an id that exists already is replaced (upsert).

        A missing collection is created with the vectors' dimension when ``create_if_missing``.
        """
        check_collection_name(name)
        matrix = as_matrix(vectors)
        count, dim = matrix.shape
        meta = [dict(m) for m in metadata] if metadata else [{} for _ in range(count)]
        if len(meta) != count:
            raise BadRequest(f"Got {len(meta)} metadata entries for {count} vectors")
        row_ids, given = canonical_ids(ids, count)
        created = False
        info = self.describe_collection(name)
        if info is None:
            if not create_if_missing:
                raise NotFound(f"Collection {name!r} not found (create_if_missing is false)")
            self._check(CollectionInfo(name, dim, normalize_metric(metric)), matrix)
            with self._meta_lock:
                info = self.describe_collection(name)
                if info is None:
                    info = self.create_collection(name, dim, metric, description)
                    created = True
        self._check(info, matrix)
        physical = self.physical(name)
        try:
            for start in range(0, count, INSERT_BATCH):
                part = slice(start, start + INSERT_BATCH)
                with self.call("insert vectors"):
                    self._insert(physical, row_ids[part], matrix[part], meta[part], given)
            with self.call("insert vectors"):
                self._after_insert(physical)
        except WazaError:
            if created:  # leave no half-filled collection behind
                with contextlib.suppress(WazaError):
                    self.drop_collection(name)
            raise
        return InsertResult(row_ids, created)

    def search(
        self,
        name: str,
        vectors: Sequence[Sequence[float]] | np.ndarray,
        limit: int = 10,
        *,
        flt: Node | None = None,
        output_fields: Sequence[str] | None = None,
    ) -> list[list[Hit]]:
        """The nearest ``limit`` vectors for each query vector, best first."""
        info = self.require(name)
        matrix = as_matrix(vectors, "query vectors")
        self._check(info, matrix)
        if limit < 1:
            raise BadRequest("limit must be at least 1")
        with self.call("search"):
            results = self._search(self.physical(name), info, matrix, limit, flt, output_fields)
        if output_fields is not None:
            for hits in results:
                for hit in hits:
                    hit.metadata = project(hit.metadata, output_fields)
        return results

    def delete(
        self, name: str, *, ids: Sequence[str] | None = None, flt: Node | None = None
    ) -> int:
        """Delete vectors by id, by metadata filter, or both (their intersection); how many.

        At least one of the two is required: emptying a collection is `drop_collection`.
        """
        if ids is None and flt is None:
            raise BadRequest("Name the vectors to delete: give ids, a filter, or both")
        row_ids = canonical_ids(ids, len(ids))[0] if ids is not None else None
        if row_ids is not None and not row_ids:
            return 0
        self.require(name)
        with self.call("delete vectors"):
            return self._delete(self.physical(name), row_ids, flt)

    def _check(self, info: CollectionInfo, matrix: np.ndarray) -> None:
        if matrix.shape[1] != info.dimension:
            raise BadRequest(
                f"Dimension mismatch: collection {info.name!r} holds {info.dimension}-dimensional "
                f"vectors, got {matrix.shape[1]}-dimensional ones"
            )
        if info.metric == "COSINE" and not np.linalg.norm(matrix, axis=1).all():
            raise BadRequest("A zero vector has no direction: COSINE collections cannot use it")

    def close(self) -> None:
        """Release the engine client (idempotent)."""
        with self._engine_lock:
            if not self._closed:
                self._closed = True
                self._close()

    def destroy(self) -> None:
        """Drop every collection and the storage of this vector DB, then close."""
        if self.namespace:  # a shared server: drop only this DB's collections
            for name in self.list_collections():
                self.drop_collection(name)
        self.close()
        if self.storage is not None:
            try:
                shutil.rmtree(self.storage)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ServiceUnavailable(f"Cannot remove {self.storage}: {exc}") from exc
