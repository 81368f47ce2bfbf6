"""FastAPI dependencies: the shared context and the caller's identity.

Every route depends on `CurrentUser` (or `AdminUser`) unless the design lists it as public
(liveness/health, the token endpoint, JWKS). Tokens come from `Authorization: Bearer <token>` or,
for browser sessions, the `access_token` cookie. A token whose scope is `read` may only use safe
methods; admin rights need an admin user *and* a token that carries them (see `Principal`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from waza.errors import NOT_AUTHENTICATED, Forbidden, Unauthorized
from waza.gateway import hub_auth
from waza.gateway.context import WazaContext
from waza.gateway.principal import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, description="A session JWT or a personal access token.")


async def get_context(request: Request) -> WazaContext:
    ctx: WazaContext = request.app.state.waza
    return ctx


Context = Annotated[WazaContext, Depends(get_context)]


def bearer_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    return request.cookies.get("access_token") or None


async def _authenticate(
    request: Request, ctx: WazaContext, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller; a recently seen token is answered from the cache without a thread hop.

    Order: the token cache, then (inside a JupyterHub deployment) a hub token or the hub OAuth
    cookie, then a waza PAT or session JWT.
    """
    token = bearer_token(request, credentials)
    principal = ctx.auth.cached(token) if token else None
    if principal is None:
        principal = await hub_auth.resolve(request, ctx, token)
    if principal is None:
        if not token:
            raise Unauthorized(NOT_AUTHENTICATED)
        principal = await run_in_threadpool(ctx.auth.resolve, token)
    request.state.principal = principal
    return principal


async def current_principal(
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a route; a `read`-scope token may only use safe methods."""
    principal = await _authenticate(request, ctx, credentials)
    if request.method not in SAFE_METHODS and not principal.can_write:
        raise Forbidden("This token's scope is 'read': it cannot change anything")
    return principal


async def current_reader(
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a POST that only computes or reads (embed, search, query).

    Any token scope may call it, and the audit log skips it: it changes nothing.
    """
    principal = await _authenticate(request, ctx, credentials)
    request.state.read_only = True
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
ReaderUser = Annotated[Principal, Depends(current_reader)]


async def require_admin(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Admin privileges required")
    return principal


AdminUser = Annotated[Principal, Depends(require_admin)]
