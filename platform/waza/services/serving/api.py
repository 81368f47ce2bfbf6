"""Routes of the serving service (digest §5): deploy, inspect, stop, logs, usage, Ray status.

The OpenAI-compatible runtime routes live outside `/api` in `waza.services.serving.runtime`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from waza.gateway.deps import AdminUser, Context, CurrentUser, ReaderUser
from waza.gateway.openapi import error_responses
from waza.services.serving import schemas

READ = error_responses(401, 403, 404)
WRITE = error_responses(400, 401, 403, 404, 409, 503)

router = APIRouter(prefix="/serving", tags=["serving"])


@router.post("/deploy_model", response_model=str, responses=WRITE)
def deploy_model(ctx: Context, user: CurrentUser, body: schemas.CreateModelDeployment) -> str:
    """Deploy a model; answers at once with the deployment id (a bare JSON string) to poll."""
    return str(ctx.serving.deploy(user, body))


@router.get("/deployments", response_model=list[schemas.UIModelDeployment], responses=READ)
def list_deployments(
    ctx: Context, user: CurrentUser, model_id: uuid.UUID | None = None
) -> list[schemas.UIModelDeployment]:
    """Deployments the caller may see (own and non-private; admins all), newest first."""
    return ctx.serving.list_deployments(user, model_id)


@router.get("/deployment/{deployment_id}", response_model=schemas.UIModelDeployment, responses=READ)
def get_deployment(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID
) -> schemas.UIModelDeployment:
    return ctx.serving.get(user, deployment_id)


@router.get("/deployment/{deployment_id}/status", response_model=str, responses=READ)
def get_deployment_status(ctx: Context, user: CurrentUser, deployment_id: uuid.UUID) -> str:
    """The status alone, as a bare string such as "DEPLOYED"."""
    return ctx.serving.status(user, deployment_id)


@router.delete("/deployment/{deployment_id}", response_model=bool, responses=WRITE)
def stop_deployment(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID, force: bool = False
) -> bool:
    """Stop: graceful (drains in-flight requests) or `force` (kills the replicas at once)."""
    return ctx.serving.stop(user, deployment_id, force)


@router.get("/model_instances", response_model=list[schemas.ModelInstance], responses=READ)
def list_model_instances(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID | None = None
) -> list[schemas.ModelInstance]:
    return ctx.serving.instances(user, deployment_id)


@router.get("/model_instance/{instance_id}", response_model=schemas.ModelInstance, responses=READ)
def get_model_instance(
    ctx: Context, user: CurrentUser, instance_id: uuid.UUID
) -> schemas.ModelInstance:
    return ctx.serving.instance(user, instance_id)


@router.get(
    "/deployment/{deployment_id}/logs", response_model=schemas.DeploymentLogs, responses=READ
)
def get_deployment_logs(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID
) -> schemas.DeploymentLogs:
    """Lifecycle events followed by the replica's recent log lines."""
    return ctx.serving.logs(user, deployment_id)


@router.get(
    "/deployment/{deployment_id}/logs/patterns",
    response_model=schemas.LogPatterns,
    responses=READ,
)
def get_deployment_log_patterns(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID
) -> schemas.LogPatterns:
    return ctx.serving.patterns(user, deployment_id)


@router.get(
    "/deployment/{deployment_id}/logs/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **READ},
)
async def stream_deployment_logs(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID, request: Request
) -> StreamingResponse:
    """Server-sent events: each new log line as `data: {"line": ...}`, then `event: end`."""
    first = await run_in_threadpool(ctx.serving.logs, user, deployment_id)

    async def events() -> AsyncIterator[str]:
        logs, sent = first, 0
        while True:
            for line in logs.logs[sent:]:
                yield f"data: {json.dumps({'line': line})}\n\n"
            sent = len(logs.logs)
            if not logs.capture_active or await request.is_disconnected():
                break
            await asyncio.sleep(1.0)
            logs = await run_in_threadpool(ctx.serving.logs, user, deployment_id)
            sent = min(sent, len(logs.logs))
        yield f"event: end\ndata: {json.dumps({'status': logs.capture_active})}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@router.get("/logs/{engine_type}", response_model=schemas.EngineLogs, responses=READ)
def list_engine_logs(ctx: Context, user: CurrentUser, engine_type: str) -> schemas.EngineLogs:
    return ctx.serving.engine_logs(user, engine_type)


@router.post("/estimate_model_vram", response_model=schemas.VramEstimate, responses=READ)
def estimate_model_vram(
    ctx: Context, user: ReaderUser, body: dict[str, Any] = Body(...)
) -> schemas.VramEstimate:
    """Memory a deployment would need; always answers (`estimation_source` says how)."""
    return ctx.serving.estimate(user, body)


@router.get("/status", response_model=schemas.ServingStatus, responses=READ)
def serving_status(ctx: Context, user: CurrentUser) -> schemas.ServingStatus:
    """Whether Ray runs (`running` / `not running`), its resources and active deployments."""
    return ctx.serving.serving_status()


@router.get("/health", response_model=list[dict[str, Any]], responses=READ)
def serving_health(ctx: Context, user: CurrentUser) -> list[dict[str, Any]]:
    """The Ray nodes and whether each is alive."""
    return ctx.serving.health()


@router.post("/start", responses=error_responses(400, 401, 403, 503))
def start_ray(ctx: Context, user: AdminUser, body: schemas.StartRay) -> dict[str, Any]:
    """Start (or join) the Ray cluster now instead of on the first deploy (admin)."""
    return ctx.serving.start_ray(body)


@router.get("/usage", response_model=list[schemas.UsageSummary], responses=READ)
def usage(
    ctx: Context,
    user: CurrentUser,
    deployment_id: uuid.UUID | None = None,
    all_users: bool = False,
) -> list[schemas.UsageSummary]:
    """Runtime token usage per deployment: the caller's own (admins: `all_users=true`)."""
    return ctx.serving.usage_summary(user, deployment_id, all_users)
