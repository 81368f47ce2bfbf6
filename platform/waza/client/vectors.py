"""`client.vectors`: vector DBs, collections, inserts and searches (`/api/context/...`).

    db = client.vectors.create_db("notes", engine="qdrant")
    client.vectors.insert(db.id, "chunks", vectors, [{"source": "a.txt"}, ...])
    hits = client.vectors.search(db.id, "chunks", [query], limit=5, filter={"source": "a.txt"})

Scores are similarities: higher is better on every engine and metric.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_json

from waza.client.base import Transport, drop_none
from waza.services.vectordb import schemas

DbId = uuid.UUID | str
_JSON_TYPE = {"Content-Type": "application/json"}


def json_body(body: dict[str, Any]) -> dict[str, Any]:
    """Request arguments sending `body` as JSON, written by pydantic's serializer: on vectors of
    floats ~10x faster than httpx's ``json=``. A body with NaN or an infinity goes through
    ``json=`` as before (which refuses it)."""
    content = to_json(body, inf_nan_mode="constants")
    if b"NaN" in content or b"Infinity" in content:
        return {"json": body}
    return {"content": content, "headers": _JSON_TYPE}


class VectorsAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def health(self) -> schemas.ContextHealth:
        return self._t.parse(schemas.ContextHealth, "GET", "context/health", auth=False)

    # ---- vector DBs ---------------------------------------------------------------------------
    def list_dbs(self, *, engine: str | None = None) -> list[schemas.VectorDBInstance]:
        """Vector DBs you may read (your own and shared ones; admins: all)."""
        return self._t.parse(
            list[schemas.VectorDBInstance],
            "GET",
            "context/vectordbs",
            params=drop_none(engine=engine),
        )

    def create_db(
        self,
        name: str,
        *,
        engine: str | None = None,
        shared: bool = False,
        description: str = "",
        config: dict[str, Any] | None = None,
    ) -> schemas.VectorDBInstance:
        """Create a vector DB (engine: ``milvus`` or ``qdrant``; default: the platform's)."""
        body = schemas.CreateVectorDB(
            name=name, engine=engine, shared=shared, description=description, config=config
        )
        return self._t.parse(
            schemas.VectorDBInstance,
            "POST",
            "context/vectordbs",
            json=body.model_dump(exclude_none=True),
        )

    def get_db(self, db_id: DbId) -> schemas.VectorDBInstance:
        return self._t.parse(schemas.VectorDBInstance, "GET", f"context/vectordbs/{db_id}")

    def update_db(
        self,
        db_id: DbId,
        *,
        shared: bool | None = None,
        description: str | None = None,
        config: dict[str, Any] | None = None,
        replicas: int | None = None,
    ) -> schemas.VectorDBInstance:
        body = drop_none(shared=shared, description=description, config=config, replicas=replicas)
        return self._t.parse(
            schemas.VectorDBInstance, "PUT", f"context/vectordbs/{db_id}", json=body
        )

    def delete_db(self, db_id: DbId) -> schemas.VectorDBDeleted:
        """Delete a vector DB and all its data."""
        return self._t.parse(schemas.VectorDBDeleted, "DELETE", f"context/vectordbs/{db_id}")

    # ---- collections ----------------------------------------------------------------------------
    def list_collections(self, db_id: DbId | None = None) -> list[schemas.Collection]:
        """Collections of a DB (default: your default DB)."""
        params = drop_none(vectordb_id=str(db_id) if db_id else None)
        return self._t.parse(list[schemas.Collection], "GET", "context/collections/", params=params)

    def create_collection(
        self,
        name: str,
        dimension: int,
        *,
        db_id: DbId | None = None,
        metric: str | None = None,
        description: str | None = None,
    ) -> schemas.Collection:
        body = drop_none(
            name=name,
            dimension=dimension,
            vectordb_id=str(db_id) if db_id else None,
            metric=metric,
            description=description,
        )
        return self._t.parse(schemas.Collection, "POST", "context/collections/", json=body)

    def get_collection(self, name: str, *, db_id: DbId | None = None) -> schemas.Collection:
        params = drop_none(vectordb_id=str(db_id) if db_id else None)
        return self._t.parse(
            schemas.Collection, "GET", f"context/collections/{name}", params=params
        )

    def delete_collection(
        self, name: str, *, db_id: DbId | None = None
    ) -> schemas.CollectionDeleted:
        params = drop_none(vectordb_id=str(db_id) if db_id else None)
        return self._t.parse(
            schemas.CollectionDeleted, "DELETE", f"context/collections/{name}", params=params
        )

    # ---- vectors --------------------------------------------------------------------------------
    def insert(
        self,
        db_id: DbId,
        collection: str,
        vectors: Sequence[Sequence[float]],
        metadata: Sequence[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        create_if_missing: bool = True,
        metric: str | None = None,
    ) -> schemas.InsertVectorsResult:
        """Insert vectors (the collection is created on first insert unless told otherwise)."""
        body = drop_none(
            collection_name=collection,
            vectors=[list(map(float, v)) for v in vectors],
            metadata=list(metadata) if metadata is not None else None,
            ids=list(ids) if ids is not None else None,
            create_if_missing=create_if_missing,
            metric=metric,
        )
        return self._t.parse(
            schemas.InsertVectorsResult,
            "POST",
            f"context/vectordbs/{db_id}/insert",
            **json_body(body),
        )

    def search(
        self,
        db_id: DbId,
        collection: str,
        vectors: Sequence[Sequence[float]],
        *,
        limit: int = 10,
        filter: dict[str, Any] | None = None,
        output_fields: Sequence[str] | None = None,
        score_threshold: float | None = None,
    ) -> list[schemas.SearchHit]:
        """Nearest vectors of each query vector (``hit.query_index`` says which)."""
        body = drop_none(
            collection_name=collection,
            vectors=[list(map(float, v)) for v in vectors],
            limit=limit,
            filter=filter,
            output_fields=list(output_fields) if output_fields is not None else None,
            score_threshold=score_threshold,
        )
        result: schemas.QueryVectorsResult = self._t.parse(
            schemas.QueryVectorsResult,
            "POST",
            f"context/vectordbs/{db_id}/query",
            **json_body(body),
        )
        return result.results

    def delete_vectors(
        self,
        db_id: DbId,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        filter: dict[str, Any] | None = None,
    ) -> int:
        """Delete vectors by id and/or metadata filter (both: their intersection); how many."""
        body = drop_none(
            collection_name=collection,
            ids=list(ids) if ids is not None else None,
            filter=filter,
        )
        result: schemas.DeleteVectorsResult = self._t.parse(
            schemas.DeleteVectorsResult, "POST", f"context/vectordbs/{db_id}/delete", json=body
        )
        return result.deleted_count
