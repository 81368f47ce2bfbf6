"""Auth through the real kamiwaza-sdk (digest §1-§3; core flows 1, 2, 3 and 4).

Every call goes through `KamiwazaClient` exactly as an SDK user writes it; nothing here knows
how waza stores users or tokens.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.authentication import UserPasswordAuthenticator
from kamiwaza_sdk.exceptions import APIError, AuthenticationError, AuthorizationError
from kamiwaza_sdk.schemas.auth import (
    LocalUserCreateRequest,
    LocalUserPasswordChangeRequest,
    LocalUserPasswordResetRequest,
    LocalUserUpdateRequest,
    PATCreate,
)

from tests.compat.conftest import Account
from tests.conftest import LiveServer

AUD = "kamiwaza-platform"
Login = Callable[[str, str], KamiwazaClient]
PatClient = Callable[[str], KamiwazaClient]
MakeAccount = Callable[..., Account]


def new_pat(client: KamiwazaClient, scope: str, ttl: int = 900) -> Any:
    name = f"compat-{scope}-{uuid.uuid4().hex[:8]}"
    return client.auth.create_pat(PATCreate(name=name, ttl_seconds=ttl, scope=scope, aud=AUD))


class Spy:
    """Wraps an SDK auth method and records whether each call succeeded."""

    def __init__(self, target: Callable[..., Any]) -> None:
        self.target = target
        self.outcomes: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = self.target(*args, **kwargs)
        except Exception:
            self.outcomes.append("failed")
            raise
        self.outcomes.append("ok")
        return result


# ---- flow 1: a PAT from the environment -------------------------------------------------------


@pytest.mark.parametrize(
    ("url_var", "key_var"),
    [("KAMIWAZA_BASE_URL", "KAMIWAZA_API_KEY"), ("KAMIWAZA_BASE_URI", "KAMIWAZA_API_TOKEN")],
)
def test_pat_from_environment_identifies_its_owner(
    live_server: LiveServer,
    make_account: MakeAccount,
    sdk_login: Login,
    monkeypatch: pytest.MonkeyPatch,
    url_var: str,
    key_var: str,
) -> None:
    owner = make_account("envpat")
    pat = new_pat(sdk_login(owner.username, owner.password), "admin")

    monkeypatch.setenv(url_var, live_server.api + "/")  # the SDK strips a trailing slash
    monkeypatch.setenv(key_var, pat.token)
    client = KamiwazaClient()
    me = client.auth.get_current_user()

    assert me.sub == owner.id
    assert me.username == owner.username
    assert "user" in me.roles
    # The harness reads an optional `urn` (falling back to urn:li:corpuser:<username>).
    assert client.get("/auth/users/me").get("urn", f"urn:li:corpuser:{me.username}") == (
        f"urn:li:corpuser:{owner.username}"
    )


@pytest.mark.parametrize("scope", ["admin", "write", "openid"])
def test_every_pat_scope_reaches_users_me(
    make_account: MakeAccount, sdk_login: Login, pat_client: PatClient, scope: str
) -> None:
    owner = make_account(f"scope-{scope}")
    pat = new_pat(sdk_login(owner.username, owner.password), scope)
    assert pat.pat.scope == scope
    assert pat_client(pat.token).auth.get_current_user().sub == owner.id


# ---- flow 2: password -> PAT -> use -> list -> revoke -----------------------------------------


def test_password_session_pat_lifecycle(
    live_server: LiveServer, make_account: MakeAccount, sdk_env: Path
) -> None:
    user = make_account("flow2", admin=True)
    c = KamiwazaClient(live_server.api)
    c.authenticator = UserPasswordAuthenticator(user.username, user.password, c.auth)

    me = c.auth.get_current_user()
    assert (me.sub, me.username) == (user.id, user.username)
    assert "admin" in me.roles
    cached = json.loads(sdk_env.read_text())  # the SDK cached the session where we told it to
    assert cached["access_token"] == c.authenticator.token
    assert cached["refresh_token"]

    name = f"flow2-{uuid.uuid4().hex[:8]}"
    before = int(time.time())
    r = c.auth.create_pat(PATCreate(name=name, ttl_seconds=900, scope="admin", aud=AUD))
    assert r.token
    assert r.pat.name == name
    assert r.pat.scope == "admin"
    assert r.pat.aud == AUD
    assert r.pat.ttl_seconds == 900
    assert r.pat.owner_id == me.sub
    assert r.pat.revoked is False
    assert r.pat.exp is not None
    assert before + 900 - 5 <= r.pat.exp <= int(time.time()) + 900 + 5

    pc = KamiwazaClient(live_server.api, api_key=r.token)
    # Flow 2 calls pc.models.list_models() here; it joins this test when the models service
    # lands. Until then, prove the admin-scope PAT works on its owner's identity, on another
    # service, and on an admin-only route.
    assert pc.auth.get_current_user().sub == me.sub
    assert isinstance(pc.cluster.list_locations(), list)
    assert user.username in {u.username for u in pc.auth.list_users()}

    listed = c.auth.list_pats()
    mine = [p for p in listed.pats if p.jti == r.pat.jti]
    assert len(mine) == 1
    assert mine[0].name == name
    assert mine[0].revoked is False
    assert r.token not in json.dumps(listed.model_dump(mode="json"))  # secrets are never listed

    c.auth.revoke_pat(r.pat.jti)
    with pytest.raises(AuthenticationError) as exc:
        pc.auth.get_current_user()
    assert exc.value.status_code == 401
    assert "Invalid token" in str(exc.value)

    revoked = [p for p in c.auth.list_pats().pats if p.jti == r.pat.jti]
    assert revoked[0].revoked is True
    assert c.auth.get_current_user().sub == me.sub  # the session itself is unaffected


def test_pats_are_private_to_their_owner(
    make_account: MakeAccount, sdk_login: Login, pat_client: PatClient
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    a, b = sdk_login(alice.username, alice.password), sdk_login(bob.username, bob.password)
    pat = new_pat(a, "write")

    assert pat.pat.jti not in {p.jti for p in b.auth.list_pats().pats}
    with pytest.raises(APIError) as exc:
        b.auth.revoke_pat(pat.pat.jti)
    assert exc.value.status_code == 404
    assert pat_client(pat.token).auth.get_current_user().sub == alice.id


def test_unknown_and_garbage_tokens_raise_authentication_error(pat_client: PatClient) -> None:
    for token in ("not-a-real-token", "wzp_" + uuid.uuid4().hex, "a.b.c"):
        with pytest.raises(AuthenticationError) as exc:
            pat_client(token).auth.get_current_user()
        assert exc.value.status_code == 401
        assert "Invalid token" in str(exc.value)


# ---- flow 3: refresh -------------------------------------------------------------------------


def test_refresh_access_token_gives_a_working_token(
    live_server: LiveServer, make_account: MakeAccount, pat_client: PatClient
) -> None:
    user = make_account("refresh")
    c = KamiwazaClient(live_server.api)
    t = c.auth.login_with_password(user.username, user.password)
    assert t.token_type.lower() == "bearer"
    assert t.expires_in > 30  # the SDK refreshes 30 s before expiry
    assert t.refresh_token

    t2 = c.auth.refresh_access_token(t.refresh_token)
    assert t2.access_token != t.access_token
    assert t2.expires_in > 30
    assert t2.refresh_token and t2.refresh_token != t.refresh_token  # rotated
    assert pat_client(t2.access_token).auth.get_current_user().sub == user.id


def test_a_reused_refresh_token_is_refused(
    live_server: LiveServer, make_account: MakeAccount
) -> None:
    user = make_account("reuse")
    c = KamiwazaClient(live_server.api)
    t = c.auth.login_with_password(user.username, user.password)
    c.auth.refresh_access_token(t.refresh_token)

    with pytest.raises(AuthenticationError) as exc:
        c.auth.refresh_access_token(t.refresh_token)
    assert exc.value.status_code == 401
    assert "Invalid grant" in str(exc.value)  # the SDK's label for "invalid_grant"

    with pytest.raises(AuthenticationError):
        c.auth.refresh_access_token("garbage-refresh-token")


def test_implicit_refresh_on_401_uses_the_refresh_grant(
    make_account: MakeAccount, sdk_login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An access token the server no longer accepts: one refresh grant, one replay."""
    user = make_account("implicit")
    c = sdk_login(user.username, user.password)
    assert c.auth.get_current_user().sub == user.id
    refresh, password = Spy(c.auth.refresh_access_token), Spy(c.auth.login_with_password)
    monkeypatch.setattr(c.auth, "refresh_access_token", refresh)
    monkeypatch.setattr(c.auth, "login_with_password", password)

    c.authenticator.token = "no-longer-valid"  # still "unexpired" on the client side
    assert c.auth.get_current_user().sub == user.id

    assert refresh.outcomes == ["ok"]
    assert password.outcomes == []
    assert c.authenticator.token != "no-longer-valid"


