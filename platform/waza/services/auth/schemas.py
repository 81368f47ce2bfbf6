"""Request and response bodies of the auth service (wire-compatible with kamiwaza-sdk 1.3)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
ROLES = ("admin", "user")
PAT_SCOPES = ("admin", "write", "read", "openid", "email", "profile")


def validate_scope(value: str) -> str:
    """A PAT scope is one or more space-separated known scopes."""
    parts = value.split()
    unknown = [p for p in parts if p not in PAT_SCOPES]
    if not parts or unknown:
        raise ValueError(f"scope must be space-separated values from {', '.join(PAT_SCOPES)}")
    return " ".join(parts)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None
    scope: str | None = None


class UserInfo(BaseModel):
    """`GET /auth/users/me`: who the caller is."""

    sub: str
    username: str
    email: str | None = None
    name: str | None = None
    groups: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    urn: str
    is_admin: bool
    auth_method: str
    scope: str | None = None


class LocalUserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=256)
    email: EmailStr | None = None
    full_name: str | None = Field(default=None, max_length=256)
    roles: list[Literal["admin", "user"]] = Field(default_factory=lambda: ["user"])  # type: ignore[arg-type]


class UserUpdate(BaseModel):
    """Admin update of a user; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    email: EmailStr | None = None
    full_name: str | None = Field(default=None, max_length=256)
    roles: list[Literal["admin", "user"]] | None = None
    active: bool | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_password: str = Field(min_length=8, max_length=256)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class PasswordChanged(BaseModel):
    changed: bool


class LocalUserResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str | None = None
    full_name: str | None = None
    name: str | None = None
    roles: list[str] = Field(default_factory=list)
    active: bool
    deleted: bool
    is_external: bool
    external_id: str | None = None
    is_superuser: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    last_login_at: str | None = None


class PATCreate(BaseModel):
    """Body form of `POST /auth/pats` (the SDK sends the same fields in the query string)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=256)
    ttl_seconds: int | None = Field(default=None, gt=0)
    scope: str = "admin"
    aud: str | None = Field(default=None, max_length=256)

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        return validate_scope(value)


class PAT(BaseModel):
    id: uuid.UUID
    jti: str
    owner_id: str
    owner_username: str | None = None
    name: str | None = None
    ttl_seconds: int | None = None
    scope: str | None = None
    aud: str | None = None
    exp: int | None = None
    revoked: bool = False
    created_at: datetime
    updated_at: datetime


class PATCreateResponse(BaseModel):
    token: str
    pat: PAT


class PATListResponse(BaseModel):
    pats: list[PAT]


class LogoutResponse(BaseModel):
    message: str
    logout_time: str
    session_termination_requested: bool = False
    front_channel_logout_url: str | None = None
    post_logout_redirect_uri: str | None = None


class JWK(BaseModel):
    kty: str
    use: str
    alg: str
    kid: str
    n: str
    e: str


class JWKS(BaseModel):
    keys: list[JWK]


def is_valid_username(value: str) -> bool:
    return re.fullmatch(USERNAME_PATTERN, value) is not None
