"""Hub logins checked by the platform: logging in to the hub is logging in to waza.

The authenticator posts the login form to the platform API's token endpoint
(``POST /api/auth/token``) instead of reading waza's user table itself, because

- the hub then needs no database credentials and can run on another machine than the database;
- every hub login goes through the same checks as any other login: argon2 verification,
  per-account lock-out, per-address throttling (the browser's address travels in
  ``X-Forwarded-For``, which the API trusts from loopback), disabled accounts, the audit log.

On success it reads the user's roles (``GET /api/auth/users/me``), ends that short platform
session again (``POST /api/auth/logout``), and returns the name with ``admin`` set from the
waza ``admin`` role, so hub admins are exactly the platform admins (updated at every login).
"""

from __future__ import annotations

from typing import Any

import httpx
from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Unicode, default


class WazaAuthenticator(Authenticator):
    """Authenticate hub users against the waza platform API."""

    api_url = Unicode(
        "http://127.0.0.1:7777/api",
        config=True,
        help="The platform API root as the hub reaches it (no proxy in between).",
    )
    timeout = 10.0

    @default("allow_all")
    def _allow_all(self) -> bool:
        return True  # the platform decides who may log in

    def normalize_username(self, username: str) -> str:
        """waza usernames are case-sensitive: keep them as typed (minus outer spaces)."""
        name = username.strip()
        return str(self.username_map.get(name, name))

    async def authenticate(
        self, handler: web.RequestHandler, data: dict[str, str]
    ) -> dict[str, Any] | None:
        username, password = data.get("username", "").strip(), data.get("password", "")
        if not username or not password:
            return None
        forwarded = {"X-Forwarded-For": handler.request.remote_ip or "127.0.0.1"}
        async with httpx.AsyncClient(base_url=self.api_url + "/", timeout=self.timeout) as http:
            try:
                reply = await http.post(
                    "auth/token",
                    data={"username": username, "password": password, "client_id": "jupyterhub"},
                    headers=forwarded,
                )
            except httpx.TransportError as exc:
                self.log.error("waza API unreachable at %s: %s", self.api_url, exc)
                raise web.HTTPError(
                    503, "The platform is starting or unavailable; retry shortly"
                ) from exc
            if reply.status_code in {423, 429}:
                wait = reply.headers.get("retry-after", "a few")
                raise web.HTTPError(429, f"Too many failed logins: retry in {wait} seconds")
            if reply.status_code != 200:
                self.log.warning("hub login refused for %r (%s)", username, reply.status_code)
                return None
            bearer = {"Authorization": f"Bearer {reply.json()['access_token']}"}
            me = await http.get("auth/users/me", headers=bearer)
            await http.post("auth/logout", headers=bearer)
        if me.status_code != 200:
            return None
        info = me.json()
        return {"name": info["username"], "admin": "admin" in info.get("roles", [])}