def test_implicit_refresh_after_server_side_logout_falls_back_to_password(
    http: httpx.Client,
    make_account: MakeAccount,
    sdk_login: Login,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The session is ended behind the SDK's back (a logout from another client with the same
    token): its access and refresh tokens die, so the SDK logs in again and replays."""
    user = make_account("relogin")
    c = sdk_login(user.username, user.password)
    assert c.auth.get_current_user().sub == user.id
    old = c.authenticator.token

    out = http.post("/api/auth/logout", json={}, headers={"Authorization": f"Bearer {old}"})
    assert out.status_code == 200
    dead = http.get("/api/auth/users/me", headers={"Authorization": f"Bearer {old}"})
    assert dead.status_code == 401

    refresh, password = Spy(c.auth.refresh_access_token), Spy(c.auth.login_with_password)
    monkeypatch.setattr(c.auth, "refresh_access_token", refresh)
    monkeypatch.setattr(c.auth, "login_with_password", password)
    assert c.auth.get_current_user().sub == user.id
    assert refresh.outcomes == ["failed"]
    assert password.outcomes == ["ok"]
    assert c.authenticator.token != old


def test_a_stale_cached_token_is_replaced_transparently(
    live_server: LiveServer, http: httpx.Client, make_account: MakeAccount, sdk_env: Path
) -> None:
    """The SDK's cache is keyed by path only: a dead cached session must just re-login."""
    user = make_account("stale")
    reply = http.post(
        "/api/auth/token", data={"username": user.username, "password": user.password}
    )
    dead = reply.json()
    bearer = {"Authorization": f"Bearer {dead['access_token']}"}
    assert http.post("/api/auth/logout", json={}, headers=bearer).status_code == 200
    sdk_env.parent.mkdir(parents=True, exist_ok=True)
    sdk_env.write_text(
        json.dumps(
            {
                "access_token": dead["access_token"],
                "refresh_token": dead["refresh_token"],
                "expires_at": time.time() + 3000,
            }
        )
    )

    c = KamiwazaClient(live_server.api)
    c.authenticator = UserPasswordAuthenticator(user.username, user.password, c.auth)
    assert c.authenticator.token == dead["access_token"]  # it did load the stale token
    assert c.auth.get_current_user().sub == user.id
    assert json.loads(sdk_env.read_text())["access_token"] != dead["access_token"]


