"""Routes of the vector DB service: kamiwaza-sdk 1.3's `client.context` vector routes
(`/api/context/vectordbs...`, `/api/context/collections...`) and the legacy `/api/vectordb/...`
API of SDK ≤ 0.9 (digest §6).

Every route needs a logged-in user except `GET /context/health`. Calls without a vector DB id
(the legacy routes, `/context/collections` without `vectordb_id`) use the caller's default DB.

Search and insert are the hot path: their bodies are parsed by pydantic's JSON parser and their
answers go out already serialised (`waza.gateway.fastjson`); ``response_model=`` documents them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, status

from waza.errors import BadRequest
from waza.gateway.deps import Context, CurrentUser, ReaderUser
from waza.gateway.fastjson import FastJSONRoute, ModelResponse
from waza.gateway.openapi import error_responses
from waza.gateway.principal import Principal
from waza.services.vectordb import schemas

READ = error_responses(401, 403, 404)
WRITE = error_responses(400, 401, 403, 404, 409, 422, 503)

WorkroomHeader = Annotated[
    str | None,
    Header(alias="X-Workroom-ID", description="Workroom scope (recorded; filters lists)"),
]
VectorDBQuery = Annotated[
    uuid.UUID | None, Query(description="The vector DB; default: the caller's default DB")
]

EngineQuery = Annotated[
    Literal["milvus", "qdrant"] | None, Query(description="Only vector DBs of this engine")
]

context = APIRouter(prefix="/context", tags=["vectordb"], route_class=FastJSONRoute)
legacy = APIRouter(prefix="/vectordb", tags=["vectordb (legacy)"], route_class=FastJSONRoute)


# ---- health -----------------------------------------------------------------------------------
@context.get("/health", response_model=schemas.ContextHealth)
def context_health(ctx: Context) -> schemas.ContextHealth:
    """Whether the context (vector DB) service answers, and which engines it uses (public)."""
    return ctx.vectors.health()


# ---- vector DBs -------------------------------------------------------------------------------
@context.get("/vectordbs", response_model=list[schemas.VectorDBInstance], responses=READ)
def list_vectordbs(
    ctx: Context,
    user: CurrentUser,
    workroom: WorkroomHeader = None,
    engine: EngineQuery = None,
) -> list[schemas.VectorDBInstance]:
    """Vector DBs the caller may read: own and shared (admins: all), oldest first."""
    return ctx.vectors.list_vectordbs(user, workroom_id=workroom, engine=engine)


@context.post(
    "/vectordbs",
    response_model=schemas.VectorDBInstance,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_vectordb(
    ctx: Context, user: CurrentUser, body: schemas.CreateVectorDB, workroom: WorkroomHeader = None
) -> schemas.VectorDBInstance:
    """Create a vector DB; it is ``running`` with its ``endpoint`` when this returns."""
    return ctx.vectors.create_vectordb(user, body, workroom)


@context.post("/vectordbs/insert", response_model=schemas.InsertVectorsResult, responses=WRITE)
def insert_vectors_global(
    ctx: Context, user: CurrentUser, body: schemas.InsertVectorsGlobal
) -> ModelResponse:
    """Insert vectors into a collection of the DB named in the body."""
    return ModelResponse(_insert(ctx, user, body.vectordb_id, body))


@context.post("/vectordbs/query", response_model=schemas.QueryVectorsResult, responses=WRITE)
def query_vectors_global(
    ctx: Context, user: ReaderUser, body: schemas.QueryVectorsGlobal
) -> ModelResponse:
    """Search a collection of the DB named in the body."""
    return ModelResponse(search(ctx, user, body.vectordb_id, body))


@context.post("/vectordbs/delete", response_model=schemas.DeleteVectorsResult, responses=WRITE)
def delete_vectors_global(
    ctx: Context, user: CurrentUser, body: schemas.DeleteVectorsGlobal
) -> schemas.DeleteVectorsResult:
    """Delete vectors (by id and/or metadata filter) from a collection of the DB in the body."""
    return _delete(ctx, user, body.vectordb_id, body)


@context.get("/vectordbs/{vectordb_id}", response_model=schemas.VectorDBInstance, responses=READ)
def get_vectordb(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID
) -> schemas.VectorDBInstance:
    """One vector DB with its ``status`` and ``endpoint``."""
    return ctx.vectors.get_vectordb(user, vectordb_id)


@context.put("/vectordbs/{vectordb_id}", response_model=schemas.VectorDBInstance, responses=WRITE)
def update_vectordb(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID, body: schemas.UpdateVectorDB
) -> schemas.VectorDBInstance:
    """Change config, replicas, sharing or description (owner or admin)."""
    return ctx.vectors.update_vectordb(user, vectordb_id, body)


@context.post(
    "/vectordbs/{vectordb_id}/scale", response_model=schemas.VectorDBInstance, responses=WRITE
)
def scale_vectordb(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID, body: schemas.ScaleVectorDB
) -> schemas.VectorDBInstance:
    """Record the requested replicas; ``replica_note`` says what actually serves."""
    return ctx.vectors.scale_vectordb(user, vectordb_id, body.replicas)


@context.delete("/vectordbs/{vectordb_id}", response_model=schemas.VectorDBDeleted, responses=WRITE)
def delete_vectordb(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID
) -> schemas.VectorDBDeleted:
    """Delete a vector DB and all its data (owner or admin)."""
    return ctx.vectors.delete_vectordb(user, vectordb_id)


@context.post(
    "/vectordbs/{vectordb_id}/insert", response_model=schemas.InsertVectorsResult, responses=WRITE
)
def insert_vectors(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID, body: schemas.InsertVectors
) -> ModelResponse:
    """Insert vectors with metadata; a missing collection is created with their dimension."""
    return ModelResponse(_insert(ctx, user, vectordb_id, body))


@context.post(
    "/vectordbs/{vectordb_id}/query", response_model=schemas.QueryVectorsResult, responses=WRITE
)
def query_vectors(
    ctx: Context, user: ReaderUser, vectordb_id: uuid.UUID, body: schemas.QueryVectors
) -> ModelResponse:
    """Nearest vectors per query vector; scores are similarities (higher is better)."""
    return ModelResponse(search(ctx, user, vectordb_id, body))


@context.post(
    "/vectordbs/{vectordb_id}/delete", response_model=schemas.DeleteVectorsResult, responses=WRITE
)
def delete_vectors(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID, body: schemas.DeleteVectors
) -> schemas.DeleteVectorsResult:
    """Delete vectors by id, by metadata filter (as in query), or both; returns how many."""
    return _delete(ctx, user, vectordb_id, body)


def _delete(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID | None, body: schemas.DeleteVectors
) -> schemas.DeleteVectorsResult:
    return ctx.vectors.delete_vectors(
        user, vectordb_id, body.collection_name, ids=body.ids, filter=body.filter
    )


def _insert(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID | None, body: schemas.InsertVectors
) -> schemas.InsertVectorsResult:
    return ctx.vectors.insert_vectors(
        user,
        vectordb_id,
        body.collection_name,
        body.vectors,
        body.metadata,
        create_if_missing=body.create_if_missing,
        ids=body.ids,
        metric=body.metric,
    )


def search(
    ctx: Context, user: Principal, vectordb_id: uuid.UUID | None, body: schemas.QueryVectors
) -> schemas.QueryVectorsResult:
    """What every search route runs (also `hotpath.SearchHotPath`); ``params.filter`` and
    ``params.expr`` stand in for ``filter``."""
    flt = body.filter
    if flt is None and body.params:
        flt = body.params.get("filter", body.params.get("expr"))
    return ctx.vectors.query_vectors(
        user,
        vectordb_id,
        body.collection_name,
        body.vectors,
        body.limit,
        filter=flt,
        output_fields=body.output_fields,
        score_threshold=body.score_threshold,
    )


# ---- collections -----------------------------------------------------------------------------
@context.get("/collections/", response_model=list[schemas.Collection], responses=READ)
@context.get("/collections", include_in_schema=False)
def list_collections(
    ctx: Context, user: CurrentUser, vectordb_id: VectorDBQuery = None
) -> list[schemas.Collection]:
    """Collections of a vector DB with dimension, metric and vector count."""
    return ctx.vectors.list_collections(user, vectordb_id)


@context.post(
    "/collections/",
    response_model=schemas.Collection,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
@context.post(
    "/collections",
    status_code=status.HTTP_201_CREATED,
    include_in_schema=False,
)
def create_collection(
    ctx: Context, user: CurrentUser, body: schemas.CreateCollection
) -> schemas.Collection:
    """Create an empty collection (409 when the name is taken)."""
    return ctx.vectors.create_collection(user, body)


@context.get("/collections/{name}", response_model=schemas.Collection, responses=READ)
def get_collection(
    ctx: Context, user: CurrentUser, name: str, vectordb_id: VectorDBQuery = None
) -> schemas.Collection:
    """One collection: dimension, metric, description and vector count."""
    return ctx.vectors.get_collection(user, name, vectordb_id)


@context.delete("/collections/{name}", response_model=schemas.CollectionDeleted, responses=WRITE)
def delete_collection(
    ctx: Context, user: CurrentUser, name: str, vectordb_id: VectorDBQuery = None
) -> schemas.CollectionDeleted:
    """Drop a collection and its vectors."""
    return ctx.vectors.drop_collection(user, name, vectordb_id)


# ---- legacy /vectordb ------------------------------------------------------------------------
@legacy.post("/", response_model=schemas.LegacyVectorDB, status_code=201, responses=WRITE)
@legacy.post("", status_code=201, include_in_schema=False)
def legacy_create(
    ctx: Context, user: CurrentUser, body: schemas.LegacyCreateVectorDB
) -> schemas.LegacyVectorDB:
    """Create a vector DB (``host``/``port`` are ignored: waza places the data)."""
    created = ctx.vectors.create_vectordb(
        user,
        schemas.CreateVectorDB(name=body.name, engine=body.engine, description=body.description),
    )
    return ctx.vectors.legacy(created)


@legacy.get("/", response_model=list[schemas.LegacyVectorDB], responses=READ)
@legacy.get("", include_in_schema=False)
def legacy_list(
    ctx: Context, user: CurrentUser, engine: EngineQuery = None
) -> list[schemas.LegacyVectorDB]:
    """Vector DBs the caller may read, optionally of one engine."""
    return [ctx.vectors.legacy(i) for i in ctx.vectors.list_vectordbs(user, engine=engine)]


@legacy.get("/collections", response_model=list[str], responses=READ)
def legacy_collections(ctx: Context, user: CurrentUser) -> list[str]:
    """Collection names of the caller's default vector DB."""
    return ctx.vectors.collection_names(user)


