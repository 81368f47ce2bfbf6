"""Hub identity for the API: a JupyterHub token or the hub OAuth cookie becomes a `Principal`.

When the API runs as a hub-managed service, `install(app)` (a no-op elsewhere) makes it

- serve every route under the service prefix too (``/services/waza/api/...`` = ``/api/...``:
  the proxy does not strip the prefix), plus ``oauth_callback`` and a few hub pages;
- accept hub tokens: `resolve` asks the hub who a token belongs to (through
  `waza.hub.identity.HubIdentity`, cached), requires ``access:services`` for this service
  (else 403), and maps the hub user to the waza user of the same name. The hub's authenticator
  is backed by waza users, so they exist; a hub user without a waza account gets 403, never a
  new account;
- send a browser without a session (a GET asking for HTML under the service prefix) through
  the hub's OAuth login (authorization code, PKCE, signed state cookie).

Hub users act with their waza roles: a hub admin is a waza admin because the authenticator
derives the hub's admin flag from the waza roles at each login.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from waza.errors import INVALID_TOKEN, Forbidden, ServiceUnavailable, Unauthorized
from waza.gateway.logging import get_logger
from waza.gateway.principal import FULL_SCOPES, Principal
from waza.hub.identity import HubIdentity, in_hub_service
from waza.services.auth.models import User
from waza.services.auth.tokens import PAT_PREFIX, hash_token

if TYPE_CHECKING:
    from fastapi import FastAPI

    from waza.gateway.context import WazaContext

log = get_logger("waza.hub_auth")
EXTRA_KEY = "hub_identity"


class LoginRequired(Exception):
    """A browser needs a hub session first: answered with a redirect to the hub's login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def identity(ctx: WazaContext) -> HubIdentity | None:
    """This process's hub identity, when `install` activated it."""
    hub = ctx.extras.get(EXTRA_KEY)
    return hub if isinstance(hub, HubIdentity) else None


def is_hub_token(token: str) -> bool:
    """Neither a waza PAT (``wzp_…``) nor a JWT (three dot-separated parts)."""
    return not token.startswith(PAT_PREFIX) and token.count(".") != 2


def _target(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _wants_page(request: Request, hub: HubIdentity) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and request.url.path.startswith(hub.prefix)
    )


async def resolve(request: Request, ctx: WazaContext, token: str | None) -> Principal | None:
    """The caller by hub identity, or None when the request is not the hub's to answer.

    ``token`` is the bearer token the gateway found (None when there was none). Without one,
    ``Authorization: token <hub token>`` (JupyterHub's style) or the hub OAuth cookie is used.
    Raises ``Unauthorized`` for a token the hub does not know, ``Forbidden`` for one without
    ``access:services``, and `LoginRequired` for a browser without any credentials under the
    service prefix.
    """
    hub = identity(ctx)
    if hub is None:
        return None
    if token is not None:
        return await principal_for_token(ctx, hub, token) if is_hub_token(token) else None
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "token" and value.strip():  # JupyterHub's own header style
        return await principal_for_token(ctx, hub, value.strip())
    cookie = request.cookies.get(hub.cookie_name)
    if not cookie:
        if _wants_page(request, hub):
            raise LoginRequired(_target(request))
        return None
    try:
        return await principal_for_token(ctx, hub, cookie)
    except Unauthorized:
        if _wants_page(request, hub):  # an expired or revoked hub session: log in again
            raise LoginRequired(_target(request)) from None
        raise


async def principal_for_token(ctx: WazaContext, hub: HubIdentity, token: str) -> Principal:
    """Ask the hub (cached) who owns ``token``; check the scope; load the waza user."""
    cached = ctx.auth.cached(token)
    if cached is not None:
        return cached
    generation = ctx.auth.cache.generation
    try:
        model = await hub.user_model(token)
    except Exception as exc:
        log.warning("hub token check failed", error=str(exc))
        raise ServiceUnavailable("JupyterHub is unavailable; retry shortly") from exc
    if model is None:
        raise Unauthorized(INVALID_TOKEN)
    if model.get("kind", "user") != "user":
        raise Forbidden("A hub service token has no platform identity")
    if not hub.grants_access(model):
        raise Forbidden(f"This hub token does not grant access:services for '{hub.service}'")
    principal = await run_in_threadpool(_load_principal, ctx, str(model["name"]))
    ctx.auth.cache.put(hash_token(token), principal, time.time() + hub.cache_ttl, generation)
    return principal


def _load_principal(ctx: WazaContext, username: str) -> Principal:
    with ctx.db.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise Forbidden(f"Hub user '{username}' has no platform account")
        if not user.active or user.deleted:
            raise Unauthorized(INVALID_TOKEN)
        return Principal(
            user_id=user.id,
            username=user.username,
            email=user.email,
            full_name=user.full_name,
            roles=tuple(user.roles or ()),
            method="hub",
            scopes=FULL_SCOPES,
        )


class ServicePrefix:
    """Pure ASGI: requests under the service prefix get it as ``root_path`` (routing strips it)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"} and self.prefix:
            path: str = scope["path"]
            if path == self.prefix or path.startswith(self.prefix + "/"):
                scope = {**scope, "root_path": self.prefix}
        await self.app(scope, receive, send)


def login_redirect(hub: HubIdentity, next_url: str, secure: bool = False) -> Response:
    """Redirect to the hub's OAuth authorize URL, with the state cookie set."""
    url, state_cookie = hub.start_login(safe_next(next_url, hub.prefix))
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        hub.state_cookie_name,
        state_cookie,
        max_age=600,
        path=hub.prefix,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    return response


def safe_next(next_url: str, default: str) -> str:
    """Only same-origin absolute paths: no open redirect."""
    if next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return default


def install(app: FastAPI) -> bool:
    """Activate hub identity when this process is a hub-managed service; returns whether it did."""
    if not in_hub_service():
        return False
    from waza.hub import routes

    ctx: WazaContext = app.state.waza
    ttl = max(int(ctx.settings.auth_cache_ttl), 5)
    hub = HubIdentity(cache_ttl=ttl)
    ctx.extras[EXTRA_KEY] = hub

    async def on_login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return login_redirect(hub, exc.next_url, secure=request.url.scheme == "https")

    app.add_exception_handler(LoginRequired, on_login_required)
    app.include_router(routes.router)
    app.add_middleware(ServicePrefix, prefix=hub.prefix)
    log.info("hub identity active", service=hub.service, prefix=hub.prefix)
    return True
