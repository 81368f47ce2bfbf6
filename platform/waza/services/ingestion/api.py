"""Routes of ingestion (`/api/ingestion/...`, digest §10), the RAG pipeline
(`/api/ingestion/rag/...`) and text search over collections (`/api/context/search`,
`/api/context/retrieve`, digest §6; they live here because they need embeddings and vectors).

Every route needs a logged-in user except `GET /ingestion/health`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from waza.errors import WazaError
from waza.gateway.bounds import MAX_OFFSET
from waza.gateway.deps import Context, CurrentUser, ReaderUser
from waza.gateway.openapi import error_responses
from waza.gateway.principal import Principal
from waza.services.ingestion import schemas
from waza.services.ingestion.rag import TERMINAL
from waza.services.ingestion.service import IngestionService

READ = error_responses(401, 403, 404)
WRITE = error_responses(400, 401, 403, 404, 409, 422, 503)
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0

ingestion = APIRouter(prefix="/ingestion", tags=["ingestion"])
context = APIRouter(prefix="/context", tags=["context search"])


# ---- health and active ingestion ----------------------------------------------------------------
@ingestion.get("/health", response_model=schemas.IngestionHealth)
def health(ctx: Context) -> schemas.IngestionHealth:
    """Whether ingestion answers; the sources and file formats it takes (public)."""
    return ctx.ingestion.health()


@ingestion.post("/ingest/run", response_model=schemas.IngestResponse, responses=WRITE)
def run_active(
    ctx: Context, user: CurrentUser, body: schemas.ActiveIngestRequest
) -> schemas.IngestResponse:
    """Register what a `file` or `s3` source holds as catalog datasets, now."""
    return ctx.ingestion.run(user, body.source_type, body.kwargs)


@ingestion.post("/ingest/emit", response_model=schemas.MCPEmitResponse, responses=WRITE)
def emit(ctx: Context, user: CurrentUser, body: schemas.MCPEmitRequest) -> schemas.MCPEmitResponse:
    """Accept a DataHub metadata change proposal; stored, and forwarded when DataHub is set."""
    return ctx.ingestion.emit_mcp(user, body.mcp)


@ingestion.post("/ingest/jobs", response_model=schemas.OperationStatus, responses=WRITE)
def schedule_job(
    ctx: Context, user: CurrentUser, body: schemas.IngestJobCreate
) -> schemas.OperationStatus:
    """Store a named ingestion with a cron schedule (not executed automatically yet)."""
    return ctx.ingestion.schedule_job(user, body)


@ingestion.get("/ingest/jobs", response_model=list[schemas.IngestJobStatus], responses=READ)
def list_jobs(ctx: Context, user: CurrentUser) -> list[schemas.IngestJobStatus]:
    """Your scheduled ingestion jobs (admins: all)."""
    return ctx.ingestion.list_jobs(user)


@ingestion.post(
    "/ingest/jobs/{job_id}/run", response_model=schemas.IngestJobStatus, responses=WRITE
)
def run_job(ctx: Context, user: CurrentUser, job_id: str) -> schemas.IngestJobStatus:
    """Run a stored ingestion job now and record its outcome."""
    return ctx.ingestion.run_scheduled(user, job_id)


@ingestion.delete("/ingest/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE)
def delete_job(ctx: Context, user: CurrentUser, job_id: str) -> None:
    """Delete a stored ingestion job (the datasets it registered stay)."""
    ctx.ingestion.delete_job(user, job_id)


@ingestion.get("/ingest/status/{job_id}", response_model=schemas.IngestJobStatus, responses=READ)
def job_status(ctx: Context, user: CurrentUser, job_id: str) -> schemas.IngestJobStatus:
    """A stored job's last run: status, error count, registered URNs."""
    return ctx.ingestion.job_status(user, job_id)


# ---- RAG ----------------------------------------------------------------------------------------
@ingestion.post(
    "/rag/ingest",
    response_model=schemas.RagJob,
    status_code=status.HTTP_202_ACCEPTED,
    responses=WRITE,
)
def rag_ingest(ctx: Context, user: CurrentUser, body: schemas.RagIngestRequest) -> schemas.RagJob:
    """Start a background job: catalog each file, chunk, embed, insert into `collection`."""
    return ctx.ingestion.rag_ingest(user, body)


