"""The rest of digest §3 over plain HTTP: probes, JWKS, forward-auth, PAT bodies, logout, the
token endpoint, user administration and the exact 401 strings the kamiwaza-sdk recognises.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import httpx
import jwt
import pytest

from tests.compat.conftest import Account
from tests.conftest import LiveServer, bearer, login

MakeAccount = Callable[..., Account]

# Details the SDK shows for a 401 (kamiwaza_sdk.client._SAFE_401_REASONS, a subset).
SDK_401_DETAILS = {
    "Not authenticated",
    "Invalid token",
    "Token expired",
    "Could not validate credentials",
    "Invalid session token",
    "Invalid credentials",
    "invalid_grant",
    "Unauthorized",
}
LOCAL_USER_REQUIRED = {"id", "username", "active", "deleted", "is_external"}


def session_tokens(http: httpx.Client, account: Account) -> dict[str, str]:
    reply = http.post(
        "/api/auth/token", data={"username": account.username, "password": account.password}
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def assert_401(reply: httpx.Response, detail: str) -> None:
    assert reply.status_code == 401, reply.text
    assert reply.json() == {"detail": detail}
    assert detail in SDK_401_DETAILS


def assert_local_user(body: dict[str, object]) -> None:
    assert body.keys() >= LOCAL_USER_REQUIRED
    uuid.UUID(str(body["id"]))
    assert isinstance(body["active"], bool)
    assert isinstance(body["deleted"], bool)
    assert isinstance(body["is_external"], bool)
    assert isinstance(body.get("roles", []), list)
    assert isinstance(body.get("is_superuser", False), bool)
    for key in ("created_at", "updated_at"):
        assert body.get(key) is None or isinstance(body[key], str)


# ---- public probes ---------------------------------------------------------------------------


def test_public_probes(http: httpx.Client) -> None:
    assert http.get("/api/auth/").json()["message"] == "Kamiwaza Auth Service"

    health = http.get("/api/auth/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert "KAMIWAZA_USE_AUTH" in health.json()

    ping = http.get("/api/ping")
    assert ping.status_code == 200
    body = ping.json()
    assert body["status"] == "pong"
    datetime.fromisoformat(body["timestamp"])


def test_whoami(http: httpx.Client, make_account: MakeAccount) -> None:
    user = make_account("whoami")
    reply = http.get("/api/whoami", headers=login(http, user.username, user.password))
    assert reply.status_code == 200
    assert reply.json() is not None
    assert reply.json()["username"] == user.username
    assert_401(http.get("/api/whoami"), "Not authenticated")


# ---- JWKS ------------------------------------------------------------------------------------


def test_jwks_verifies_session_tokens(
    live_server: LiveServer, http: httpx.Client, make_account: MakeAccount
) -> None:
    """The published key really is the signing key: PyJWT verifies a session token with it."""
    reply = http.get("/api/auth/jwks")
    assert reply.status_code == 200
    keys = reply.json()["keys"]
    assert keys
    for key in keys:
        assert {"alg", "kty", "use", "kid", "n", "e"} <= key.keys()
        assert (key["alg"], key["kty"], key["use"]) == ("RS256", "RSA", "sig")

    user = make_account("jwks")
    token = session_tokens(http, user)["access_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in {k["kid"] for k in keys}

    signing_key = jwt.PyJWKClient(live_server.api + "/auth/jwks").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], audience="kamiwaza-platform")
    assert claims["sub"] == user.id

    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.PyJWTError):
        jwt.decode(tampered, signing_key.key, algorithms=["RS256"], audience="kamiwaza-platform")


# ---- forward auth ----------------------------------------------------------------------------


def test_validate_puts_the_identity_in_headers(
    http: httpx.Client, make_account: MakeAccount
) -> None:
    user = make_account("validate")
    headers = login(http, user.username, user.password)
    reply = http.get("/api/auth/validate", headers=headers)
    assert reply.status_code == 200
    assert reply.headers["x-user-id"] == user.id
    assert reply.headers["x-user-name"] == user.username
    roles = [r.strip() for r in reply.headers["x-user-roles"].split(",")]
    assert "user" in roles
    assert "admin" not in roles

    pat = http.post("/api/auth/pats?scope=write&name=v", headers=headers).json()["token"]
    assert http.get("/api/auth/validate", headers=bearer(pat)).headers["x-user-id"] == user.id

    assert_401(http.get("/api/auth/validate"), "Not authenticated")
    assert_401(http.get("/api/auth/validate", headers=bearer("garbage")), "Invalid token")


# ---- personal access tokens ------------------------------------------------------------------


def test_create_pat_with_a_json_body(http: httpx.Client, make_account: MakeAccount) -> None:
    user = make_account("patbody")
    headers = login(http, user.username, user.password)
    body = {"name": "from-body", "ttl_seconds": 600, "scope": "write", "aud": "kamiwaza-platform"}
    reply = http.post("/api/auth/pats", json=body, headers=headers)
    assert reply.status_code in (200, 201), reply.text
    out = reply.json()
    pat = out["pat"]
    assert (pat["name"], pat["ttl_seconds"], pat["scope"], pat["aud"]) == (
        "from-body",
        600,
        "write",
        "kamiwaza-platform",
    )
    assert pat["owner_id"] == user.id
    assert pat["revoked"] is False
    uuid.UUID(pat["id"])
    for key in ("created_at", "updated_at"):
        datetime.fromisoformat(pat[key])

    me = http.get("/api/auth/users/me", headers=bearer(out["token"]))
    assert me.status_code == 200
    assert me.json()["sub"] == user.id
    listed = http.get("/api/auth/pats", headers=headers).json()["pats"]
    assert pat["jti"] in {p["jti"] for p in listed}
    assert out["token"] not in reply.text.replace(out["token"], "", 1)  # secret shown once
    assert out["token"] not in http.get("/api/auth/pats", headers=headers).text


def test_revoked_pat_gets_401_with_an_sdk_detail(
    http: httpx.Client, make_account: MakeAccount
) -> None:
    user = make_account("revoke")
    headers = login(http, user.username, user.password)
    out = http.post("/api/auth/pats?name=r&scope=admin&aud=kamiwaza-platform", headers=headers)
    assert out.status_code == 201
    token, jti = out.json()["token"], out.json()["pat"]["jti"]
    assert http.delete(f"/api/auth/pats/{jti}", headers=headers).status_code == 200
    assert_401(http.get("/api/auth/users/me", headers=bearer(token)), "Invalid token")
    assert http.delete(f"/api/auth/pats/{uuid.uuid4().hex}", headers=headers).status_code == 404


# ---- sessions --------------------------------------------------------------------------------


def test_logout_ends_the_session(http: httpx.Client, make_account: MakeAccount) -> None:
    user = make_account("logout")
    tokens = session_tokens(http, user)
    headers = bearer(tokens["access_token"])
    other = login(http, user.username, user.password)  # a second session of the same user

    reply = http.post("/api/auth/logout", json={}, headers=headers)
    assert reply.status_code == 200
    body = reply.json()
    assert isinstance(body["message"], str)
    assert isinstance(body["logout_time"], str)
    assert isinstance(body.get("session_termination_requested", False), bool)

    assert_401(http.get("/api/auth/users/me", headers=headers), "Invalid token")
    refreshed = http.post("/api/auth/refresh", params={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert refreshed.json()["detail"] in SDK_401_DETAILS
    assert http.get("/api/auth/users/me", headers=other).status_code == 200  # only that session


def test_session_cookie_authenticates(http: httpx.Client, make_account: MakeAccount) -> None:
    """Password sessions also send the `access_token` cookie (browsers send only that)."""
    user = make_account("cookie")
    reply = http.post(
        "/api/auth/token", data={"username": user.username, "password": user.password}
    )
    assert reply.cookies.get("access_token") == reply.json()["access_token"]
    with httpx.Client(base_url=str(http.base_url), timeout=30) as browser:
        browser.cookies.set("access_token", reply.json()["access_token"])
        assert browser.get("/api/auth/users/me").json()["sub"] == user.id


def test_token_endpoint_ignores_a_stale_authorization_header(
    http: httpx.Client, make_account: MakeAccount
) -> None:
    user = make_account("stale")
    dead = session_tokens(http, user)["access_token"]
    http.post("/api/auth/logout", json={}, headers=bearer(dead))
    form = {
        "grant_type": "password",
        "username": user.username,
        "password": user.password,
        "scope": "openid email profile",
        "client_id": "kamiwaza-platform",
    }
    for stale in (bearer(dead), bearer("garbage"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        reply = http.post("/api/auth/token", data=form, headers=stale)
        assert reply.status_code == 200, reply.text
        assert reply.json()["token_type"].lower() == "bearer"
        assert reply.json()["expires_in"] > 0


def test_token_endpoint_rejects_bad_credentials_alike(
    http: httpx.Client, make_account: MakeAccount
) -> None:
    user = make_account("badcred")
    wrong = http.post("/api/auth/token", data={"username": user.username, "password": "nope"})
    unknown = http.post(
        "/api/auth/token", data={"username": f"ghost-{uuid.uuid4().hex[:8]}", "password": "nope"}
    )
    assert_401(wrong, "Invalid credentials")
    assert_401(unknown, "Invalid credentials")  # no hint whether the user exists


# ---- 401 strings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Not authenticated"),
        (bearer("garbage"), "Invalid token"),
        (bearer("wzp_" + "x" * 43), "Invalid token"),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, "Not authenticated"),
    ],
)
def test_401_bodies_use_the_sdk_strings(
    http: httpx.Client, headers: dict[str, str], detail: str
) -> None:
    for path in ("/api/auth/users/me", "/api/auth/pats", "/api/auth/users/"):
        assert_401(http.get(path, headers=headers), detail)


# ---- user administration ---------------------------------------------------------------------


def test_user_admin_routes(
    http: httpx.Client, admin_auth: dict[str, str], make_account: MakeAccount
) -> None:
    listed = http.get("/api/auth/users/", headers=admin_auth)
    assert listed.status_code == 200
    for body in listed.json():
        assert_local_user(body)
    assert "admin" in {u["username"] for u in listed.json()}

    username = f"http-{uuid.uuid4().hex[:8]}"
    created = http.post(
        "/api/auth/users/local",
        json={"username": username, "email": f"{username}@example.com", "password": "pw-12345678"},
        headers=admin_auth,
    )
    assert created.status_code in (200, 201), created.text
    user = created.json()
    assert_local_user(user)
    assert (user["username"], user["email"]) == (username, f"{username}@example.com")
    assert (user["active"], user["deleted"], user["is_external"]) == (True, False, False)
    assert not [k for k in user if "password" in k]
    assert "pw-12345678" not in created.text
    uid = user["id"]

    again = http.post(
        "/api/auth/users/local",
        json={"username": username, "password": "pw-12345678"},
        headers=admin_auth,
    )
    assert again.status_code == 409

    got = http.get(f"/api/auth/users/{uid}", headers=admin_auth)
    assert got.status_code == 200
    assert got.json()["username"] == username

    put = http.put(
        f"/api/auth/users/{uid}",
        json={"email": f"new-{username}@example.com", "roles": ["admin", "user"]},
        headers=admin_auth,
    )
    assert put.status_code == 200, put.text
    assert_local_user(put.json())
    assert put.json()["email"] == f"new-{username}@example.com"
    assert "admin" in put.json()["roles"]

    reset = http.post(
        f"/api/auth/users/{uid}/password", json={"new_password": "pw-new-12345"}, headers=admin_auth
    )
    assert reset.status_code == 200, reset.text
    assert http.get("/api/auth/users/me", headers=login(http, username, "pw-new-12345")).json()[
        "sub"
    ] == str(uid)
    old = http.post("/api/auth/token", data={"username": username, "password": "pw-12345678"})
    assert old.status_code == 401

    deleted = http.delete(f"/api/auth/users/{uid}", headers=admin_auth)
    assert deleted.status_code == 200
    assert http.get(f"/api/auth/users/{uid}", headers=admin_auth).status_code == 404
    gone = http.post("/api/auth/token", data={"username": username, "password": "pw-new-12345"})
    assert gone.status_code == 401


def test_unknown_user_id_is_404(http: httpx.Client, admin_auth: dict[str, str]) -> None:
    missing = uuid.uuid4()
    assert http.get(f"/api/auth/users/{missing}", headers=admin_auth).status_code == 404
    put = http.put(f"/api/auth/users/{missing}", json={"email": None}, headers=admin_auth)
    assert put.status_code == 404
    assert http.delete(f"/api/auth/users/{missing}", headers=admin_auth).status_code == 404
    reset = http.post(
        f"/api/auth/users/{missing}/password",
        json={"new_password": "pw-12345678"},
        headers=admin_auth,
    )
    assert reset.status_code == 404


def test_change_my_password(http: httpx.Client, make_account: MakeAccount) -> None:
    user = make_account("mypw")
    headers = login(http, user.username, user.password)

    wrong = http.post(
        "/api/auth/users/me/password",
        json={"current_password": "not-it", "new_password": "pw-next-123"},
        headers=headers,
    )
    assert wrong.status_code == 403
    still = http.post(
        "/api/auth/token", data={"username": user.username, "password": user.password}
    )
    assert still.status_code == 200  # a refused change changes nothing

    right = http.post(
        "/api/auth/users/me/password",
        json={"current_password": user.password, "new_password": "pw-next-123"},
        headers=headers,
    )
    assert right.status_code == 200
    assert right.json() == {"changed": True}
    assert login(http, user.username, "pw-next-123")
    old = http.post("/api/auth/token", data={"username": user.username, "password": user.password})
    assert old.status_code == 401


def test_a_normal_user_cannot_administer_users(
    http: httpx.Client, admin_auth: dict[str, str], make_account: MakeAccount
) -> None:
    user, other = make_account("normal"), make_account("other")
    headers = login(http, user.username, user.password)

    assert http.get("/api/auth/users/", headers=headers).status_code == 403
    create = http.post(
        "/api/auth/users/local",
        json={"username": f"x-{uuid.uuid4().hex[:8]}", "password": "pw-12345678"},
        headers=headers,
    )
    assert create.status_code == 403
    assert http.get(f"/api/auth/users/{other.id}", headers=headers).status_code == 403
    promote = http.put(f"/api/auth/users/{user.id}", json={"roles": ["admin"]}, headers=headers)
    assert promote.status_code == 403
    assert http.delete(f"/api/auth/users/{other.id}", headers=headers).status_code == 403
    reset = http.post(
        f"/api/auth/users/{other.id}/password",
        json={"new_password": "pw-hijack-123"},
        headers=headers,
    )
    assert reset.status_code == 403
    assert http.get(f"/api/auth/users/{other.id}", headers=admin_auth).json()["roles"] == ["user"]
    assert login(http, other.username, other.password)  # the password did not change


def test_account_lockout_status(http: httpx.Client, make_account: MakeAccount) -> None:
    """After repeated failures a locked account is refused even with the right password, with
    423 (the status the SDK carries through for a locked account, digest §3)."""
    user = make_account("locked")
    for _ in range(5):
        bad = http.post("/api/auth/token", data={"username": user.username, "password": "x"})
        assert bad.status_code == 401
    locked = http.post(
        "/api/auth/token", data={"username": user.username, "password": user.password}
    )
    assert locked.status_code == 423, locked.text
