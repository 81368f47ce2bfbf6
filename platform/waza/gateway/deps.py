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


async def current_principal(
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller; a recently seen token is answered from the cache without a thread hop."""
    token = bearer_token(request, credentials)
    if not token:
        raise Unauthorized(NOT_AUTHENTICATED)
    principal = ctx.auth.cached(token)
    if principal is None:
        principal = await run_in_threadpool(ctx.auth.resolve, token)
    request.state.principal = principal
    if request.method not in SAFE_METHODS and not principal.can_write:
        raise Forbidden("This token's scope is 'read': it cannot change anything")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def require_admin(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Admin privileges required")
    return principal


AdminUser = Annotated[Principal, Depends(require_admin)]
