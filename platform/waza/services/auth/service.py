"""Auth logic: logins and sessions, token resolution, users and personal access tokens."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from waza.db import Database, utcnow
from waza.errors import (
    ACCOUNT_LOCKED,
    INVALID_CREDENTIALS,
    INVALID_GRANT,
    INVALID_TOKEN,
    TOKEN_EXPIRED,
    BadRequest,
    Conflict,
    Forbidden,
    Locked,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from waza.gateway.principal import FULL_SCOPES, AuthMethod, Principal
from waza.services.auth import schemas
from waza.services.auth.cache import PrincipalCache
from waza.services.auth.models import AuthSession, PersonalAccessToken, User
from waza.services.auth.tokens import (
    PAT_PREFIX,
    KeyRing,
    hash_password,
    hash_token,
    new_pat_secret,
    verify_password,
)
from waza.settings import Settings


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_response(user: User) -> schemas.LocalUserResponse:
    return schemas.LocalUserResponse(
        id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        name=user.full_name or user.username,
        roles=list(user.roles or []),
        active=user.active,
        deleted=user.deleted,
        is_external=user.is_external,
        external_id=user.external_id,
        is_superuser=user.is_admin,
        created_at=_iso(user.created_at),
        updated_at=_iso(user.updated_at),
        last_login_at=_iso(user.last_login_at),
    )


def pat_response(pat: PersonalAccessToken, username: str | None = None) -> schemas.PAT:
    ttl = (
        int((pat.expires_at - pat.created_at).total_seconds())
        if pat.expires_at and pat.created_at
        else None
    )
    return schemas.PAT(
        id=pat.id,
        jti=pat.jti,
        owner_id=str(pat.user_id),
        owner_username=username,
        name=pat.name,
        ttl_seconds=ttl,
        scope=pat.scope,
        aud=pat.aud,
        exp=int(pat.expires_at.timestamp()) if pat.expires_at else None,
        revoked=pat.revoked,
        created_at=pat.created_at,
        updated_at=pat.updated_at,
    )


def _principal_for(
    user: User, method: AuthMethod, token_id: str, scopes: frozenset[str] = FULL_SCOPES
) -> Principal:
    """The caller behind a valid token; a disabled or deleted user's tokens stop working."""
    if not user.active or user.deleted:
        raise Unauthorized(INVALID_TOKEN)
    return Principal(
        user_id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        roles=tuple(user.roles or ()),
        method=method,
        scopes=scopes,
        token_id=token_id,
    )


class _IpThrottle:
    """Failed logins per client address in a sliding window (guards against password spraying)."""

    def __init__(self, limit: int = 30, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, ip: str, now: float) -> deque[float]:
        q = self._failures[ip]
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def check(self, ip: str) -> None:
        with self._lock:
            q = self._trim(ip, time.monotonic())
            if len(q) >= self.limit:
                retry = int(q[0] + self.window - time.monotonic()) + 1
                raise TooManyRequests("Too many failed logins from this address", retry)

    def fail(self, ip: str) -> None:
        with self._lock:
            self._trim(ip, time.monotonic()).append(time.monotonic())


