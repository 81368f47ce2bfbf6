"""Request and response bodies of the vector DB routes (kamiwaza-sdk 1.3 `client.context` and
the legacy `/vectordb` API, digest §6).

Scores are similarities, higher is better, on every engine: COSINE → cosine similarity, IP →
inner product, L2 → ``1 / (1 + euclidean distance)``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from waza.services.vectordb.backends.base import MAX_DIMENSION

MAX_DELETE_IDS = 10_000
MAX_LIMIT = 16384

Vectors = list[list[float]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---- vector DBs (context API) ---------------------------------------------------------------
class CreateVectorDB(_Body):
    """`POST /context/vectordbs`. ``engine`` defaults to the platform's (`WAZA_VECTOR_ENGINE`)."""

    name: str = Field(min_length=1, max_length=256)
    engine: str | None = Field(None, description="milvus (also milvus-lite) or qdrant")
    replicas: int = Field(1, ge=1, le=64)
    config: dict[str, Any] | None = Field(
        None, description='Stored, never returned. "metric" sets the default for new collections.'
    )
    workroom_id: str | None = Field(None, max_length=64)
    shared: bool = Field(False, description="Other users may read and search it.")
    description: str = Field("", max_length=4096)


class UpdateVectorDB(_Body):
    """`PUT /context/vectordbs/{id}`: only the fields given change."""

    config: dict[str, Any] | None = None
    replicas: int | None = Field(None, ge=1, le=64)
    shared: bool | None = None
    description: str | None = Field(None, max_length=4096)


class ScaleVectorDB(_Body):
    replicas: int = Field(ge=1, le=64)


class VectorDBInstance(BaseModel):
    """A vector DB. ``status == "running"`` with a non-empty ``endpoint`` means ready."""

    id: uuid.UUID
    name: str
    engine: str
    status: str
    endpoint: str
    owner_id: uuid.UUID
    shared: bool
    description: str
    workroom_id: str
    replicas: int = Field(description="The replica count last requested.")
    effective_replicas: int | None = Field(
        description="Replicas actually serving: 1 for embedded engines; None when a server "
        "manages its own."
    )
    replica_note: str
    default_metric: str
    namespace: str | None = Field(
        None, description="Collection-name prefix of this DB on a shared server."
    )
    created_at: datetime
    updated_at: datetime


class VectorDBDeleted(BaseModel):
    id: uuid.UUID
    name: str
    deleted: bool = True


class ContextHealth(BaseModel):
    status: str
    service: str
    features: list[str]
    engines: dict[str, str]
    default_engine: str


# ---- collections -------------------------------------------------------------------------
class CreateCollection(_Body):
    """`POST /context/collections/`; without ``vectordb_id`` the caller's default vector DB."""

    name: str
    dimension: int = Field(384, ge=1, le=MAX_DIMENSION)
    description: str | None = Field(None, max_length=4096)
    vectordb_id: uuid.UUID | None = None
    metric: str | None = Field(None, description="COSINE (default), L2 or IP")


class Collection(BaseModel):
    name: str
    display_name: str
    vectordb_id: uuid.UUID
    engine: str
    dimension: int
    metric: str
    description: str
    count: int


class CollectionDeleted(BaseModel):
    name: str
    display_name: str
    vectordb_id: uuid.UUID
    deleted: bool


# ---- insert and query (context API) ----------------------------------------------------------
class InsertVectors(_Body):
    """`POST /context/vectordbs/{id}/insert`.

    Metadata is schemaless JSON per vector (``field_list`` is accepted and ignored). Without
    ``ids`` new UUIDs are assigned; an id that exists already is replaced.
    """

    collection_name: str
    vectors: Vectors
    metadata: list[dict[str, Any]] | None = None
    field_list: list[list[Any]] | None = None
    create_if_missing: bool = True
    ids: list[str] | None = None
    metric: str | None = Field(None, description="Metric of a collection created by this insert.")


class InsertVectorsGlobal(InsertVectors):
    vectordb_id: uuid.UUID


class InsertVectorsResult(BaseModel):
    inserted_count: int
    ids: list[str]
    collection_name: str
    vectordb_id: uuid.UUID
    created_collection: bool


class QueryVectors(_Body):
    """`POST /context/vectordbs/{id}/query`.

    ``filter`` is the engine-neutral metadata filter (``params.filter`` is read too), e.g.
    ``{"source": "a.txt", "page": {"$gte": 2}, "lang": {"$in": ["en", "fr"]}}``.
    ``output_fields`` selects metadata fields (None or ``"*"``: all).
    """

    collection_name: str
    vectors: Vectors = Field(min_length=1)
    limit: int = Field(10, ge=1, le=MAX_LIMIT)
    params: dict[str, Any] | None = None
    output_fields: list[str] | None = None
    filter: Any = None
    score_threshold: float | None = Field(None, description="Drop hits scoring lower.")


class QueryVectorsGlobal(QueryVectors):
    vectordb_id: uuid.UUID


class SearchHit(BaseModel):
    id: str
    score: float = Field(description="Similarity: higher is better on every engine and metric.")
    metadata: dict[str, Any]
    query_index: int = Field(0, description="Which query vector this hit answers.")


class QueryVectorsResult(BaseModel):
    """Hits of every query vector, in query order, each query's best first."""

    results: list[SearchHit]
    collection_name: str
    vectordb_id: uuid.UUID


class DeleteVectors(_Body):
    """`POST /context/vectordbs/{id}/delete`: vectors by id, by metadata filter, or both.

    With both, only vectors matching both go. To empty a collection, delete the collection.
    """

    collection_name: str
    ids: list[str] | None = Field(None, max_length=MAX_DELETE_IDS)
    filter: Any = Field(None, description="Metadata filter, as in query (e.g. {source: a.md})")


class DeleteVectorsGlobal(DeleteVectors):
    vectordb_id: uuid.UUID


class DeleteVectorsResult(BaseModel):
    deleted_count: int = Field(description="How many vectors matched and were deleted.")
    collection_name: str
    vectordb_id: uuid.UUID


# ---- legacy /vectordb API --------------------------------------------------------------------
class LegacyCreateVectorDB(_Body):
    """`POST /vectordb/`. ``host``/``port`` are recorded by older platforms; waza places the
    data itself (embedded files or the configured server) and reports where."""

    name: str = Field(min_length=1, max_length=256)
    engine: str
    description: str = ""
    host: str = ""
    port: int = 0


class LegacyVectorDB(BaseModel):
    name: str
    engine: str
    description: str
    host: str
    port: int
    id: uuid.UUID
    created_at: datetime
    modified_at: datetime


class LegacyInsertVectors(_Body):
    collection_name: str
    vectors: Vectors
    metadata: list[dict[str, Any]] = Field(default_factory=list)
    dimensions: int | None = None
    field_list: list[list[Any]] | None = None


class LegacyInsertResult(BaseModel):
    rows_inserted: int


class LegacySearchVectors(_Body):
    """The collection's metric, fixed at creation, applies (``search_params`` is ignored)."""

    collection_name: str
    query_vectors: Vectors = Field(min_length=1)
    anns_field: str = "embedding"
    search_params: dict[str, Any] | None = None
    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    output_fields: list[str] | None = None
    filter: Any = None


class LegacySearchResult(BaseModel):
    id: str
    score: float
    metadata: dict[str, Any]


class LegacyCollectionDropped(BaseModel):
    collection_name: str
    dropped: bool
    message: str
