"""Routes of the auth service (`/api/auth/...`), wire-compatible with kamiwaza-sdk 1.3 (§3)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from waza.errors import BadRequest, Forbidden, Unauthorized, Unprocessable
from waza.gateway.deps import AdminUser, Context, CurrentUser
from waza.gateway.openapi import error_responses
from waza.services.auth import schemas

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/", include_in_schema=True)
def metadata() -> dict[str, str]:
    """Service banner (public)."""
    return {"message": "Kamiwaza Auth Service", "implementation": "waza"}


@router.get("/health")
def health(ctx: Context) -> dict[str, Any]:
    """Liveness of the auth service (public)."""
    return {"status": "healthy", "KAMIWAZA_USE_AUTH": ctx.settings.use_auth}


@router.post(
    "/token",
    response_model=schemas.TokenResponse,
    responses=error_responses(400, 401, 403, 423, 429),
)
def token(
    request: Request,
    response: Response,
    ctx: Context,
    username: Annotated[str, Form(max_length=256)],
    password: Annotated[str, Form(max_length=256)],
    grant_type: Annotated[str, Form()] = "password",
    client_id: Annotated[str | None, Form(max_length=128)] = None,
    scope: Annotated[str | None, Form(max_length=512)] = None,
    client_secret: Annotated[str | None, Form(max_length=512)] = None,
) -> schemas.TokenResponse:
    """OAuth2 password grant (form-encoded). Any stale Authorization header is ignored."""
    if grant_type != "password":
        raise BadRequest("unsupported_grant_type: only 'password' is supported here")
    client_ip = request.client.host if request.client else "?"
    tokens = ctx.auth.login(username, password, client_ip=client_ip, client_id=client_id)
    _set_session_cookies(request, response, tokens)
    return tokens


# Browser sessions (the web UI): the access token in an httpOnly cookie sent everywhere, the
# refresh token in an httpOnly cookie sent only to `/api/auth/...` (refresh and logout).
REFRESH_COOKIE = "refresh_token"


def _auth_path(request: Request) -> str:
    """`/api/auth` (with any root path): where the refresh cookie is sent."""
    return request.url.path.rsplit("/", 1)[0] or "/"


def _set_session_cookies(
    request: Request, response: Response, tokens: schemas.TokenResponse
) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        "access_token",
        tokens.access_token,
        max_age=tokens.expires_in,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    if tokens.refresh_token:
        response.set_cookie(
            REFRESH_COOKIE,
            tokens.refresh_token,
            max_age=tokens.refresh_expires_in or None,
            path=_auth_path(request),
            httponly=True,
            samesite="strict",
            secure=secure,
        )


@router.post("/refresh", response_model=schemas.TokenResponse, responses=error_responses(400, 401))
def refresh(
    request: Request,
    response: Response,
    ctx: Context,
    refresh_token: Annotated[str | None, Query(min_length=1, max_length=8192)] = None,
) -> schemas.TokenResponse:
    """Exchange a refresh token for new tokens; the old one stops working.

    The SDK passes it as a query parameter; a browser session (no parameter) uses its
    `refresh_token` cookie and gets both cookies renewed.
    """
    if refresh_token is not None:
        return ctx.auth.refresh(refresh_token)
    cookie = request.cookies.get(REFRESH_COOKIE)
    if not cookie:  # nothing to refresh with: a missing input, as a missing parameter was
        raise BadRequest(
            "refresh_token is required: pass it as a query parameter, or sign in (POST "
            "/api/auth/token) for a browser session whose cookie carries it"
        )
    if len(cookie) > 8192:
        raise Unauthorized()
    tokens = ctx.auth.refresh(cookie)
    _set_session_cookies(request, response, tokens)
    return tokens


@router.post("/logout", response_model=schemas.LogoutResponse, responses=error_responses(401))
def logout(
    request: Request, ctx: Context, principal: CurrentUser, response: Response
) -> schemas.LogoutResponse:
    """End the current password session (its access and refresh tokens stop working)."""
    response.delete_cookie("access_token")
    response.delete_cookie(REFRESH_COOKIE, path=_auth_path(request))
    return ctx.auth.logout(principal)


@router.get("/jwks", response_model=schemas.JWKS)
def jwks(ctx: Context) -> schemas.JWKS:
    """Public keys that verify session tokens (public)."""
    return schemas.JWKS(keys=[schemas.JWK(**k) for k in ctx.auth.keys.jwks()])


@router.get(
    "/validate",
    response_class=Response,
    responses={
        200: {"description": "The caller's identity in `x-user-*` headers; no body"},
        **error_responses(401),
    },
)
async def validate(request: Request, principal: CurrentUser) -> Response:
    """Forward-auth check (Traefik ForwardAuth): 200 with the identity in response headers."""
    roles = ",".join(principal.roles)
    headers = {
        "x-user-id": str(principal.user_id),
        "x-user-name": principal.username,
        "x-user-email": principal.email or "",
        "x-user-roles": roles,
        "x-user-groups": "",
        "x-request-id": getattr(request.state, "request_id", ""),
    }
    return Response(status_code=200, headers=headers)


@router.get("/users/me", response_model=schemas.UserInfo, responses=error_responses(401))
async def me(ctx: Context, principal: CurrentUser) -> schemas.UserInfo:
    return ctx.auth.me(principal)


@router.post(
    "/users/me/password",
    response_model=schemas.PasswordChanged,
    responses=error_responses(401, 403),
)
def change_my_password(
    ctx: Context, principal: CurrentUser, body: schemas.PasswordChange
) -> schemas.PasswordChanged:
    if principal.method != "session" and not principal.full_access:
        raise Unauthorized("Invalid token")
    return ctx.auth.change_own_password(principal, body)


@router.get(
    "/users/", response_model=list[schemas.LocalUserResponse], responses=error_responses(401, 403)
)
@router.get("/users", response_model=list[schemas.LocalUserResponse], include_in_schema=False)
def list_users(ctx: Context, _: AdminUser) -> list[schemas.LocalUserResponse]:
    return ctx.auth.list_users()


@router.post(
    "/users/local",
    response_model=schemas.LocalUserResponse,
    status_code=201,
    responses=error_responses(401, 403, 409),
)
def create_local_user(
    ctx: Context, _: AdminUser, body: schemas.LocalUserCreate
) -> schemas.LocalUserResponse:
    return ctx.auth.create_user(body)


@router.get(
    "/users/{user_id}",
    response_model=schemas.LocalUserResponse,
    responses=error_responses(401, 403, 404),
)
def get_user(ctx: Context, principal: CurrentUser, user_id: uuid.UUID) -> schemas.LocalUserResponse:
    """Admins read anyone; users only themselves."""
    if not principal.is_admin and principal.user_id != user_id:
        raise Forbidden("Admin privileges required")
    return ctx.auth.get_user(user_id)


@router.put(
    "/users/{user_id}",
    response_model=schemas.LocalUserResponse,
    # 400: demoting or disabling yourself; 409: a taken username, or the last active admin
    responses=error_responses(400, 401, 403, 404, 409),
)
@router.patch("/users/{user_id}", response_model=schemas.LocalUserResponse, include_in_schema=False)
def update_user(
    ctx: Context, admin: AdminUser, user_id: uuid.UUID, body: schemas.UserUpdate
) -> schemas.LocalUserResponse:
    return ctx.auth.update_user(admin, user_id, body)


@router.delete(
    "/users/{user_id}",
    response_model=schemas.LocalUserResponse,
    responses=error_responses(400, 401, 403, 404, 409),
)
def delete_user(ctx: Context, admin: AdminUser, user_id: uuid.UUID) -> schemas.LocalUserResponse:
    """Delete a user (and their tokens and sessions); answers with the user as it was."""
    return ctx.auth.delete_user(admin, user_id)


@router.post(
    "/users/{user_id}/password",
    response_model=schemas.LocalUserResponse,
    responses=error_responses(401, 403, 404),
)
def reset_password(
    ctx: Context, _: AdminUser, user_id: uuid.UUID, body: schemas.PasswordReset
) -> schemas.LocalUserResponse:
    """Set a user's password (admin); also lifts a login lock-out."""
    return ctx.auth.reset_password(user_id, body.new_password)


