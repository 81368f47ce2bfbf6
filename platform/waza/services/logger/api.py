"""Routes of the logger (`/api/logger/logger/...`, the Kamiwaza spec's paths; the same routes
also answer under `/api/logger/...`).

Admins see every log, users the logs of their own deployments. Cleanup is admin-only and a dry
run unless `dry_run=false`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from waza.gateway.deps import AdminUser, Context, CurrentUser
from waza.gateway.openapi import error_responses
from waza.services.logger import schemas

routes = APIRouter()
READ = error_responses(400, 401, 403, 404)
LIST = error_responses(400, 401)

Tail = Annotated[int | None, Query(ge=1, le=1_000_000, description="Only the last N lines.")]
Analyze = Annotated[bool, Query(description="Fill in `has_errors` (reads every log; slower).")]


@routes.get("/deployments/all", response_model=schemas.LogListResponse, responses=LIST)
def list_all(ctx: Context, user: CurrentUser, analyze: Analyze = False) -> schemas.LogListResponse:
    """Every log you may see, newest first."""
    return ctx.logger.list_logs(user, analyze=analyze)


@routes.get("/deployments/orphaned", response_model=schemas.LogListResponse, responses=LIST)
def list_orphaned(ctx: Context, user: CurrentUser) -> schemas.LogListResponse:
    """Logs whose deployment no longer exists."""
    return ctx.logger.list_logs(user, orphaned_only=True)


@routes.get(
    "/deployments/type/{deployment_type}", response_model=schemas.LogListResponse, responses=LIST
)
def list_by_type(
    ctx: Context, user: CurrentUser, deployment_type: str, analyze: Analyze = False
) -> schemas.LogListResponse:
    """The logs of one deployment type (400 for an unknown type)."""
    return ctx.logger.list_logs(user, deployment_type, analyze=analyze)


@routes.get(
    "/deployments/{deployment_type}/{deployment_id}",
    response_model=schemas.LogContent,
    responses=READ,
)
def get_log(
    ctx: Context, user: CurrentUser, deployment_type: str, deployment_id: str, tail: Tail = None
) -> schemas.LogContent:
    """A log's lines, with the failure patterns they show."""
    return ctx.logger.content(user, deployment_type, deployment_id, tail)


@routes.delete(
    "/deployments/{deployment_type}/{deployment_id}",
    response_model=schemas.LogDeleteResponse,
    responses=error_responses(400, 401, 403, 404, 409),
)
def delete_log(
    ctx: Context,
    user: CurrentUser,
    deployment_type: str,
    deployment_id: str,
    confirm: Annotated[bool, Query(description="Confirm deletion.")] = False,
) -> schemas.LogDeleteResponse:
    """Delete a log (owner or admin; 409 while the deployment runs; nothing without confirm)."""
    return ctx.logger.delete(user, deployment_type, deployment_id, confirm)


@routes.get(
    "/deployments/{deployment_type}/{deployment_id}/patterns",
    response_model=schemas.LogPatternAnalysis,
    responses=READ,
)
def analyze_log(
    ctx: Context, user: CurrentUser, deployment_type: str, deployment_id: str
) -> schemas.LogPatternAnalysis:
    """Failure patterns (out of memory, CUDA, missing files, port in use, ...) and the lines."""
    return ctx.logger.analyze(user, deployment_type, deployment_id)


@routes.get("/stats", response_model=schemas.LogStats, responses=LIST)
def stats(ctx: Context, user: CurrentUser) -> schemas.LogStats:
    """Counts and sizes of the logs you may see, by type."""
    return ctx.logger.stats(user)


@routes.delete(
    "/cleanup", response_model=schemas.CleanupResult, responses=error_responses(400, 401, 403)
)
def cleanup(
    ctx: Context,
    admin: AdminUser,
    days_old: Annotated[
        int, Query(ge=0, le=36_500, description="Delete logs older than this many days.")
    ] = 30,
    deployment_type: Annotated[str | None, Query(description="Only this type.")] = None,
    dry_run: Annotated[bool, Query(description="Only report what would be deleted.")] = True,
) -> schemas.CleanupResult:
    """Remove logs not written for `days_old` days, except those of running deployments."""
    return ctx.logger.cleanup(admin, days_old, deployment_type, dry_run)


# ---- legacy forms (the spec keeps them for older UIs) ----------------------------------------
@routes.get("/deployment/{deployment_id}/logs", response_model=schemas.LogContent, responses=READ)
def legacy_logs(
    ctx: Context, user: CurrentUser, deployment_id: str, tail: Tail = None
) -> schemas.LogContent:
    """A deployment's log, whatever its type."""
    return ctx.logger.content(user, None, deployment_id, tail)


@routes.get(
    "/deployment/{deployment_id}/logs/patterns",
    response_model=schemas.LogPatternAnalysis,
    responses=READ,
)
def legacy_patterns(
    ctx: Context, user: CurrentUser, deployment_id: str
) -> schemas.LogPatternAnalysis:
    """A deployment's failure patterns, whatever its type."""
    return ctx.logger.analyze(user, None, deployment_id)


@routes.get("/engine/{engine_type}", response_model=schemas.LogListResponse, responses=LIST)
def legacy_engine(ctx: Context, user: CurrentUser, engine_type: str) -> schemas.LogListResponse:
    """The logs of one engine (= deployment type)."""
    return ctx.logger.list_logs(user, engine_type)


router = APIRouter(prefix="/logger", tags=["logger"])
router.include_router(routes, prefix="/logger")
router.include_router(routes, include_in_schema=False)
