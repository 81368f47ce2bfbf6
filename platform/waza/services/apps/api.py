"""Routes of the App Garden (digest §14): templates, garden catalog, deployments, instances,
images, ephemeral sessions, and the two routes behind app routes (forward-auth and login).

Authentication: every route needs a platform token except ``/apps/sessions/heartbeat|end``
(the ``X-App-Session-Token`` is the credential there: a closing browser tab can send it with
``navigator.sendBeacon``, which cannot send an Authorization header) and ``/apps/auth/{id}``,
which Traefik calls before each request to an app and which checks the caller itself.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from waza.errors import NOT_AUTHENTICATED, Unauthorized
from waza.gateway import hub_auth
from waza.gateway.context import WazaContext
from waza.gateway.deps import Context, CurrentUser
from waza.gateway.openapi import error_responses
from waza.gateway.principal import Principal
from waza.services.apps import schemas
from waza.services.apps.access import COOKIE_PREFIX, COOKIE_TTL
from waza.services.apps.lifecycle import SESSION_HEADER

READ = error_responses(401, 403, 404)
WRITE = error_responses(400, 401, 403, 404, 409, 503)
FORWARD_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Cookies that carry platform credentials: never handed on to an app.
CREDENTIAL_COOKIES = ("access_token", COOKIE_PREFIX, "jupyterhub-")

router = APIRouter(prefix="/apps", tags=["apps"])


# --- templates ----
@router.get("/app_templates", response_model=list[schemas.AppTemplate], responses=READ)
def list_templates(
    ctx: Context, user: CurrentUser, template_type: str | None = None
) -> list[schemas.AppTemplate]:
    """Templates you can deploy: public and team ones, and your own (admins: all)."""
    return ctx.apps.list_templates(user, template_type)


@router.post("/app_templates", response_model=schemas.AppTemplate, responses=WRITE)
def create_template(
    ctx: Context, user: CurrentUser, body: schemas.CreateAppTemplate
) -> schemas.AppTemplate:
    """Create a template (admins: a template is code that runs on the platform's nodes)."""
    return ctx.apps.create_template(user, body)


@router.get("/app_templates/{template_id}", response_model=schemas.AppTemplate, responses=READ)
def get_template(ctx: Context, user: CurrentUser, template_id: uuid.UUID) -> schemas.AppTemplate:
    return ctx.apps.get_template(user, template_id)


@router.put("/app_templates/{template_id}", response_model=schemas.AppTemplate, responses=WRITE)
def update_template(
    ctx: Context, user: CurrentUser, template_id: uuid.UUID, body: schemas.UpdateAppTemplate
) -> schemas.AppTemplate:
    """Change the fields sent (admins)."""
    return ctx.apps.update_template(user, template_id, body)


@router.delete("/app_templates/{template_id}", responses=WRITE)
def delete_template(ctx: Context, user: CurrentUser, template_id: uuid.UUID) -> dict[str, Any]:
    """Delete a template (admins); its deployments keep running from their own copy."""
    return ctx.apps.delete_template(user, template_id)


# --- garden ----
@router.get("/kamiwaza_garden", responses=READ)
def list_garden(ctx: Context, _: CurrentUser) -> list[dict[str, Any]]:
    """The garden catalog: built-in apps, then the remote catalog's."""
    return ctx.apps.garden_apps()


@router.get("/remote/apps", response_model=list[schemas.GardenApp], responses=READ)
def list_remote_apps(
    ctx: Context, _: CurrentUser, force_refresh: bool = False
) -> list[dict[str, Any]]:
    """The garden catalog (`force_refresh` re-reads the remote catalog now)."""
    return ctx.apps.garden_apps(force_refresh)


@router.get("/garden/status", responses=READ)
def garden_status(ctx: Context, _: CurrentUser) -> dict[str, Any]:
    """Garden apps available, and those not imported as templates yet."""
    return ctx.apps.garden_status()


@router.post("/garden/import", response_model=schemas.ImportResult, responses=WRITE)
def import_garden(ctx: Context, user: CurrentUser) -> schemas.ImportResult:
    """Import the garden apps that are not templates yet (admins)."""
    return ctx.apps.import_garden(user)


@router.post("/remote/sync", response_model=schemas.ImportResult, responses=WRITE)
def remote_sync(
    ctx: Context, user: CurrentUser, body: Annotated[schemas.RemoteSync | None, Body()] = None
) -> schemas.ImportResult:
    """Import garden apps, only those named in ``names`` when given (admins)."""
    return ctx.apps.import_garden(user, body.names if body else None)


@router.get("/remote/status", responses=READ)
def remote_status(ctx: Context, _: CurrentUser) -> dict[str, Any]:
    """The remote catalog: ``cache_status`` fresh | stale | offline | builtin-only."""
    return ctx.apps.remote_status()


# --- images ----
@router.get("/images/status/{template_id}", response_model=schemas.ImageStatus, responses=READ)
def image_status(ctx: Context, user: CurrentUser, template_id: uuid.UUID) -> schemas.ImageStatus:
    """Whether the template's images are on the engine (the process runtime has none)."""
    return ctx.apps.image_status(user, template_id)


@router.post("/images/pull/{template_id}", responses=WRITE)
def pull_images(ctx: Context, user: CurrentUser, template_id: uuid.UUID) -> dict[str, Any]:
    """Pull the template's images (swarm runtime); otherwise the no-op answer."""
    return ctx.apps.pull_images(user, template_id)


# --- deployments ----
@router.post("/deploy_app", response_model=schemas.AppDeployment, responses=WRITE)
def deploy_app(
    ctx: Context, user: CurrentUser, body: schemas.CreateAppDeployment
) -> schemas.AppDeployment:
    """Deploy a template; answers at once (REQUESTED). Ephemeral deploys return a
    ``session_token`` once: send it to ``/apps/sessions/heartbeat`` to keep the app alive."""
    return ctx.apps.deploy(user, body)


@router.get("/deployments", response_model=list[schemas.AppDeployment], responses=READ)
def list_deployments(ctx: Context, user: CurrentUser) -> list[schemas.AppDeployment]:
    """Your app deployments, newest first (admins: everyone's)."""
    return ctx.apps.list_deployments(user)


@router.get("/deployment/{deployment_id}", response_model=schemas.AppDeployment, responses=READ)
def get_deployment(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID
) -> schemas.AppDeployment:
    return ctx.apps.get(user, deployment_id)


@router.get("/deployment/{deployment_id}/status", response_model=str, responses=READ)
def get_deployment_status(ctx: Context, user: CurrentUser, deployment_id: uuid.UUID) -> str:
    """The status alone, a bare string: REQUESTED, DEPLOYING, DEPLOYED, FAILED, STOPPED…"""
    return ctx.apps.status(user, deployment_id)


@router.delete("/deployment/{deployment_id}", response_model=bool, responses=WRITE)
def stop_deployment(ctx: Context, user: CurrentUser, deployment_id: uuid.UUID) -> bool:
    """Stop the app and remove its route (again: harmless)."""
    return ctx.apps.stop(user, deployment_id)


@router.delete("/deployment/{deployment_id}/purge", responses=WRITE)
def purge_deployment(ctx: Context, user: CurrentUser, deployment_id: uuid.UUID) -> dict[str, Any]:
    """Stop if needed, then delete the deployment's records."""
    return ctx.apps.purge(user, deployment_id)


@router.get("/deployment/{deployment_id}/logs", response_model=schemas.AppLogs, responses=READ)
def get_deployment_logs(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID, lines: int = 200
) -> schemas.AppLogs:
    """The app's recent output and the failure patterns found in it."""
    return ctx.apps.logs(user, deployment_id, max(1, min(lines, 5000)))


@router.get("/instances", response_model=list[schemas.AppInstance], responses=READ)
def list_instances(
    ctx: Context, user: CurrentUser, deployment_id: uuid.UUID | None = None
) -> list[schemas.AppInstance]:
    return ctx.apps.instances(user, deployment_id)


@router.get("/instance/{instance_id}", response_model=schemas.AppInstance, responses=READ)
def get_instance(ctx: Context, user: CurrentUser, instance_id: uuid.UUID) -> schemas.AppInstance:
    return ctx.apps.instance(user, instance_id)


@router.get("/config/ephemeral_forced", responses=READ)
def ephemeral_forced(ctx: Context, _: CurrentUser) -> dict[str, bool]:
    """Whether every deployment is ephemeral on this platform."""
    return {"ephemeral_forced": ctx.settings.apps_ephemeral_forced}


# --- ephemeral sessions (the session token is the credential) ----
SessionToken = Annotated[str | None, Header(alias=SESSION_HEADER)]


@router.post("/sessions/heartbeat", response_model=schemas.SessionState, responses=READ)
def session_heartbeat(ctx: Context, token: SessionToken = None) -> schemas.SessionState:
    """Keep an ephemeral app alive for another ``WAZA_APPS_SESSION_TTL`` seconds."""
    return ctx.apps.heartbeat(token)


@router.post("/sessions/end", response_model=schemas.SessionState, responses=READ)
def session_end(ctx: Context, token: SessionToken = None) -> schemas.SessionState:
    """End the session: its app is stopped and removed."""
    return ctx.apps.end_session(token)


# --- app routes: login and forward-auth ----
@router.get("/open/{deployment_id}", include_in_schema=False)
def open_app(
    request: Request, ctx: Context, user: CurrentUser, deployment_id: uuid.UUID, next: str = ""
) -> Response:
    """Give the browser a pass for one app (a cookie scoped to its path), then go there.

    Forward-auth sends a browser without credentials here; inside the hub stack it comes
    through ``/services/waza/api/...``, so the hub's OAuth login runs first when needed.
    """
    cookie = ctx.apps.issue_cookie(user, deployment_id)
    path = f"/apps/{deployment_id}/"
    target = next if next.startswith(path) and "\\" not in next else path
    secure = request.headers.get("x-forwarded-proto", request.url.scheme) == "https"
    response = RedirectResponse(target, status_code=302)
    response.set_cookie(
        ctx.apps.cookie_name(deployment_id),
        cookie,
        max_age=COOKIE_TTL,
        path=path,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    return response


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return request.cookies.get("access_token") or None


async def _caller(request: Request, ctx: WazaContext, dep_id: uuid.UUID) -> Principal | None:
    """The app's caller from its app cookie, bearer token or platform session cookie."""
    cookie = request.cookies.get(ctx.apps.cookie_name(dep_id))
    if cookie:
        principal = await run_in_threadpool(ctx.apps.principal_from_cookie, cookie, dep_id)
        if principal is not None:
            return principal
    token = _bearer(request)
    if not token:
        return None
    cached = ctx.auth.cached(token)
    if cached is not None:
        return cached
    hub = hub_auth.identity(ctx)
    if hub is not None and hub_auth.is_hub_token(token):
        return await hub_auth.principal_for_token(ctx, hub, token)
    return await run_in_threadpool(ctx.auth.resolve, token)


def _login_url(request: Request, ctx: WazaContext, dep_id: uuid.UUID, uri: str) -> str:
    """Absolute: Traefik resolves a relative Location against the forward-auth address (the
    API's own port), so the public origin comes from the forwarded headers."""
    hub = hub_auth.identity(ctx)
    base = hub.prefix.rstrip("/") if hub is not None else ""
    host = request.headers.get("x-forwarded-host")
    proto = request.headers.get("x-forwarded-proto", "http")
    origin = f"{proto}://{host}" if host else ctx.settings.effective_public_url
    return f"{origin}{base}/api/apps/open/{dep_id}?next={quote(uri, safe='/')}"


def _app_cookies(request: Request) -> str:
    """The request's cookies minus platform credentials (those never reach an app)."""
    kept = [
        f"{name}={value}"
        for name, value in request.cookies.items()
        if not name.startswith(CREDENTIAL_COOKIES)
    ]
    return "; ".join(kept)


@router.api_route("/auth/{deployment_id}", methods=FORWARD_METHODS, include_in_schema=False)
async def forward_auth(request: Request, ctx: Context, deployment_id: uuid.UUID) -> Response:
    """Traefik forward-auth for ``/apps/<id>/``: 200 lets the request through.

    The answer's headers replace the request's ``Authorization`` and ``Cookie`` (platform
    credentials removed) and add ``X-Waza-User``, ``X-Waza-User-Id``, ``X-Waza-Roles``. A
    browser without credentials is sent to the login (302); others get 401, a user who is
    not the app's owner (or an admin) 403.
    """
    request.state.read_only = True  # Traefik's check, once per app request: not audited
    principal = await _caller(request, ctx, deployment_id)
    if principal is None:
        method = request.headers.get("x-forwarded-method", request.method)
        if method == "GET" and "text/html" in request.headers.get("accept", ""):
            uri = request.headers.get("x-forwarded-uri") or f"/apps/{deployment_id}/"
            return RedirectResponse(_login_url(request, ctx, deployment_id, uri), status_code=302)
        raise Unauthorized(NOT_AUTHENTICATED)
    request.state.principal = principal  # for the access log
    if ctx.apps.gate_cached(principal, deployment_id) is False:
        await run_in_threadpool(ctx.apps.gate, principal, deployment_id)
    headers = {
        "X-Waza-User": principal.username,
        "X-Waza-User-Id": str(principal.user_id),
        "X-Waza-Roles": ",".join(principal.roles),
    }
    cookies = _app_cookies(request)
    if cookies:
        headers["Cookie"] = cookies
    return Response(status_code=200, headers=headers)