async def _pat_body(request: Request) -> dict[str, Any]:
    """The JSON body of `POST /auth/pats`, when one is sent (the SDK uses the query string)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type:
        raise Unprocessable("Send PAT fields as query parameters or as a JSON body")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Unprocessable(f"Malformed JSON body: {exc.msg}") from exc
    except UnicodeDecodeError as exc:  # bytes that are not UTF-8 (a ValueError, not a JSON one)
        raise Unprocessable("Malformed JSON body: not UTF-8 text") from exc
    if not isinstance(data, dict):
        raise Unprocessable("The JSON body must be an object")
    return data


@router.post(
    "/pats",
    response_model=schemas.PATCreateResponse,
    status_code=201,
    responses=error_responses(400, 401, 403, 422),  # 400: ttl above WAZA_PAT_MAX_TTL
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": schemas.PATCreate.model_json_schema()}},
        }
    },
)
async def create_pat(
    request: Request,
    ctx: Context,
    principal: CurrentUser,
    name: Annotated[str | None, Query(max_length=256)] = None,
    ttl_seconds: Annotated[int | None, Query(gt=0)] = None,
    scope: Annotated[str | None, Query(max_length=256)] = None,
    aud: Annotated[str | None, Query(max_length=256)] = None,
) -> schemas.PATCreateResponse:
    """Create a personal access token. The secret is returned once, here, and never again."""
    fields: dict[str, Any] = await _pat_body(request)
    query = {"name": name, "ttl_seconds": ttl_seconds, "scope": scope, "aud": aud}
    fields.update({k: v for k, v in query.items() if v is not None})
    try:
        body = schemas.PATCreate(**fields)
    except ValidationError as exc:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise Unprocessable(detail) from exc
    return await run_in_threadpool(ctx.auth.create_pat, principal, body)


@router.get("/pats", response_model=schemas.PATListResponse, responses=error_responses(401))
def list_pats(
    ctx: Context, principal: CurrentUser, all_users: bool = False
) -> schemas.PATListResponse:
    """The caller's tokens (admins may pass `all_users=true`). Secrets are never listed."""
    return ctx.auth.list_pats(principal, all_users=all_users)


@router.delete("/pats/{jti}", responses=error_responses(401, 404))
def revoke_pat(ctx: Context, principal: CurrentUser, jti: str) -> dict[str, Any]:
    """Revoke a token now: its next use gets 401."""
    return ctx.auth.revoke_pat(principal, jti)


whoami_router = APIRouter(tags=["auth"])


@whoami_router.get("/whoami", response_model=schemas.UserInfo, responses=error_responses(401))
async def whoami(ctx: Context, principal: CurrentUser) -> schemas.UserInfo:
    return ctx.auth.me(principal)
