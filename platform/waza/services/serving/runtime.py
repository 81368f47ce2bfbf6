"""OpenAI-compatible runtime routes: ``/runtime/models/{deployment_id}/v1/...`` (outside /api).

They take the same bearer tokens as the API, call the deployment through a Ray Serve handle (Ray
is never exposed), stream over SSE in OpenAI's chunk format, and record token usage and timings
per user. Any ``model`` string is accepted: the deployment id in the path picks the model. When
the client disconnects mid-stream the handle call is cancelled, which stops generation in the
replica. Errors carry both OpenAI's ``{"error": {...}}`` and waza's ``detail``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from waza.errors import WazaError
from waza.gateway.deps import Context, ReaderUser
from waza.gateway.openapi import error_responses
from waza.gateway.principal import Principal
from waza.services.serving import openai_format as oa
from waza.services.serving.service import RuntimeTarget
from waza.services.serving.usage import UsageRecord

RESPONSES = error_responses(400, 401, 403, 404, 409, 502, 503)
router = APIRouter(prefix="/runtime/models/{deployment_id}/v1", tags=["runtime (OpenAI)"])

_ENGINE_STATUS = {"UNSUPPORTED_OPERATION": 400, "INVALID_REQUEST": 400, "OOM": 503}


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = oa.error_body(message, type=kind, code=code)
    body["detail"] = message
    return JSONResponse(body, status_code=status)


async def _body(request: Request, model: type[Any]) -> Any:
    try:
        raw = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise _BadBody("The request body must be JSON") from None
    try:
        return model.model_validate(raw)
    except (ValidationError, ValueError) as exc:
        raise _BadBody(_validation_message(exc)) from None


class _BadBody(Exception):
    pass


def _validation_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return "; ".join(parts)
    return str(exc)


async def _target(ctx: Any, user: Principal, deployment_id: str) -> RuntimeTarget:
    try:
        dep_id = uuid.UUID(deployment_id)
    except ValueError:
        from waza.errors import NotFound

        raise NotFound(f"Deployment {deployment_id} not found") from None
    cached = ctx.serving.cached_target(user, dep_id)
    if cached is not None:  # the common case: no thread hop, no database read
        return cached
    return await run_in_threadpool(ctx.serving.runtime_target, user, dep_id)


async def _call(
    request: Request,
    ctx: Any,
    user: Principal,
    deployment_id: str,
    request_model: type[Any],
    endpoint: str,
    method: str,
) -> Response:
    started = time.perf_counter()
    try:
        req = await _body(request, request_model)
        target = await _target(ctx, user, deployment_id)
    except _BadBody as exc:
        return _error(400, str(exc))
    except WazaError as exc:
        return _error(exc.status_code, str(exc.detail))
    payload = req.model_dump(mode="json", exclude_none=True)
    stream = bool(getattr(req, "stream", False))

    def record(prompt: int, completion: int, ttft: float | None, status: str) -> None:
        ctx.serving.usage.record(
            UsageRecord(
                user_id=user.user_id,
                deployment_id=target.id,
                endpoint=endpoint,
                stream=stream,
                prompt_tokens=prompt,
                completion_tokens=completion,
                duration_ms=(time.perf_counter() - started) * 1000.0,
                ttft_ms=ttft,
                status=status,
            )
        )

    if stream:
        include_usage = bool(getattr(req, "include_usage", False))
        obj = "chat.completion.chunk" if endpoint == "chat" else "text_completion"
        gen = getattr(target.handle.options(stream=True), f"{method}_stream").remote(payload)
        return StreamingResponse(
            _sse(gen, target, started, include_usage, obj, record),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        result = await getattr(target.handle, method).remote(payload)
    except Exception as exc:
        record(0, 0, None, "error")
        return _error(502, f"the model replica failed: {type(exc).__name__}: {exc}")
    if "error" in result:
        err = result["error"]
        record(0, 0, None, "error")
        return _error(_ENGINE_STATUS.get(err["code"], 502), err["message"], err["code"])
    usage = result.get("usage") or {}
    record(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), None, "ok")
    return JSONResponse(result)


async def _sse(
    gen: Any,
    target: RuntimeTarget,
    started: float,
    include_usage: bool,
    obj: str,
    record: Callable[[int, int, float | None, str], None],
) -> AsyncIterator[str]:
    ttft: float | None = None
    prompt = completion = 0
    status = "cancelled"
    try:
        async for item in gen:
            if isinstance(item, str):  # one or more SSE events, ready to send
                if ttft is None:
                    ttft = (time.perf_counter() - started) * 1000.0
                yield item
                continue
            if "error" in item:
                status = "error"
                yield f"data: {json.dumps(oa.error_body(item['error']['message']))}\n\n"
                break
            usage = item["usage"]
            prompt, completion = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
            status = "ok"
            if include_usage:
                chunk = oa.usage_chunk(
                    usage["id"], target.name, usage["created"], prompt, completion, object=obj
                )
                yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"
    except Exception as exc:
        status = "error"
        yield f"data: {json.dumps(oa.error_body(f'the model replica failed: {exc}'))}\n\n"
    finally:
        if status == "cancelled":
            gen.cancel()  # the client went away: stop generating in the replica
        record(prompt, completion, ttft, status)


@router.post("/chat/completions", responses=RESPONSES)
async def chat_completions(
    request: Request, ctx: Context, user: ReaderUser, deployment_id: str
) -> Response:
    """OpenAI chat completions (set `stream` for SSE chunks)."""
    return await _call(request, ctx, user, deployment_id, oa.ChatCompletionRequest, "chat", "chat")


@router.post("/completions", responses=RESPONSES)
async def completions(
    request: Request, ctx: Context, user: ReaderUser, deployment_id: str
) -> Response:
    """OpenAI text completions (set `stream` for SSE chunks)."""
    return await _call(
        request, ctx, user, deployment_id, oa.CompletionRequest, "completion", "complete"
    )


@router.post("/embeddings", responses=RESPONSES)
async def embeddings(
    request: Request, ctx: Context, user: ReaderUser, deployment_id: str
) -> Response:
    """OpenAI embeddings (`encoding_format` float or base64)."""
    return await _call(request, ctx, user, deployment_id, oa.EmbeddingRequest, "embedding", "embed")


@router.get("/models", responses=RESPONSES)
async def models(ctx: Context, user: ReaderUser, deployment_id: str) -> Response:
    """The model this deployment serves, as OpenAI's model list."""
    try:
        dep_id = uuid.UUID(deployment_id)
        found = await run_in_threadpool(ctx.serving.runtime_models, user, dep_id)
    except ValueError:
        return _error(404, f"Deployment {deployment_id} not found")
    except WazaError as exc:
        return _error(exc.status_code, str(exc.detail))
    return JSONResponse(oa.model_list(found))
