"""What the hub says about a token, for the platform API (a hub-managed service).

Built on `jupyterhub.services.auth.HubOAuth` (token lookups cached for ``cache_ttl`` seconds,
scope checks, PKCE) without its tornado handler glue: the OAuth *state* travels in a cookie
signed with a key derived from the service's own API token, so it works across uvicorn worker
processes and needs no server-side store.

Active only inside a hub-managed service: the hub sets ``JUPYTERHUB_SERVICE_NAME``,
``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_SERVICE_PREFIX``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from jupyterhub.services.auth import HubOAuth

STATE_MAX_AGE = 600  # seconds a login may take


class HubUnavailable(RuntimeError):
    """The hub did not answer (or answered with a server error)."""


class OAuthStateError(ValueError):
    """The OAuth callback does not match a login this browser started."""


def in_hub_service() -> bool:
    """Whether this process runs as a JupyterHub service (the hub gave it a token)."""
    return bool(
        os.environ.get("JUPYTERHUB_SERVICE_NAME") and os.environ.get("JUPYTERHUB_API_TOKEN")
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class HubIdentity:
    """One per API process: asks the hub who a token belongs to, and runs the OAuth login."""

    def __init__(self, cache_ttl: int = 30) -> None:
        from jupyterhub.services.auth import HubOAuth

        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
        self.oauth: HubOAuth = HubOAuth(cache_max_age=cache_ttl, base_url=prefix)
        self.cache_ttl = cache_ttl
        self.service = os.environ.get("JUPYTERHUB_SERVICE_NAME", "")
        self.prefix: str = self.oauth.base_url  # e.g. /services/waza/
        self._key = hashlib.sha256(
            b"waza-hub-oauth-state\0" + self.oauth.api_token.encode()
        ).digest()

    @property
    def cookie_name(self) -> str:
        """The cookie holding a browser's hub OAuth token (named after the OAuth client)."""
        return str(self.oauth.cookie_name)

    @property
    def state_cookie_name(self) -> str:
        return str(self.oauth.state_cookie_name)

    @property
    def required_scopes(self) -> set[str]:
        return set(self.oauth.access_scopes)

    # ---- tokens -----------------------------------------------------------------------------
    async def user_model(self, token: str) -> dict[str, Any] | None:
        """The hub's model of the token's owner (cached), or None for an unknown token."""
        try:
            model = await self.oauth.user_for_token(token, sync=False)
        except Exception as exc:  # tornado HTTPError or a connection error
            raise HubUnavailable(f"JupyterHub did not answer: {exc}") from exc
        return model if isinstance(model, dict) else None

    def grants_access(self, model: dict[str, Any]) -> bool:
        """Whether the token carries ``access:services`` for this service."""
        return bool(self.oauth.check_scopes(self.oauth.access_scopes, model))

    # ---- browser login (authorization code + PKCE + state) ------------------------------------
    def start_login(self, next_url: str) -> tuple[str, str]:
        """The hub authorize URL to redirect to, and the signed state cookie value to set."""
        verifier, challenge, method = self.oauth.generate_pkce_code_challenge()
        state = secrets.token_urlsafe(16)
        payload = _b64(
            json.dumps(
                {"s": state, "v": verifier, "n": next_url, "t": int(time.time())},
                separators=(",", ":"),
            ).encode()
        )
        cookie = f"{payload}.{self._sign(payload)}"
        query = urlencode(
            {"state": state, "code_challenge": challenge, "code_challenge_method": method}
        )
        return f"{self.oauth.login_url}&{query}", cookie

    def check_state(self, state: str, cookie: str | None) -> tuple[str, str]:
        """Verify the callback's state against the cookie; returns (code_verifier, next_url)."""
        if not cookie or "." not in cookie:
            raise OAuthStateError("OAuth state cookie missing")
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise OAuthStateError("OAuth state cookie is not ours")
        data = json.loads(_unb64(payload))
        if not hmac.compare_digest(str(data.get("s", "")), state or ""):
            raise OAuthStateError("OAuth state mismatch")
        if time.time() - int(data.get("t", 0)) > STATE_MAX_AGE:
            raise OAuthStateError("OAuth login took too long; try again")
        return str(data["v"]), str(data.get("n") or self.prefix)

    async def token_for_code(self, code: str, verifier: str) -> str:
        """Exchange the authorization code for a hub token (scoped to this service)."""
        try:
            token = await self.oauth.token_for_code(code, code_verifier=verifier, sync=False)
        except Exception as exc:
            raise OAuthStateError(f"the hub refused the OAuth code: {exc}") from exc
        return str(token)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