class AuthService:
    """Everything about identity; routes in `api.py` are thin wrappers over these methods."""

    def __init__(self, db: Database, settings: Settings, keys: KeyRing) -> None:
        self.db = db
        self.settings = settings
        self.keys = keys
        self.cache = PrincipalCache(ttl=settings.auth_cache_ttl)
        self._ip_throttle = _IpThrottle()

    # ---- bootstrap ------------------------------------------------------------------------------
    def ensure_admin(self) -> str | None:
        """Create the first admin if no user exists; returns a generated password, else None."""
        with self.db.session() as s:
            if s.scalar(select(func.count()).select_from(User)):
                return None
        given = self.settings.admin_password
        password = given.get_secret_value() if given else secrets.token_urlsafe(12)
        try:
            self.db.transaction(
                lambda s: s.add(
                    User(
                        username=self.settings.admin_username,
                        email=self.settings.admin_email,
                        password_hash=hash_password(password),
                        roles=["admin", "user"],
                    )
                )
            )
        except IntegrityError:  # another process created it first
            return None
        return None if given else password

    # ---- password sessions ----------------------------------------------------------------------
    def login(
        self, username: str, password: str, client_ip: str = "?", client_id: str | None = None
    ) -> schemas.TokenResponse:
        """Password grant. Repeated failures lock the account with a doubling back-off."""
        self._ip_throttle.check(client_ip)

        def work(s: Session) -> tuple[str | None, schemas.TokenResponse | None]:
            user = s.scalar(select(User).where(User.username == username))
            now = utcnow()
            if user is not None and user.locked_until and user.locked_until > now:
                wait = int((user.locked_until - now).total_seconds()) + 1
                return f"locked:{wait}", None
            if user is None or not verify_password(user.password_hash, password):
                if user is not None:
                    self._record_failure(user, now)
                return "bad", None
            if not user.active or user.deleted:
                return "disabled", None
            user.failed_logins, user.lockouts, user.locked_until = 0, 0, None
            user.last_login_at = now
            return None, self._open_session(s, user, client_id)

        problem, tokens = self.db.transaction(work)
        if problem == "bad":
            self._ip_throttle.fail(client_ip)
            raise Unauthorized(INVALID_CREDENTIALS)
        if problem == "disabled":
            raise Forbidden("User account is disabled")
        if problem and problem.startswith("locked:"):
            wait = int(problem.split(":", 1)[1])
            raise Locked(ACCOUNT_LOCKED, wait)
        assert tokens is not None
        return tokens

    def _record_failure(self, user: User, now: datetime) -> None:
        """Count a failure in SQL (`failed_logins + 1`), so parallel guesses are all counted."""
        s = object_session(user)
        assert s is not None
        user.failed_logins = User.failed_logins + 1
        s.flush()
        s.refresh(user, ["failed_logins", "lockouts"])
        if user.failed_logins >= self.settings.login_max_failures:
            seconds = self.settings.login_lockout_seconds * 2 ** min(user.lockouts, 10)
            user.locked_until = now + timedelta(seconds=seconds)
            user.lockouts += 1
            user.failed_logins = 0

    def _open_session(self, s: Session, user: User, client_id: str | None) -> schemas.TokenResponse:
        refresh_jti = uuid.uuid4().hex
        session = AuthSession(
            user_id=user.id,
            refresh_jti=refresh_jti,
            client_id=client_id,
            expires_at=utcnow() + timedelta(seconds=self.settings.refresh_token_ttl),
        )
        s.add(session)
        s.flush()
        return self._issue(user, session, refresh_jti)

    def _issue(self, user: User, session: AuthSession, refresh_jti: str) -> schemas.TokenResponse:
        claims = {
            "sub": str(user.id),
            "preferred_username": user.username,
            "email": user.email,
            "roles": list(user.roles or []),
            "sid": str(session.id),
            "scope": "openid email profile",
        }
        access = self.keys.sign({**claims, "typ": "access"}, self.settings.access_token_ttl)
        refresh_ttl = int((session.expires_at - utcnow()).total_seconds())
        refresh = self.keys.sign(
            {"sub": str(user.id), "sid": str(session.id), "typ": "refresh", "jti": refresh_jti},
            max(refresh_ttl, 1),
        )
        return schemas.TokenResponse(
            access_token=access,
            expires_in=self.settings.access_token_ttl,
            refresh_token=refresh,
            refresh_expires_in=refresh_ttl,
            scope="openid email profile",
        )

    def refresh(self, refresh_token: str) -> schemas.TokenResponse:
        """Rotate the refresh token; presenting an already-used one revokes the session."""
        try:
            claims = self.keys.decode(refresh_token, "refresh")
        except Unauthorized as exc:
            raise Unauthorized(INVALID_GRANT) from exc

        def work(s: Session) -> schemas.TokenResponse | str:
            session = s.get(AuthSession, uuid.UUID(claims["sid"]))
            if session is None or session.revoked_at is not None:
                return "revoked"
            if session.refresh_jti != claims["jti"]:
                session.revoked_at = utcnow()  # token reuse: assume theft
                return "reused"
            user = s.get(User, session.user_id)
            if user is None or not user.active:
                return "revoked"
            session.refresh_jti = uuid.uuid4().hex
            return self._issue(user, session, session.refresh_jti)

        result = self.db.transaction(work)
        if result == "reused":
            self.cache.invalidate_everywhere()
        if isinstance(result, str):
            raise Unauthorized(INVALID_GRANT)
        return result

    def logout(self, principal: Principal) -> schemas.LogoutResponse:
        if principal.method == "session" and principal.token_id:
            sid = uuid.UUID(principal.token_id)

            def work(s: Session) -> None:
                session = s.get(AuthSession, sid)
                if session is not None and session.revoked_at is None:
                    session.revoked_at = utcnow()

            self.db.transaction(work)
            self.cache.invalidate_everywhere()
        return schemas.LogoutResponse(
            message="Logged out",
            logout_time=utcnow().isoformat(),
            session_termination_requested=principal.method == "session",
        )

    # ---- token resolution (every request) ---------------------------------------------
    def cached(self, token: str) -> Principal | None:
        """The principal for a token resolved recently, without touching the database."""
        return self.cache.get(hash_token(token))

    def resolve(self, token: str) -> Principal:
        """Turn a bearer token (session JWT or PAT) into a Principal, or raise Unauthorized."""
        generation = self.cache.generation
        principal, expires_at = (
            self._resolve_pat(token) if token.startswith(PAT_PREFIX) else self._resolve_jwt(token)
        )
        self.cache.put(hash_token(token), principal, expires_at, generation)
        return principal

    def _resolve_jwt(self, token: str) -> tuple[Principal, float | None]:
        claims = self.keys.decode(token, "access")
        with self.db.session() as s:
            row = s.execute(
                select(User, AuthSession.revoked_at)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.id == uuid.UUID(claims["sid"]))
            ).first()
        if row is None or row[1] is not None:
            raise Unauthorized(INVALID_TOKEN)
        return _principal_for(row[0], "session", claims["sid"]), float(claims["exp"])

    def _resolve_pat(self, token: str) -> tuple[Principal, float | None]:
        with self.db.session() as s:
            row = s.execute(
                select(PersonalAccessToken, User)
                .join(User, User.id == PersonalAccessToken.user_id)
                .where(PersonalAccessToken.token_hash == hash_token(token))
            ).first()
        if row is None:
            raise Unauthorized(INVALID_TOKEN)
        pat, user = row
        if pat.revoked:
            raise Unauthorized(INVALID_TOKEN)
        if pat.expires_at is not None and pat.expires_at <= utcnow():
            raise Unauthorized(TOKEN_EXPIRED)
        expires_at = pat.expires_at.timestamp() if pat.expires_at else None
        return _principal_for(user, "pat", pat.jti, frozenset(pat.scope.split())), expires_at

    def me(self, principal: Principal) -> schemas.UserInfo:
        """Who the caller is (from the resolved token: no database read)."""
        return schemas.UserInfo(
            sub=str(principal.user_id),
            username=principal.username,
            email=principal.email,
            name=principal.full_name or principal.username,
            roles=list(principal.roles),
            groups=[],
            urn=principal.urn,
            is_admin=principal.is_admin,
            auth_method=principal.method,
            scope=" ".join(sorted(principal.scopes)) if principal.method == "pat" else None,
        )

    # ---- users -----------------------------------------------------------------------------
    def list_users(self) -> list[schemas.LocalUserResponse]:
        with self.db.session() as s:
            return [user_response(u) for u in s.scalars(select(User).order_by(User.username))]

    def get_user(self, user_id: uuid.UUID) -> schemas.LocalUserResponse:
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(f"User {user_id} not found")
            return user_response(user)

    def create_user(self, body: schemas.LocalUserCreate) -> schemas.LocalUserResponse:
        roles = sorted(set(body.roles) | {"user"})

        def work(s: Session) -> schemas.LocalUserResponse:
            if s.scalar(select(User.id).where(User.username == body.username)):
                raise Conflict(f"User '{body.username}' already exists")
            user = User(
                username=body.username,
                email=body.email,
                full_name=body.full_name,
                password_hash=hash_password(body.password),
                roles=roles,
            )
            s.add(user)
            s.flush()
            return user_response(user)

        try:
            return self.db.transaction(work)
        except IntegrityError as exc:
            raise Conflict(f"User '{body.username}' already exists") from exc

    def update_user(
        self, actor: Principal, user_id: uuid.UUID, body: schemas.UserUpdate
    ) -> schemas.LocalUserResponse:
        changes = body.model_dump(exclude_unset=True)

        def work(s: Session) -> schemas.LocalUserResponse:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(f"User {user_id} not found")
            if "roles" in changes and changes["roles"] is not None:
                changes["roles"] = sorted(set(changes["roles"]) | {"user"})
                if "admin" not in changes["roles"]:
                    self._keep_an_admin(s, user, actor)
            if changes.get("active") is False:
                self._keep_an_admin(s, user, actor)
            new_name = changes.get("username")
            if new_name and new_name != user.username:
                if s.scalar(select(User.id).where(User.username == new_name)):
                    raise Conflict(f"User '{new_name}' already exists")
            elif "username" in changes:
                changes.pop("username")
            for key, value in changes.items():
                if value is not None or key in {"email", "full_name"}:
                    setattr(user, key, value)
            s.flush()
            return user_response(user)

        try:
            return self.db.transaction(work)
        except IntegrityError as exc:
            raise Conflict(f"User '{changes.get('username')}' already exists") from exc
        finally:
            self.cache.invalidate_everywhere()  # roles, name or active flag may have changed

    def _keep_an_admin(self, s: Session, user: User, actor: Principal) -> None:
        if user.id == actor.user_id:
            raise BadRequest("You cannot remove your own admin rights or disable yourself")
        if user.is_admin and user.active:
            others = select(User).where(User.active, User.id != user.id)
            if not any(u.is_admin for u in s.scalars(others)):
                raise Conflict("The last active admin cannot be demoted, disabled or deleted")

    def delete_user(self, actor: Principal, user_id: uuid.UUID) -> schemas.LocalUserResponse:
        """Delete a user with their tokens and sessions; returns the user as it was."""

        def work(s: Session) -> schemas.LocalUserResponse:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(f"User {user_id} not found")
            if user.id == actor.user_id:
                raise BadRequest("You cannot delete your own account")
            self._keep_an_admin(s, user, actor)
            gone = user_response(user).model_copy(update={"deleted": True, "active": False})
            s.delete(user)
            return gone

        result = self.db.transaction(work)
        self.cache.invalidate_everywhere()
        return result

    def reset_password(self, user_id: uuid.UUID, new_password: str) -> schemas.LocalUserResponse:
        """Set a new password (and lift any lock-out); returns the user."""

        def work(s: Session) -> schemas.LocalUserResponse:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(f"User {user_id} not found")
            user.password_hash = hash_password(new_password)
            user.failed_logins, user.lockouts, user.locked_until = 0, 0, None
            s.flush()
            return user_response(user)

        return self.db.transaction(work)

    def reset_password_by_name(self, username: str, new_password: str) -> None:
        with self.db.session() as s:
            user_id = s.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise NotFound(f"User '{username}' not found")
        self.reset_password(user_id, new_password)

    def change_own_password(
        self, principal: Principal, body: schemas.PasswordChange
    ) -> schemas.PasswordChanged:
        def work(s: Session) -> None:
            user = s.get(User, principal.user_id)
            if user is None:
                raise NotFound("User not found")
            if not verify_password(user.password_hash, body.current_password):
                raise Forbidden("Current password is incorrect")
            user.password_hash = hash_password(body.new_password)

        self.db.transaction(work)
        return schemas.PasswordChanged(changed=True)

    def user_id_for(self, username: str) -> uuid.UUID:
        with self.db.session() as s:
            user_id = s.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise NotFound(f"User '{username}' not found")
        return user_id

    # ---- personal access tokens ------------------------------------------------------------
    def create_pat(
        self, principal: Principal, body: schemas.PATCreate
    ) -> schemas.PATCreateResponse:
        if not principal.full_access and "write" not in principal.scopes:
            raise Forbidden("A read-only token cannot create tokens")
        if "admin" in body.scope.split() and not principal.full_access:
            raise Forbidden("A 'write' token cannot create an 'admin' token")
        ttl = body.ttl_seconds or self.settings.pat_max_ttl
        if ttl > self.settings.pat_max_ttl:
            raise BadRequest(f"ttl_seconds must be at most {self.settings.pat_max_ttl}")
        return self.issue_pat(principal.user_id, body.name, ttl, body.scope, body.aud)

    def issue_pat(
        self, user_id: uuid.UUID, name: str | None, ttl: int, scope: str, aud: str | None
    ) -> schemas.PATCreateResponse:
        token = new_pat_secret()
        now = datetime.now(UTC)

        def work(s: Session) -> schemas.PAT:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(f"User {user_id} not found")
            pat = PersonalAccessToken(
                jti=uuid.uuid4().hex,
                user_id=user_id,
                name=name,
                token_hash=hash_token(token),
                scope=scope,
                aud=aud,
                created_at=now,
                updated_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
            s.add(pat)
            s.flush()
            return pat_response(pat, user.username)

        return schemas.PATCreateResponse(token=token, pat=self.db.transaction(work))

    def list_pats(self, principal: Principal, all_users: bool = False) -> schemas.PATListResponse:
        query = select(PersonalAccessToken, User.username).join(
            User, User.id == PersonalAccessToken.user_id
        )
        if not (all_users and principal.is_admin):
            query = query.where(PersonalAccessToken.user_id == principal.user_id)
        with self.db.session() as s:
            rows = s.execute(query.order_by(PersonalAccessToken.created_at.desc())).all()
        return schemas.PATListResponse(pats=[pat_response(p, name) for p, name in rows])

    def revoke_pat(self, principal: Principal, jti: str) -> dict[str, str | bool]:
        def work(s: Session) -> None:
            pat = s.scalar(select(PersonalAccessToken).where(PersonalAccessToken.jti == jti))
            if pat is None or not principal.can_access(pat.user_id):
                raise NotFound(f"Token {jti} not found")
            if not pat.revoked:
                pat.revoked, pat.revoked_at = True, utcnow()

        self.db.transaction(work)
        self.cache.invalidate_everywhere()
        return {"message": f"Token {jti} revoked", "jti": jti, "revoked": True}
