"""Text queries over collections: the question is embedded (with the platform's model unless the
caller names the one the collection was built with) and the nearest chunks come back with their
text and source (RAG query, `/context/search`, `/context/retrieve`).

A grounded answer (RAG query with `deployment_id`): the best chunks that fit a character budget
become numbered sources (`[n] filename, offset N` and the text) in one user message after a
system message asking for an answer from those sources only, with citations; the chat deployment
answers at the caller's temperature (default 0), and the answer comes back with the sources it
was given. The deployment is called in-process through its Ray Serve handle, with the serving
rules (unknown 404, private to another user 403, not DEPLOYED 409, no chat engine 400) and its
usage counted as `rag_answer`.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from waza.errors import BadRequest, NotFound, ServiceUnavailable, Unprocessable
from waza.gateway.principal import Principal
from waza.services.embedding.providers import call_result, record_usage, serves
from waza.services.ingestion.schemas import Passage, RagQuery, RagSource, TokenUsage
from waza.services.vectordb.schemas import SearchHit

if TYPE_CHECKING:
    from waza.services.ingestion.service import IngestionService
    from waza.services.serving.service import RuntimeTarget, ServingService

SOURCE_KEYS = ("source", "filename", "offset", "catalog_urn", "chunk_index")

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources given with the question. Cite the "
    "sources you use as [1], [2]. If the sources do not contain the answer, say that you do "
    "not know."
)
ANSWER_TIMEOUT_S = 120.0


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
    model: str | None = None,
    provider_type: str | None = None,
) -> tuple[list[Passage], list[str], str]:
    """(best passages first, collections searched, embedding model name).

    Without `collections`, every collection of the vector DB whose dimension fits the model is
    searched. A caller with no vector DB yet gets no results; a named collection that does not
    exist is a 404. `model`/`provider_type` choose the embedding model (default the platform's).
    """
    if not query.strip():
        raise Unprocessable("query is empty: send the text to search for")
    chosen = service.embedding.model(model, provider_type, principal)
    vector = chosen.encode([query], 1)[0].tolist()
    if service.vectors.resolve(principal, vectordb_id) is None:
        if collections:
            raise NotFound(f"Collection {collections[0]!r} not found (you have no vector DB yet)")
        return [], [], chosen.name
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
    return found[:top_k], names, chosen.name


# ---- grounded answers ---------------------------------------------------------------------------
def chat_target(
    serving: ServingService | None, principal: Principal, deployment_id: str
) -> RuntimeTarget:
    """The chat deployment a RAG query names, checked by the serving rules before any search."""
    if serving is None:
        raise ServiceUnavailable("Grounded answers need the serving service, which is not running")
    try:
        dep_id = uuid.UUID(deployment_id.strip())
    except ValueError:
        raise NotFound(f"Deployment {deployment_id} not found") from None
    target = serving.runtime_target(principal, dep_id)
    if not serves(target.engine, "chat"):
        raise BadRequest(
            f"Deployment {dep_id} ({target.name}) runs the {target.engine} engine, which does not "
            "chat: name a chat deployment for the answer"
        )
    return target


def grounded_prompt(
    question: str, passages: list[Passage], max_chars: int
) -> tuple[list[dict[str, str]], list[RagSource]]:
    """Chat messages asking `question` of numbered sources, and the sources, in prompt order.

    The best passages go in whole while their text fits `max_chars`; the first one is cut to fit
    when it alone is longer.
    """
    parts: list[str] = []
    sources: list[RagSource] = []
    room = max_chars
    for found in passages:
        text = found.text.strip()
        if not text:
            continue
        if len(text) > room:
            if sources:
                break
            text = text[:room].rstrip() + " …"
        number = len(sources) + 1
        label = found.filename or found.source or found.id
        where = f", offset {found.offset}" if found.offset is not None else ""
        parts.append(f"[{number}] {label}{where}\n{text}")
        sources.append(RagSource(**found.model_dump(), number=number))
        room -= len(text)
    user = "Sources:\n\n" + "\n\n".join(parts) + f"\n\nQuestion: {question.strip()}"
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    return messages, sources


def grounded_answer(
    serving: ServingService,
    principal: Principal,
    target: RuntimeTarget,
    body: RagQuery,
    passages: list[Passage],
) -> dict[str, Any]:
    """The `RagAnswer` fields of the deployment's answer from `passages` (none: no call)."""
    fields: dict[str, Any] = {"deployment_id": target.id, "answer_model": target.name}
    messages, sources = grounded_prompt(body.question, passages, body.max_context_chars)
    if not sources:
        return fields
    payload = {
        "model": target.name,
        "messages": messages,
        "max_tokens": body.max_tokens,
        "temperature": body.temperature,
    }
    started, ok = time.perf_counter(), False
    prompt_tokens = completion_tokens = 0
    try:
        reply = call_result(target, target.handle.chat.remote(payload), ANSWER_TIMEOUT_S)
        usage = reply.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        choice = (reply.get("choices") or [{}])[0]
        ok = True
    finally:
        record_usage(
            serving, principal, target, "rag_answer", prompt_tokens, completion_tokens, started, ok
        )
    fields.update(
        answer=str((choice.get("message") or {}).get("content") or ""),
        sources=sources,
        finish_reason=choice.get("finish_reason"),
        usage=TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
    )
    return fields
