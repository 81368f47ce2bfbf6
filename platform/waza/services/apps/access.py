"""Who may use a running app: the browser pass (a signed cookie scoped to the app's path) and the
gate Traefik's forward-auth asks before each request (owner or admin, app DEPLOYED).

The gate's answers are cached for two seconds per deployment (Traefik asks once per request);
every status change of a deployment drops its entry (`forget`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

import jwt

from waza.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from waza.gateway.principal import Principal
from waza.services.apps.infra import AppsInfra
from waza.services.apps.models import AppDeployment
from waza.services.apps.records import owned

GATE_CACHE_SECONDS = 2.0
COOKIE_PREFIX = "waza_app_"
COOKIE_TTL = 12 * 3600


def check_gate(principal: Principal, owner: uuid.UUID, status: str) -> None:
    if not principal.can_access(owner):
        raise Forbidden("This app belongs to another user")
    if status != "DEPLOYED":
        raise ServiceUnavailable(f"This app is {status}, not DEPLOYED")


class AppAccess:
    """App passes and the forward-auth gate."""

    def __init__(self, infra: AppsInfra) -> None:
        self.infra = infra
        self.db = infra.db
        self._cookie_key = hmac.new(
            infra.settings.key_encryption_key(), b"waza-apps-cookie", hashlib.sha256
        ).digest()
        self._gate_cache: dict[uuid.UUID, tuple[uuid.UUID, str, float]] = {}

    def forget(self, dep_id: uuid.UUID) -> None:
        """Drop the cached gate answer (the deployment changed)."""
        self._gate_cache.pop(dep_id, None)

    def cookie_name(self, dep_id: uuid.UUID) -> str:
        return f"{COOKIE_PREFIX}{dep_id.hex[:12]}"

    def issue_cookie(self, principal: Principal, dep_id: uuid.UUID) -> str:
        """A signed, short-lived pass for one app, kept in a cookie scoped to its path."""
        with self.db.session() as s:
            dep = owned(s, principal, dep_id)
            if dep.status != "DEPLOYED":
                raise BadRequest(f"App {dep_id} is {dep.status}, not DEPLOYED")
        now = int(time.time())
        claims = {"sub": str(principal.user_id), "app": str(dep_id), "iat": now,
                  "exp": now + COOKIE_TTL}  # fmt: skip
        return jwt.encode(claims, self._cookie_key, algorithm="HS256")

    def principal_from_cookie(self, value: str, dep_id: uuid.UUID) -> Principal | None:
        try:
            claims = jwt.decode(value, self._cookie_key, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        if claims.get("app") != str(dep_id):
            return None
        auth = self.infra.auth
        key = "app-cookie:" + value
        cached = auth.cached(key)
        if cached is not None:
            return cached
        from waza.services.auth.models import User
        from waza.services.auth.tokens import hash_token

        generation = auth.cache.generation
        with self.db.session() as s:
            user = s.get(User, uuid.UUID(str(claims["sub"])))
            if user is None or not user.active or user.deleted:
                return None
            principal = Principal(
                user_id=user.id,
                username=user.username,
                roles=tuple(user.roles or ()),
                method="session",
                email=user.email,
            )
        expires = time.time() + self.infra.settings.auth_cache_ttl
        auth.cache.put(hash_token(key), principal, expires, generation)
        return principal

    def gate_cached(self, principal: Principal, dep_id: uuid.UUID) -> bool:
        """`gate` from the 2-second cache (no database): False when the cache cannot say."""
        cached = self._gate_cache.get(dep_id)
        if cached is None or time.monotonic() - cached[2] > GATE_CACHE_SECONDS:
            return False
        check_gate(principal, cached[0], cached[1])
        return True

    def gate(self, principal: Principal, dep_id: uuid.UUID) -> None:
        """May this caller use the app now? (owner or admin, app DEPLOYED)"""
        with self.db.session() as s:
            dep = s.get(AppDeployment, dep_id)
            if dep is None:
                raise NotFound(f"App deployment {dep_id} not found")
            owner, status = dep.owner_id, dep.status
        self._gate_cache[dep_id] = (owner, status, time.monotonic())
        check_gate(principal, owner, status)
