"""Routes the API adds when it runs as a hub service (mounted by `gateway.hub_auth.install`).

Under the service prefix (``/services/waza/``): a landing page, the OAuth login and callback,
logout, and the platform status the hub home page shows admins. The admin dashboard is a
service of its own (``/services/waza-admin/``, `waza_widgets.admin`).
"""

from __future__ import annotations

import html
import os
import sys
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import waza
from waza.errors import BadRequest, Forbidden
from waza.gateway import hub_auth
from waza.gateway.context import WazaContext
from waza.gateway.deps import AdminUser, Context, CurrentUser
from waza.hub.identity import HubIdentity, OAuthStateError

router = APIRouter(include_in_schema=False, tags=["hub"])


def _hub(ctx: WazaContext) -> HubIdentity:
    hub = hub_auth.identity(ctx)
    if hub is None:  # routes are only mounted together with the identity
        raise BadRequest("Hub identity is not active in this process")
    return hub


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;"
        "padding:0 1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status_code,
    )


@router.get("/")
async def landing(principal: CurrentUser) -> HTMLResponse:
    """The service's page in the hub's Services menu (needs a hub login)."""
    name = html.escape(principal.username)
    return _page(
        "waza platform",
        f"<p id='waza-whoami'>Signed in as <b>{name}</b> through JupyterHub.</p><ul>"
        "<li><a href='/api/docs'>API docs</a> (SDK root: <code>/api</code>)</li>"
        "<li><a href='/ui/'>Web UI</a></li><li><a href='/hub/home'>Hub home</a></li></ul>",
    )


@router.get("/oauth_login")
async def oauth_login(request: Request, ctx: Context, next: str = "") -> Response:
    """Start a hub OAuth login; back at ``next`` (a path on this site) afterwards."""
    hub = _hub(ctx)
    return hub_auth.login_redirect(hub, next or hub.prefix, secure=request.url.scheme == "https")


@router.get("/oauth_callback")
async def oauth_callback(
    request: Request, ctx: Context, code: str = "", state: str = "", error: str = ""
) -> Response:
    """Finish the hub OAuth login: check state and PKCE, store the token in a cookie."""
    hub = _hub(ctx)
    if error or not code:
        raise Forbidden(f"Hub login failed: {error or 'no authorization code'}")
    try:
        verifier, next_url = hub.check_state(state, request.cookies.get(hub.state_cookie_name))
        token = await hub.token_for_code(code, verifier)
    except OAuthStateError as exc:
        raise Forbidden(str(exc)) from exc
    await hub_auth.principal_for_token(ctx, hub, token)  # scope and account checks
    secure = request.url.scheme == "https"
    response = RedirectResponse(hub_auth.safe_next(next_url, hub.prefix), status_code=302)
    response.set_cookie(
        hub.cookie_name, token, path=hub.prefix, httponly=True, samesite="lax", secure=secure
    )
    response.delete_cookie(hub.state_cookie_name, path=hub.prefix)
    return response


@router.get("/logout")
async def logout(ctx: Context) -> Response:
    """Forget this service's hub cookie, then log out of the hub."""
    hub = _hub(ctx)
    response = RedirectResponse("/hub/logout", status_code=302)
    response.delete_cookie(hub.cookie_name, path=hub.prefix)
    return response


@router.get("/platform-status")
async def platform_status(ctx: Context, _: AdminUser) -> dict[str, Any]:
    """API, database, config store, Ray and deployments at a glance (admins; hub home page)."""
    return await run_in_threadpool(_status, ctx)


def _status(ctx: WazaContext) -> dict[str, Any]:
    checks = ctx.backend_checks()
    return {
        "api": {"state": "up", "version": waza.__version__, "pid": os.getpid()},
        "checks": checks,
        "ray": _ray_state(),
        "deployments": _deployments(ctx),
    }


def _ray_state() -> dict[str, Any]:
    """Without importing Ray: it is up only if this process already connected to it."""
    address = os.environ.get("RAY_ADDRESS") or None
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        return {"state": "up", "address": address}
    return {"state": "configured" if address else "not started", "address": address}


def _deployments(ctx: WazaContext) -> dict[str, Any]:
    """Running model deployments, once a serving service exposes ``running_count()``."""
    serving = getattr(ctx, "serving", None) or ctx.extras.get("serving")
    count = getattr(serving, "running_count", None)
    if callable(count):
        try:
            return {"running": int(count())}
        except Exception:
            return {"running": None, "error": "unavailable"}
    return {"running": None}