def test_wrong_password_raises_authentication_error(
    live_server: LiveServer, make_account: MakeAccount
) -> None:
    user = make_account("wrongpw")
    c = KamiwazaClient(live_server.api)
    with pytest.raises(AuthenticationError) as exc:
        c.auth.login_with_password(user.username, "not-the-password")
    assert exc.value.status_code == 401
    assert "Invalid credentials" in str(exc.value)

    c.authenticator = UserPasswordAuthenticator(user.username, "not-the-password", c.auth)
    with pytest.raises(AuthenticationError) as exc:
        c.auth.get_current_user()
    assert exc.value.status_code == 401


# ---- flow 4: write scope ---------------------------------------------------------------------


def test_write_scope_pat_cannot_use_admin_rights(
    make_account: MakeAccount, sdk_login: Login, pat_client: PatClient
) -> None:
    """`write` = user/editor/viewer, never admin, even when the owner is an admin."""
    owner = make_account("writer", admin=True)
    pat = new_pat(sdk_login(owner.username, owner.password), "write")
    w = pat_client(pat.token)

    assert w.auth.get_current_user().sub == owner.id
    # Flow 4 also expects 200 from models.list_models(), catalog.list_datasets() and
    # serving.get_status() with this token; they join when those services land.
    assert isinstance(w.activity.get_recent_activity(), list)
    assert isinstance(w.auth.list_pats().pats, list)

    with pytest.raises(APIError) as exc:
        w.cluster.list_clusters()
    assert exc.value.status_code == 403
    with pytest.raises(APIError) as exc:
        w.auth.list_users()
    assert exc.value.status_code == 403
    with pytest.raises(APIError) as exc:  # and it cannot mint itself an admin token
        new_pat(w, "admin")
    assert exc.value.status_code == 403


