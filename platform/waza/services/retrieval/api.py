"""Routes of retrieval (digest §9): `/api/retrieval/jobs` (what kamiwaza-sdk 1.3 calls) and the
same routes under the spec's older `/api/retrieval/retrieval/jobs`.

Errors the SDK maps: 404 → DatasetNotFoundError, 403 → AuthorizationError, 422 →
TransportNotSupportedError (unsupported transport, inline payload too large, unreadable file).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from waza.gateway.bounds import MAX_OFFSET
from waza.gateway.deps import Context, CurrentUser
from waza.gateway.openapi import error_responses
from waza.services.retrieval import schemas

READ = error_responses(401, 403, 404)
WRITE = error_responses(400, 401, 403, 404, 409, 422, 503)
_DONE = object()


def _next(events: Iterator[tuple[str, dict[str, Any]]]) -> Any:
    return next(events, _DONE)


async def _sse(events: Iterator[tuple[str, dict[str, Any]]]) -> AsyncIterator[str]:
    """The blocking event generator, read on the thread pool, as SSE text."""
    try:
        while True:
            item = await run_in_threadpool(_next, events)
            if item is _DONE:
                return
            name, data = item
            yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            await run_in_threadpool(close)


def _routes(router: APIRouter, *, visible: bool) -> None:
    @router.post(
        "/jobs",
        response_model=schemas.RetrievalJob,
        status_code=status.HTTP_201_CREATED,
        responses=WRITE,
        include_in_schema=visible,
    )
    def create_job(
        ctx: Context, user: CurrentUser, body: schemas.RetrievalRequest
    ) -> schemas.RetrievalJob:
        """Read a cataloged dataset: `inline` rows now, or an `sse` job to stream."""
        return ctx.retrieval.create_job(user, body)

    @router.get(
        "/jobs",
        response_model=list[schemas.RetrievalJobStatus],
        responses=READ,
        include_in_schema=visible,
    )
    def list_jobs(
        ctx: Context,
        user: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> list[schemas.RetrievalJobStatus]:
        """Your retrieval jobs, newest first (admins: all)."""
        return ctx.retrieval.list_jobs(user, limit, offset)

    @router.get(
        "/jobs/{job_id}",
        response_model=schemas.RetrievalJobStatus,
        responses=READ,
        include_in_schema=visible,
    )
    def get_job(ctx: Context, user: CurrentUser, job_id: str) -> schemas.RetrievalJobStatus:
        """A job's status and progress."""
        return ctx.retrieval.get_job(user, job_id)

    @router.post(
        "/jobs/{job_id}/cancel",
        response_model=schemas.CancelResult,
        responses=WRITE,
        include_in_schema=visible,
    )
    def cancel_job(ctx: Context, user: CurrentUser, job_id: str) -> schemas.CancelResult:
        """Cancel a job that has not finished."""
        return ctx.retrieval.cancel(user, job_id)

    @router.get(
        "/jobs/{job_id}/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **READ, **error_responses(409)},
        include_in_schema=visible,
    )
    async def stream_job(ctx: Context, user: CurrentUser, job_id: str) -> StreamingResponse:
        """Server-sent events: `metadata`, then `rows` batches, then `complete` (or `error`,
        `cancelled`). Each `data:` line is a JSON object."""
        events = await run_in_threadpool(ctx.retrieval.open_stream, user, job_id)
        return StreamingResponse(
            _sse(events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


current = APIRouter(prefix="/retrieval", tags=["retrieval"])
_routes(current, visible=True)
legacy = APIRouter(prefix="/retrieval/retrieval", tags=["retrieval"])
_routes(legacy, visible=False)

router = APIRouter()
router.include_router(current)
router.include_router(legacy)