@legacy.delete(
    "/collections/{collection_name}",
    response_model=schemas.LegacyCollectionDropped,
    responses=WRITE,
)
def legacy_drop_collection(
    ctx: Context, user: CurrentUser, collection_name: str
) -> schemas.LegacyCollectionDropped:
    """Drop a collection of the caller's default vector DB."""
    ctx.vectors.drop_collection(user, collection_name)
    return schemas.LegacyCollectionDropped(
        collection_name=collection_name,
        dropped=True,
        message=f"Collection {collection_name} dropped",
    )


@legacy.post("/insert_vectors", response_model=schemas.LegacyInsertResult, responses=WRITE)
def legacy_insert(
    ctx: Context, user: CurrentUser, body: schemas.LegacyInsertVectors
) -> schemas.LegacyInsertResult:
    """Insert into the caller's default vector DB (the collection is created if missing)."""
    if body.dimensions is not None and body.vectors and len(body.vectors[0]) != body.dimensions:
        raise BadRequest(
            f"dimensions is {body.dimensions} but the vectors have {len(body.vectors[0])}"
        )
    result = ctx.vectors.insert_vectors(
        user, None, body.collection_name, body.vectors, body.metadata or None
    )
    return schemas.LegacyInsertResult(rows_inserted=result.inserted_count)