# ---- other SDK auth calls --------------------------------------------------------------------


def test_service_probes_through_the_sdk(admin_sdk: KamiwazaClient) -> None:
    assert admin_sdk.auth.metadata()["message"] == "Kamiwaza Auth Service"
    health = admin_sdk.auth.health()
    assert health["status"] == "healthy"
    assert "KAMIWAZA_USE_AUTH" in health
    jwks = admin_sdk.auth.get_jwks()
    assert jwks.keys
    assert all(k.kty == "RSA" and k.alg == "RS256" and k.use == "sig" for k in jwks.keys)


def test_forward_auth_headers_carry_the_identity(admin_sdk: KamiwazaClient) -> None:
    me = admin_sdk.auth.get_current_user()
    headers = admin_sdk.auth.forward_auth_headers()
    assert headers.user_id == me.sub
    assert headers.user_name == "admin"
    assert "admin" in headers.user_roles
    admin_sdk.auth.require_admin(headers)  # the SDK's own check passes


def test_logout_through_the_sdk_ends_that_session(
    make_account: MakeAccount, sdk_login: Login, pat_client: PatClient
) -> None:
    user = make_account("logout")
    c = sdk_login(user.username, user.password)
    c.auth.get_current_user()
    token = c.authenticator.token

    out = c.auth.logout()
    assert out.session_termination_requested is True
    with pytest.raises(AuthenticationError) as exc:
        pat_client(token).auth.get_current_user()
    assert exc.value.status_code == 401


def test_admin_manages_local_users_through_the_sdk(
    admin_sdk: KamiwazaClient, sdk_login: Login
) -> None:
    username = f"sdkuser-{uuid.uuid4().hex[:8]}"
    created = admin_sdk.auth.create_local_user(
        LocalUserCreateRequest(
            username=username, email=f"{username}@example.com", password="first-pw-123"
        )
    )
    assert created.username == username
    assert created.email == f"{username}@example.com"
    assert created.active is True
    assert created.deleted is False
    assert created.is_external is False
    assert "user" in created.roles
    assert "admin" not in created.roles

    assert admin_sdk.auth.get_user(created.id).username == username
    assert created.id in {u.id for u in admin_sdk.auth.list_users()}

    updated = admin_sdk.auth.update_user(
        created.id, LocalUserUpdateRequest(email=f"new-{username}@example.com", roles=["admin"])
    )
    assert updated.email == f"new-{username}@example.com"
    assert "admin" in updated.roles

    new = sdk_login(username, "first-pw-123")
    assert new.auth.get_current_user().sub == str(created.id)
    assert new.auth.list_users()  # promoted: the admin route now answers


