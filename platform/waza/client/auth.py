"""`client.auth`: sessions, the current user, users (admin) and personal access tokens."""

from __future__ import annotations

import uuid

from waza.client.base import Transport, drop_none
from waza.services.auth import schemas


class AuthAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def login(self, username: str, password: str) -> schemas.TokenResponse:
        """Password login; the client then uses (and refreshes) the session tokens."""
        tokens: schemas.TokenResponse = self._t.parse(
            schemas.TokenResponse,
            "POST",
            "auth/token",
            auth=False,
            data={"grant_type": "password", "username": username, "password": password},
        )
        self._t.token, self._t.refresh_token = tokens.access_token, tokens.refresh_token
        return tokens

    def logout(self) -> schemas.LogoutResponse:
        result: schemas.LogoutResponse = self._t.parse(
            schemas.LogoutResponse, "POST", "auth/logout", json={}
        )
        self._t.token = self._t.refresh_token = None
        return result

    def me(self) -> schemas.UserInfo:
        return self._t.parse(schemas.UserInfo, "GET", "auth/users/me")

    def change_password(self, current_password: str, new_password: str) -> bool:
        body = {"current_password": current_password, "new_password": new_password}
        return bool(self._t.json("POST", "auth/users/me/password", json=body)["changed"])

    # users (admin)
    def list_users(self) -> list[schemas.LocalUserResponse]:
        return self._t.parse(list[schemas.LocalUserResponse], "GET", "auth/users/")

    def get_user(self, user_id: uuid.UUID | str) -> schemas.LocalUserResponse:
        return self._t.parse(schemas.LocalUserResponse, "GET", f"auth/users/{user_id}")

    def create_user(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        full_name: str | None = None,
        admin: bool = False,
    ) -> schemas.LocalUserResponse:
        """Create a local user (admin only); the server validates every field."""
        body = drop_none(username=username, password=password, email=email, full_name=full_name)
        body["roles"] = ["admin", "user"] if admin else ["user"]
        return self._t.parse(schemas.LocalUserResponse, "POST", "auth/users/local", json=body)

    def update_user(self, user_id: uuid.UUID | str, **changes: object) -> schemas.LocalUserResponse:
        """Change fields (`email`, `full_name`, `roles`, `active`); the server validates them."""
        path = f"auth/users/{user_id}"
        return self._t.parse(schemas.LocalUserResponse, "PUT", path, json=changes)

    def delete_user(self, user_id: uuid.UUID | str) -> schemas.LocalUserResponse:
        return self._t.parse(schemas.LocalUserResponse, "DELETE", f"auth/users/{user_id}")

    def reset_password(
        self, user_id: uuid.UUID | str, new_password: str
    ) -> schemas.LocalUserResponse:
        body = {"new_password": new_password}
        path = f"auth/users/{user_id}/password"
        return self._t.parse(schemas.LocalUserResponse, "POST", path, json=body)

    # personal access tokens
    def create_token(
        self,
        name: str | None = None,
        *,
        scope: str = "admin",
        ttl_seconds: int | None = None,
        aud: str | None = None,
    ) -> schemas.PATCreateResponse:
        """Create a PAT; `.token` holds the secret (shown only now)."""
        params = drop_none(name=name, scope=scope, ttl_seconds=ttl_seconds, aud=aud)
        return self._t.parse(schemas.PATCreateResponse, "POST", "auth/pats", params=params)

    def list_tokens(self, all_users: bool = False) -> list[schemas.PAT]:
        params = {"all_users": "true"} if all_users else {}
        return self._t.parse(schemas.PATListResponse, "GET", "auth/pats", params=params).pats

    def revoke_token(self, jti: str) -> None:
        self._t.json("DELETE", f"auth/pats/{jti}")

    def jwks(self) -> schemas.JWKS:
        return self._t.parse(schemas.JWKS, "GET", "auth/jwks", auth=False)