@ingestion.get("/rag/jobs", response_model=list[schemas.RagJob], responses=READ)
def rag_jobs(
    ctx: Context,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    status: str | None = None,
) -> list[schemas.RagJob]:
    """Your RAG jobs, newest first (admins: all)."""
    return ctx.ingestion.rag_jobs(user, limit, offset, status)


@ingestion.get("/rag/jobs/{job_id}", response_model=schemas.RagJob, responses=READ)
def rag_job(ctx: Context, user: CurrentUser, job_id: uuid.UUID) -> schemas.RagJob:
    """A RAG job's status and progress (files, bytes, chunks, vectors)."""
    return ctx.ingestion.rag_job(user, job_id)


@ingestion.post("/rag/jobs/{job_id}/cancel", response_model=schemas.RagJob, responses=WRITE)
def rag_cancel(ctx: Context, user: CurrentUser, job_id: uuid.UUID) -> schemas.RagJob:
    """Stop a job; it removes what it created and ends CANCELLED."""
    return ctx.ingestion.rag_cancel(user, job_id)


def sse(event: str, data: Any) -> str:
    """One server-sent event: `event:` and `data:` lines and a blank line."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


async def _rag_events(
    request: Request, service: IngestionService, user: Principal, job: schemas.RagJob
) -> AsyncIterator[str]:
    last: str | None = None
    idle = 0.0
    while True:
        payload = job.model_dump(mode="json")
        snapshot = json.dumps(payload, sort_keys=True)
        if snapshot != last:
            last, idle = snapshot, 0.0
            yield sse("progress", payload)
        elif idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"
        if job.status in TERMINAL:
            yield sse(job.status.lower(), payload)
            return
        await asyncio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS
        if await request.is_disconnected():
            return
        try:
            job = await run_in_threadpool(service.rag_job, user, job.id)
        except WazaError as exc:
            yield sse("error", {"detail": exc.detail})
            return


@ingestion.get(
    "/rag/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **READ},
)
async def rag_events(
    request: Request, ctx: Context, user: CurrentUser, job_id: uuid.UUID
) -> StreamingResponse:
    """Server-sent events: `progress` on every change, then `completed`, `failed` or
    `cancelled` with the final job."""
    job = await run_in_threadpool(ctx.ingestion.rag_job, user, job_id)
    return StreamingResponse(
        _rag_events(request, ctx.ingestion, user, job),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@ingestion.post(
    "/rag/query",
    response_model=schemas.RagAnswer,
    responses=error_responses(400, 401, 403, 404, 409, 422, 502, 503),
)
def rag_query(ctx: Context, user: ReaderUser, body: schemas.RagQuery) -> schemas.RagAnswer:
    """The chunks nearest to a question, with text, score and source.

    With `deployment_id` (a DEPLOYED chat deployment you may use), the best chunks are given to
    it as numbered sources and its answer comes back in `answer`, with those chunks in `sources`
    (cited as [n]) and the call's token `usage`. Unknown deployment 404, another user's private
    one 403, not DEPLOYED 409, one that does not chat (an embedding deployment) 400, a failing
    replica 502."""
    return ctx.ingestion.rag_query(user, body)


# ---- /context text search ---------------------------------------------------------------------
@context.post("/search", response_model=schemas.ContextSearchResponse, responses=WRITE)
def context_search(
    ctx: Context, user: ReaderUser, body: schemas.ContextSearchRequest
) -> schemas.ContextSearchResponse:
    """Embed `query` and return the nearest chunks (`results`), from one collection or all."""
    return ctx.ingestion.context_search(user, body)


@context.post("/retrieve", response_model=schemas.ContextRetrieveResponse, responses=WRITE)
def context_retrieve(
    ctx: Context, user: ReaderUser, body: schemas.ContextRetrieveRequest
) -> schemas.ContextRetrieveResponse:
    """Passages for a query (`sources`), at least `score_threshold` similar (default 0.7)."""
    return ctx.ingestion.context_retrieve(user, body)


router = APIRouter()
router.include_router(ingestion)
router.include_router(context)