def test_change_my_password_through_the_sdk(
    make_account: MakeAccount, sdk_login: Login, live_server: LiveServer
) -> None:
    user = make_account("chpw")
    c = sdk_login(user.username, user.password)

    with pytest.raises(AuthorizationError):  # the SDK maps this route's 403
        c.auth.change_my_password(
            LocalUserPasswordChangeRequest(current_password="wrong", new_password="next-pw-123")
        )
    out = c.auth.change_my_password(
        LocalUserPasswordChangeRequest(current_password=user.password, new_password="next-pw-123")
    )
    assert out.changed is True

    fresh = KamiwazaClient(live_server.api)
    assert fresh.auth.login_with_password(user.username, "next-pw-123").access_token
    with pytest.raises(AuthenticationError):
        fresh.auth.login_with_password(user.username, user.password)


def test_disabled_user_cannot_log_in_or_use_old_tokens(
    admin_sdk: KamiwazaClient,
    make_account: MakeAccount,
    sdk_login: Login,
    pat_client: PatClient,
    live_server: LiveServer,
) -> None:
    user = make_account("disabled")
    c = sdk_login(user.username, user.password)
    pat = new_pat(c, "write")

    out = admin_sdk.auth.update_user(uuid.UUID(user.id), LocalUserUpdateRequest(active=False))
    assert out.active is False

    with pytest.raises(APIError) as api_exc:  # the token endpoint says 403: disabled
        KamiwazaClient(live_server.api).auth.login_with_password(user.username, user.password)
    assert api_exc.value.status_code == 403
    with pytest.raises(AuthenticationError) as exc:  # a password session carries the 403
        sdk_login(user.username, user.password).auth.get_current_user()
    assert exc.value.status_code == 403
    with pytest.raises(AuthenticationError) as exc:  # and every token of the account stops
        c.auth.list_pats()
    assert exc.value.status_code == 403
    with pytest.raises(AuthenticationError) as exc:
        pat_client(pat.token).auth.get_current_user()
    assert exc.value.status_code == 401

    admin_sdk.auth.update_user(uuid.UUID(user.id), LocalUserUpdateRequest(active=True))
    assert pat_client(pat.token).auth.get_current_user().sub == user.id


# ---- SDK user-admin calls whose response model is LocalUserResponse --------------------------


def test_admin_password_reset_returns_the_user(
    admin_sdk: KamiwazaClient, make_account: MakeAccount, live_server: LiveServer
) -> None:
    """`auth.reset_user_password` parses the reply as LocalUserResponse (spec and SDK)."""
    user = make_account("reset")
    out = admin_sdk.auth.reset_user_password(
        uuid.UUID(user.id), LocalUserPasswordResetRequest(new_password="reset-pw-123")
    )
    assert str(out.id) == user.id
    assert out.username == user.username
    token = KamiwazaClient(live_server.api).auth.login_with_password(user.username, "reset-pw-123")
    assert token.access_token


def test_admin_delete_user_returns_the_user(
    admin_sdk: KamiwazaClient, make_account: MakeAccount
) -> None:
    """`auth.delete_user` parses the reply as LocalUserResponse (spec and SDK)."""
    user = make_account("delete")
    out = admin_sdk.auth.delete_user(uuid.UUID(user.id))
    assert str(out.id) == user.id
    assert out.username == user.username
    assert user.username not in {u.username for u in admin_sdk.auth.list_users()}


def test_admin_renames_a_user(admin_sdk: KamiwazaClient, make_account: MakeAccount) -> None:
    """`LocalUserUpdateRequest.username` is part of the SDK's (and the spec's) update body."""
    user = make_account("rename")
    new_name = f"renamed-{uuid.uuid4().hex[:8]}"
    out = admin_sdk.auth.update_user(uuid.UUID(user.id), LocalUserUpdateRequest(username=new_name))
    assert out.username == new_name
