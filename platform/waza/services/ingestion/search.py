"""Text queries over collections: the question is embedded with the platform's model and the
nearest chunks come back with their text and source (RAG query, `/context/search`,
`/context/retrieve`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from waza.errors import NotFound, Unprocessable, WazaError
from waza.gateway.principal import Principal
from waza.services.ingestion.schemas import Passage
from waza.services.vectordb.schemas import SearchHit

if TYPE_CHECKING:
    from waza.services.ingestion.service import IngestionService

SOURCE_KEYS = ("source", "filename", "offset", "catalog_urn", "chunk_index")


class NotImplementedYet(WazaError):
    """501: the feature needs a service that does not exist yet."""

    status_code = 501


def passage(hit: SearchHit, collection: str) -> Passage:
    meta = dict(hit.metadata)
    text = meta.pop("text", None)
    if text is None:
        text = meta.get("content") or meta.get("chunk") or ""

    def as_int(value: Any) -> int | None:
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return Passage(
        id=str(hit.id),
        text=str(text),
        score=hit.score,
        source=meta.get("source"),
        filename=meta.get("filename"),
        offset=as_int(meta.get("offset")),
        catalog_urn=meta.get("catalog_urn"),
        chunk_index=as_int(meta.get("chunk_index")),
        collection_name=collection,
        metadata=meta,
    )


def search(
    service: IngestionService,
    principal: Principal,
    query: str,
    *,
    collections: list[str] | None,
    top_k: int,
    score_threshold: float | None = None,
    vectordb_id: uuid.UUID | None = None,
    filter: dict[str, Any] | None = None,
) -> tuple[list[Passage], list[str], str]:
    """(best passages first, collections searched, embedding model name).

    Without `collections`, every collection of the vector DB whose dimension fits the model is
    searched. A caller with no vector DB yet gets no results; a named collection that does not
    exist is a 404.
    """
    if not query.strip():
        raise Unprocessable("query is empty: send the text to search for")
    model = service.embedding.model()
    vector = service.embedding.embed([query])[0]
    if service.vectors.resolve(principal, vectordb_id) is None:
        if collections:
            raise NotFound(f"Collection {collections[0]!r} not found (you have no vector DB yet)")
        return [], [], model.name
    if collections is None:
        names = [
            c.name
            for c in service.vectors.list_collections(principal, vectordb_id)
            if c.dimension == len(vector)
        ]
    else:
        names = list(dict.fromkeys(collections))
    found: list[Passage] = []
    for name in names:
        result = service.vectors.query_vectors(
            principal,
            vectordb_id,
            name,
            [vector],
            top_k,
            filter=filter,
            score_threshold=score_threshold,
        )
        found.extend(passage(h, name) for h in result.results)
    found.sort(key=lambda p: p.score, reverse=True)
    return found[:top_k], names, model.name