@legacy.post("/search_vectors", response_model=list[schemas.LegacySearchResult], responses=WRITE)
def legacy_search(
    ctx: Context, user: ReaderUser, body: schemas.LegacySearchVectors
) -> ModelResponse:
    """Search the caller's default vector DB; results of all query vectors, in order."""
    found = ctx.vectors.query_vectors(
        user,
        None,
        body.collection_name,
        body.query_vectors,
        body.limit,
        filter=body.filter,
        output_fields=body.output_fields,
    )
    return ModelResponse(
        [
            schemas.LegacySearchResult(id=h.id, score=h.score, metadata=h.metadata)
            for h in found.results
        ]
    )


@legacy.get("/{vectordb_id}", response_model=schemas.LegacyVectorDB, responses=READ)
def legacy_get(ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID) -> schemas.LegacyVectorDB:
    return ctx.vectors.legacy(ctx.vectors.get_vectordb(user, vectordb_id))


@legacy.delete("/{vectordb_id}", response_model=schemas.VectorDBDeleted, responses=WRITE)
def legacy_delete(
    ctx: Context, user: CurrentUser, vectordb_id: uuid.UUID
) -> schemas.VectorDBDeleted:
    """Delete a vector DB and all its data (owner or admin)."""
    return ctx.vectors.delete_vectordb(user, vectordb_id)


router = APIRouter()
router.include_router(context)
router.include_router(legacy)
