"""The FastAPI application factory.

`create_app(settings)` builds one app with every service router under `/api`, the OpenAPI
document at `/api/openapi.json` and docs at `/api/docs`. Start-up applies migrations, creates
the first admin, registers this API instance in the config store under a lease, and records
this machine in the cluster inventory.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

import waza
from waza import webui
from waza.db.migrate import upgrade
from waza.errors import NotFound
from waza.gateway import hub_auth
from waza.gateway.context import WazaContext
from waza.gateway.deps import Context, CurrentUser
from waza.gateway.errors import install_error_handlers
from waza.gateway.logging import configure_logging, get_logger
from waza.gateway.middleware import AuditSink, RequestContextMiddleware
from waza.gateway.openapi import complete_document, error_responses
from waza.heap import keep_freed_memory
from waza.services.activity.api import router as activity_router
from waza.services.apps.api import router as apps_router
from waza.services.auth.api import router as auth_router
from waza.services.auth.api import whoami_router
from waza.services.catalog.api import router as catalog_router
from waza.services.cluster.api import router as cluster_router
from waza.services.embedding.api import router as embedding_router
from waza.services.ingestion.api import router as ingestion_router
from waza.services.logger.api import router as logger_router
from waza.services.models.api import router as models_router
from waza.services.prompts.api import router as prompts_router
from waza.services.retrieval.api import router as retrieval_router
from waza.services.serving.api import router as serving_router
from waza.services.serving.runtime import router as runtime_router
from waza.services.vectordb.api import router as vectordb_router
from waza.services.vectordb.hotpath import SearchHotPath
from waza.settings import Settings, get_settings

log = get_logger("waza")

API_PREFIX = "/api"
SERVICE_ROUTERS = [
    auth_router,
    whoami_router,
    activity_router,
    cluster_router,
    vectordb_router,
    embedding_router,
    catalog_router,
    ingestion_router,
    retrieval_router,
    models_router,
    serving_router,
    apps_router,
    prompts_router,
    logger_router,
]


def _announce_admin_password(username: str, password: str) -> None:
    banner = "=" * 72
    print(
        f"\n{banner}\n waza: created the first admin account\n"
        f"   username: {username}\n   password: {password}\n"
        f" This password is shown once. Change it with `waza admin reset-password`.\n{banner}\n",
        file=sys.stderr,
        flush=True,
    )


def _start_registration(ctx: WazaContext) -> None:
    """Register this API instance in the config store (best effort: logged, never fatal)."""
    from waza.kv import open_kv
    from waza.kv.registry import ServiceRegistration

    try:
        ctx.kv = open_kv(ctx.settings)
        info = {
            "url": ctx.settings.effective_public_url,
            "api_root": ctx.settings.effective_public_url + API_PREFIX,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": waza.__version__,
            "started_at": datetime.now(UTC).isoformat(),
        }
        ctx.registration = ServiceRegistration(
            ctx.kv, "api", uuid.uuid4().hex, info, ttl=ctx.settings.service_lease_ttl
        )
        ctx.registration.start()
        ctx.auth.cache.attach(ctx.kv)
        ctx.vectors.rows.attach(ctx.kv)
    except Exception as exc:  # a config store outage must not stop the API
        log.warning("service registration failed", error=str(exc))


def _stop_registration(ctx: WazaContext) -> None:
    try:
        ctx.auth.cache.detach()
        ctx.vectors.rows.detach()
        if ctx.registration is not None:
            ctx.registration.stop()
        if ctx.kv is not None:
            ctx.kv.close()
    except Exception as exc:
        log.warning("service deregistration failed", error=str(exc))


def _startup(ctx: WazaContext) -> None:
    upgrade(ctx.db)
    password = ctx.auth.ensure_admin()
    if password:
        _announce_admin_password(ctx.settings.admin_username, password)
    ctx.auth.keys.ensure_loaded()
    ctx.cluster.register_local_node()
    try:
        ctx.models.ensure_builtins()
    except Exception as exc:  # a broken optional package must not stop the API
        log.warning("built-in model registration failed", error=str(exc))
    _start_registration(ctx)


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/ping")
    def ping() -> dict[str, str]:
        """Liveness probe (public)."""
        return {"status": "pong", "timestamp": datetime.now(UTC).isoformat()}

    @router.get("/health")
    def health(ctx: Context) -> dict[str, Any]:
        """Readiness (public): whether the database and config store answer."""
        checks = ctx.backend_checks()
        healthy = all(v == "ok" for v in checks.values())
        return {
            "status": "healthy" if healthy else "degraded",
            "checks": checks,
            "version": waza.__version__,
        }

    @router.get("/node/node_status")
    def node_status() -> dict[str, Any]:
        """Liveness of this node (public; the Kamiwaza harness probes it)."""
        return {"status": "online", "hostname": socket.gethostname()}

    @router.get("/node/node_id", responses=error_responses(401, 404))
    def node_id(ctx: Context, _: CurrentUser) -> str:
        """This node's id in the cluster inventory, as a bare JSON string."""
        node = ctx.cluster.local_node_id()
        if node is None:
            raise NotFound("This machine is not registered in the cluster inventory")
        return str(node)

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the platform API app. Pass `settings` in tests; otherwise read from the env."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    # every server process passes here (uvicorn calls this factory in each worker)
    heap_tuned = keep_freed_memory()
    log.debug("heap settings", keep_freed_memory=heap_tuned)
    ctx = WazaContext.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_startup, ctx)
        ctx.serving.start()
        await run_in_threadpool(ctx.apps.start)
        ctx.ingestion.start()
        log.info("waza api ready", url=settings.effective_public_url + API_PREFIX)
        try:
            yield
        finally:
            await run_in_threadpool(_stop_registration, ctx)
            await run_in_threadpool(ctx.apps.close)
            await run_in_threadpool(ctx.serving.close)
            await run_in_threadpool(ctx.models.close)
            ctx.ingestion.close()
            ctx.vectors.close()
            ctx.catalog.close()
            ctx.db.dispose()

    app = FastAPI(
        title="waza platform API",
        version=waza.__version__,
        description="Jupyter-native AI platform; wire-compatible with the Kamiwaza API.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
        lifespan=lifespan,
    )
    app.state.waza = ctx
    install_error_handlers(app)
    app.include_router(_health_router(), prefix=API_PREFIX)
    for router in SERVICE_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(runtime_router)  # OpenAI-compatible, outside /api (digest §5)
    webui.install(app)  # the React web UI's build at /ui/ (waza/webui)
    complete_document(app)  # 401/403/400/422 that every route shares (gateway/openapi.py)

    def audit_sink() -> AuditSink:
        return ctx.activity.record

    app.add_middleware(SearchHotPath, ctx=ctx)  # inside the request context (vectordb/hotpath.py)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        audit=audit_sink,
        upload_limits={f"{API_PREFIX}/models/upload": settings.max_upload_bytes},
    )
    hub_auth.install(app)  # a no-op outside a JupyterHub deployment
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["x-request-id"],
        )
    return app
