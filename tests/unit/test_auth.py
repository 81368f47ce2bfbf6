"""Auth service through the in-process app: sessions, throttling, PATs, scopes, users."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from tests.conftest import ADMIN_PASSWORD, bearer, create_pat, create_user, login
from waza.settings import Settings


def test_password_login_returns_tokens_and_me(client: TestClient) -> None:
    reply = client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0 and body["refresh_token"]
    me = client.get("/api/auth/users/me", headers=bearer(body["access_token"])).json()
    assert me["username"] == "admin"
    assert me["is_admin"] is True
    assert uuid.UUID(me["sub"])
    assert me["urn"] == "urn:li:corpuser:admin"


def test_cookie_session_is_accepted(client: TestClient) -> None:
    client.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    # TestClient keeps the httponly cookie the login set, as a browser would.
    assert client.get("/api/auth/users/me").json()["username"] == "admin"


def test_wrong_password_is_401_with_sdk_string(client: TestClient) -> None:
    reply = client.post("/api/auth/token", data={"username": "admin", "password": "nope-nope"})
    assert reply.status_code == 401
    assert reply.json() == {"detail": "Invalid credentials"}
    unknown = client.post("/api/auth/token", data={"username": "ghost", "password": "whatever1"})
    assert unknown.status_code == 401
    assert unknown.json() == {"detail": "Invalid credentials"}


def test_repeated_failures_lock_the_account(make_settings) -> None:  # type: ignore[no-untyped-def]
    from waza.gateway.app import create_app

    settings = make_settings(login_max_failures=3, login_lockout_seconds=60)
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            bad = {"username": "admin", "password": "wrong-password"}
            assert client.post("/api/auth/token", data=bad).status_code == 401
        locked = client.post(
            "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert locked.status_code == 423
        assert int(locked.headers["retry-after"]) > 0
        assert locked.json() == {"detail": "Account is temporarily locked. Retry later."}


def test_refresh_rotates_and_reuse_revokes_session(client: TestClient) -> None:
    first = client.post(
        "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()
    second = client.post("/api/auth/refresh", params={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    new = second.json()
    assert client.get("/api/auth/users/me", headers=bearer(new["access_token"])).status_code == 200
    # Replaying the old refresh token is treated as theft: refused, and the session ends.
    replay = client.post("/api/auth/refresh", params={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json() == {"detail": "invalid_grant"}
    assert client.get("/api/auth/users/me", headers=bearer(new["access_token"])).status_code == 401


def test_refresh_rejects_access_tokens_and_garbage(client: TestClient) -> None:
    tokens = client.post(
        "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()
    for bad in (tokens["access_token"], "garbage"):
        reply = client.post("/api/auth/refresh", params={"refresh_token": bad})
        assert reply.status_code == 401


def test_logout_ends_the_session(client: TestClient) -> None:
    headers = login(client, "admin", ADMIN_PASSWORD)
    assert client.post("/api/auth/logout", json={}, headers=headers).status_code == 200
    reply = client.get("/api/auth/users/me", headers=headers)
    assert reply.status_code == 401
    assert reply.json() == {"detail": "Invalid token"}


def test_forged_and_tampered_tokens_are_401(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    real = admin_headers["Authorization"].split()[1]
    claims = jwt.decode(real, options={"verify_signature": False})
    kid = jwt.get_unverified_header(real)["kid"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": kid})
    none_alg = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    tampered = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for token in (forged, none_alg, tampered, "not-a-token", "wzp_unknown"):
        reply = client.get("/api/auth/users/me", headers=bearer(token))
        assert reply.status_code == 401, token
        assert reply.json()["detail"] in {"Invalid token", "Token expired"}
    client.cookies.clear()  # the login above left a session cookie, as a browser would
    missing = client.get("/api/auth/users/me")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Not authenticated"}


def test_expired_session_token_is_401_token_expired(make_settings) -> None:  # type: ignore[no-untyped-def]
    from waza.gateway.app import create_app

    settings: Settings = make_settings()
    with TestClient(create_app(settings)) as client:
        ctx = client.app.state.waza  # type: ignore[attr-defined]
        headers = login(client, "admin", ADMIN_PASSWORD)
        claims = jwt.decode(
            headers["Authorization"].split()[1], options={"verify_signature": False}
        )
        expired = ctx.auth.keys.sign({**claims, "exp": int(time.time()) - 10}, ttl=1)
        reply = client.get("/api/auth/users/me", headers=bearer(expired))
        assert reply.status_code == 401
        assert reply.json() == {"detail": "Token expired"}


def test_pat_query_and_json_forms(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    by_query = client.post(
        "/api/auth/pats?name=q&ttl_seconds=900&scope=admin&aud=kamiwaza-platform",
        headers=admin_headers,
    )
    assert by_query.status_code == 201
    pat = by_query.json()["pat"]
    assert pat["name"] == "q" and pat["scope"] == "admin" and pat["aud"] == "kamiwaza-platform"
    assert pat["ttl_seconds"] == 900 and pat["exp"] > time.time()
    by_json = client.post(
        "/api/auth/pats", json={"name": "j", "scope": "read"}, headers=admin_headers
    )
    assert by_json.status_code == 201 and by_json.json()["pat"]["scope"] == "read"
    listed = client.get("/api/auth/pats", headers=admin_headers).json()["pats"]
    assert {p["name"] for p in listed} >= {"q", "j"}
    assert all("token" not in p for p in listed)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [("scope=root", "scope"), ("ttl_seconds=-5", "ttl_seconds"), ("ttl_seconds=abc", "ttl")],
)
def test_pat_bad_fields_are_422(client: TestClient, admin_headers, query, fragment) -> None:  # type: ignore[no-untyped-def]
    reply = client.post(f"/api/auth/pats?{query}", headers=admin_headers)
    assert reply.status_code == 422
    assert fragment in str(reply.json()["detail"])


def test_pat_revocation_is_immediate(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/api/auth/pats?name=r", headers=admin_headers).json()
    token, jti = created["token"], created["pat"]["jti"]
    assert client.get("/api/auth/users/me", headers=bearer(token)).status_code == 200
    assert client.delete(f"/api/auth/pats/{jti}", headers=admin_headers).status_code == 200
    reply = client.get("/api/auth/users/me", headers=bearer(token))
    assert reply.status_code == 401
    assert client.delete("/api/auth/pats/unknown-jti", headers=admin_headers).status_code == 404


def test_expired_pat_is_rejected(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    token = client.post("/api/auth/pats?name=e&ttl_seconds=1", headers=admin_headers).json()[
        "token"
    ]
    time.sleep(1.2)
    reply = client.get("/api/auth/users/me", headers=bearer(token))
    assert reply.status_code == 401
    assert reply.json() == {"detail": "Token expired"}


def test_scopes_limit_what_a_pat_can_do(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    admin_pat = bearer(create_pat(client, admin_headers, "admin"))
    write_pat = bearer(create_pat(client, admin_headers, "write"))
    read_pat = bearer(create_pat(client, admin_headers, "read"))
    assert client.get("/api/auth/users/", headers=admin_pat).status_code == 200
    # An admin's write or read token never carries admin rights.
    assert client.get("/api/auth/users/", headers=write_pat).status_code == 403
    assert client.get("/api/auth/users/", headers=read_pat).status_code == 403
    assert client.get("/api/auth/users/me", headers=read_pat).status_code == 200
    # A read token cannot change anything, not even create another token.
    denied = client.post("/api/auth/pats?name=x&scope=read", headers=read_pat)
    assert denied.status_code == 403
    assert "read" in denied.json()["detail"]
    # A write token may create write tokens but not escalate to admin.
    assert client.post("/api/auth/pats?scope=write", headers=write_pat).status_code == 201
    assert client.post("/api/auth/pats?scope=admin", headers=write_pat).status_code == 403


def test_normal_user_cannot_see_or_change_other_users(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    alice = create_user(client, admin_headers, "alice")
    bob = create_user(client, admin_headers, "bob")
    bob_id = client.get("/api/auth/users/me", headers=bob).json()["sub"]
    alice_id = client.get("/api/auth/users/me", headers=alice).json()["sub"]
    assert client.get("/api/auth/users/", headers=alice).status_code == 403
    assert client.get(f"/api/auth/users/{bob_id}", headers=alice).status_code == 403
    assert client.get(f"/api/auth/users/{alice_id}", headers=alice).status_code == 200
    assert (
        client.put(f"/api/auth/users/{bob_id}", json={"active": False}, headers=alice).status_code
        == 403
    )
    assert client.delete(f"/api/auth/users/{bob_id}", headers=alice).status_code == 403
    reset = client.post(
        f"/api/auth/users/{bob_id}/password", json={"new_password": "hijacked-1"}, headers=alice
    )
    assert reset.status_code == 403
    create = {"username": "mallory", "password": "whatever-1", "roles": ["admin"]}
    assert client.post("/api/auth/users/local", json=create, headers=alice).status_code == 403
    # Alice cannot revoke Bob's tokens either: unknown to her (404), and Bob's token survives.
    bob_pat = client.post("/api/auth/pats?name=b", headers=bob).json()
    assert (
        client.delete(f"/api/auth/pats/{bob_pat['pat']['jti']}", headers=alice).status_code == 404
    )
    assert client.get("/api/auth/users/me", headers=bearer(bob_pat["token"])).status_code == 200


def test_admin_user_management(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    body = {"username": "carol", "password": "carol-pass-1", "email": "carol@example.com"}
    created = client.post("/api/auth/users/local", json=body, headers=admin_headers)
    assert created.status_code == 201
    user = created.json()
    assert user["roles"] == ["user"] and user["active"] and not user["deleted"]
    assert client.post("/api/auth/users/local", json=body, headers=admin_headers).status_code == 409
    uid = user["id"]
    updated = client.put(
        f"/api/auth/users/{uid}",
        json={"roles": ["admin"], "full_name": "Carol C"},
        headers=admin_headers,
    ).json()
    assert "admin" in updated["roles"] and updated["full_name"] == "Carol C"
    reset = client.post(
        f"/api/auth/users/{uid}/password",
        json={"new_password": "carol-pass-2"},
        headers=admin_headers,
    )
    assert reset.status_code == 200 and reset.json()["id"] == uid
    assert (
        client.post(
            "/api/auth/token", data={"username": "carol", "password": "carol-pass-2"}
        ).status_code
        == 200
    )
    carol = login(client, "carol", "carol-pass-2")
    carol_pat = create_pat(client, carol, "write")
    client.put(f"/api/auth/users/{uid}", json={"active": False}, headers=admin_headers)
    # Disabling a user ends their sessions and tokens at once.
    assert client.get("/api/auth/users/me", headers=carol).status_code == 401
    assert client.get("/api/auth/users/me", headers=bearer(carol_pat)).status_code == 401
    disabled = client.post(
        "/api/auth/token", data={"username": "carol", "password": "carol-pass-2"}
    )
    assert disabled.status_code == 403
    deleted = client.delete(f"/api/auth/users/{uid}", headers=admin_headers)
    assert deleted.status_code == 200 and deleted.json()["username"] == "carol"
    assert deleted.json()["deleted"] is True
    assert client.get(f"/api/auth/users/{uid}", headers=admin_headers).status_code == 404


def test_admin_cannot_lock_themselves_out(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    me = client.get("/api/auth/users/me", headers=admin_headers).json()["sub"]
    assert client.delete(f"/api/auth/users/{me}", headers=admin_headers).status_code == 400
    demote = client.put(f"/api/auth/users/{me}", json={"roles": ["user"]}, headers=admin_headers)
    assert demote.status_code == 400


def test_change_own_password(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    dave = create_user(client, admin_headers, "dave")
    wrong = {"current_password": "not-it-at-all", "new_password": "dave-new-pass"}
    assert client.post("/api/auth/users/me/password", json=wrong, headers=dave).status_code == 403
    right = {"current_password": "pw-dave-123", "new_password": "dave-new-pass"}
    reply = client.post("/api/auth/users/me/password", json=right, headers=dave)
    assert reply.json() == {"changed": True}
    login(client, "dave", "dave-new-pass")


def test_secrets_are_not_stored_in_plain_text(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    token = create_pat(client, admin_headers, "admin")
    ctx = client.app.state.waza  # type: ignore[attr-defined]
    with ctx.db.engine.connect() as conn:
        users = conn.execute(text("SELECT password_hash FROM users")).scalars().all()
        pats = conn.execute(text("SELECT * FROM personal_access_tokens")).all()
        keys = conn.execute(text("SELECT private_key_encrypted FROM signing_keys")).scalars().all()
    assert all(h.startswith("$argon2id$") for h in users)
    assert not any(ADMIN_PASSWORD in h for h in users)
    dumped = repr(pats)
    assert token not in dumped and token.removeprefix("wzp_") not in dumped
    assert keys and all("PRIVATE KEY" not in k for k in keys)


def test_jwks_publishes_the_signing_key(client: TestClient, admin_headers) -> None:  # type: ignore[no-untyped-def]
    jwks = client.get("/api/auth/jwks").json()
    token = admin_headers["Authorization"].split()[1]
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    public = jwt.PyJWK(key).key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="kamiwaza-platform")
    assert claims["preferred_username"] == "admin"


def test_admin_can_rename_a_user_but_not_onto_a_taken_name(
    client: TestClient, admin_headers
) -> None:  # type: ignore[no-untyped-def]
    create_user(client, admin_headers, "gina")
    create_user(client, admin_headers, "hank")
    users = {
        u["username"]: u["id"] for u in client.get("/api/auth/users/", headers=admin_headers).json()
    }
    renamed = client.put(
        f"/api/auth/users/{users['gina']}", json={"username": "gina2"}, headers=admin_headers
    )
    assert renamed.status_code == 200 and renamed.json()["username"] == "gina2"
    login(client, "gina2", "pw-gina-123")
    taken = client.put(
        f"/api/auth/users/{users['hank']}", json={"username": "gina2"}, headers=admin_headers
    )
    assert taken.status_code == 409
    bad = client.put(
        f"/api/auth/users/{users['hank']}", json={"username": "no spaces"}, headers=admin_headers
    )
    assert bad.status_code == 422


def test_rotating_the_key_encryption_key_keeps_sessions_valid(make_settings) -> None:  # type: ignore[no-untyped-def]
    from waza.gateway.app import create_app

    settings: Settings = make_settings(secret_key="old-kek")
    with TestClient(create_app(settings)) as client:
        headers = login(client, "admin", ADMIN_PASSWORD)
        kids = {k["kid"] for k in client.get("/api/auth/jwks").json()["keys"]}
    rotated = settings.model_copy(
        update={"secret_key": SecretStr("new-kek"), "secret_key_previous": SecretStr("old-kek")}
    )
    with TestClient(create_app(rotated)) as client:
        assert client.get("/api/auth/users/me", headers=headers).status_code == 200
        assert {k["kid"] for k in client.get("/api/auth/jwks").json()["keys"]} == kids
    # The signing key was re-wrapped: the old key is no longer needed.
    only_new = settings.model_copy(update={"secret_key": SecretStr("new-kek")})
    with TestClient(create_app(only_new)) as client:
        assert client.get("/api/auth/users/me", headers=headers).status_code == 200
