"""Security checks against a live `waza api` process (issue #10, part 5): forged JWTs in every
form, login throttling under parallel attempts, CORS closed by default, security headers on
HTML, and no password, token or secret value in any response or in the server's log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from tests.conftest import ADMIN_PASSWORD, LiveServer, bearer, create_pat, create_user, login


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Any:
    with live_server.http() as client:
        yield client


@pytest.fixture(scope="module")
def admin(http: httpx.Client) -> dict[str, str]:
    headers = login(http, "admin", ADMIN_PASSWORD)
    http.cookies.clear()
    return headers


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def _me(http: httpx.Client, token: str) -> httpx.Response:
    http.cookies.clear()
    return http.get("/api/auth/users/me", headers=bearer(token))


def test_forged_jwts_are_401(http: httpx.Client, admin: dict[str, str]) -> None:
    real = admin["Authorization"].split()[1]
    claims = jwt.decode(real, options={"verify_signature": False})
    header = jwt.get_unverified_header(real)
    assert _me(http, real).status_code == 200
    jwk = http.get("/api/auth/jwks").json()["keys"][0]
    public_pem = RSAAlgorithm.from_jwk(json.dumps(jwk)).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # HS256 "signed" with the public key: the classic algorithm-confusion attack (built by
    # hand: PyJWT refuses to make one)
    confused = _hs256({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}, claims, public_pem)
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    forged = {
        "HS256 with the public key": confused,
        "alg none": unsigned,
        "tampered payload": real.split(".")[0]
        + "."
        + jwt.utils.base64url_encode(
            json.dumps({**claims, "sub": str(uuid.uuid4())}).encode()
        ).decode()
        + "."
        + real.split(".")[2],
    }
    for name, token in forged.items():
        reply = _me(http, token)
        assert reply.status_code == 401, name
        assert reply.json()["detail"] == "Invalid token", name


def test_jwts_with_wrong_claims_are_401(live_server: LiveServer, admin: dict[str, str]) -> None:
    """Tokens signed with the platform's own key but for someone else, or too old."""
    from waza.crypto import Envelope
    from waza.db import Database
    from waza.services.auth.tokens import KeyRing

    settings = live_server.settings
    keys = KeyRing(
        Database(settings.effective_database_url),
        Envelope(b"test-kek"),
        settings.jwt_issuer,
        settings.jwt_audience,
    )
    keys.ensure_loaded()
    real = admin["Authorization"].split()[1]
    claims = jwt.decode(real, options={"verify_signature": False})
    now = int(time.time())
    cases = {
        "wrong audience": ({**claims, "aud": "another-service"}, "Invalid token"),
        "wrong issuer": ({**claims, "iss": "someone-else"}, "Invalid token"),
        "expired": ({**claims, "exp": now - 60}, "Token expired"),
    }
    with live_server.http() as http:
        assert _me(http, keys.sign(claims, ttl=300)).status_code == 200  # the key is the real one
        for name, (body, detail) in cases.items():
            token = keys.sign(body, ttl=300) if name != "expired" else keys.sign(body, ttl=1)
            reply = _me(http, token)
            assert (reply.status_code, reply.json()["detail"]) == (401, detail), name


def test_login_lockout_holds_under_parallel_attempts(
    live_server: LiveServer, http: httpx.Client, admin: dict[str, str]
) -> None:
    name = f"target{uuid.uuid4().hex[:6]}"
    password = f"pw-{name}-123"  # what create_user sets
    create_user(http, admin, name)
    limit = live_server.settings.login_max_failures

    def guess(i: int) -> int:
        with httpx.Client(base_url=live_server.url, timeout=60) as c:
            body = {"username": name, "password": f"wrong-{i}"}
            return c.post("/api/auth/token", data=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(guess, range(4 * limit)))
    assert set(codes) <= {401, 423, 429}, codes
    assert codes.count(401) <= limit + 8  # at most the attempts already in flight got through
    right = httpx.post(
        live_server.url + "/api/auth/token", data={"username": name, "password": password}
    )
    assert right.status_code in (423, 429), right.text  # even the right password waits now


def test_cors_is_closed_by_default(http: httpx.Client, admin: dict[str, str]) -> None:
    evil = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    preflight = http.options("/api/auth/users/me", headers=evil)
    assert "access-control-allow-origin" not in preflight.headers
    simple = http.get("/api/auth/users/me", headers={**admin, "Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_security_headers(http: httpx.Client) -> None:
    page = http.get("/api/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    data = http.get("/api/ping")
    assert data.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in data.headers


def test_no_password_token_or_secret_value_leaks(
    live_server: LiveServer, http: httpx.Client, admin: dict[str, str]
) -> None:
    name = f"leak{uuid.uuid4().hex[:6]}"
    user = create_user(http, admin, name)
    password = f"pw-{name}-123"  # what create_user sets
    http.cookies.clear()
    pat = create_pat(http, user, "write")
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    made = http.post(
        "/api/catalog/secrets/",
        json={"name": f"k{uuid.uuid4().hex[:6]}", "value": secret_value},
        headers=bearer(pat),
    )
    assert made.status_code in (200, 201), made.text
    urn = made.json()
    seen = [
        http.get("/api/auth/users/me", headers=bearer(pat)).text,
        http.get("/api/auth/pats", headers=bearer(pat)).text,
        http.get("/api/catalog/secrets/", headers=bearer(pat)).text,
        http.get("/api/catalog/secrets/by-urn", params={"urn": urn}, headers=bearer(pat)).text,
        http.get("/api/activity/activities/", headers=admin).text,
        http.post("/api/auth/token", data={"username": name, "password": "wrong"}).text,
    ]
    log = live_server.settled_log()
    for text in [*seen, log]:
        assert password not in text
        assert pat not in text
        assert secret_value not in text


def test_path_traversal_is_refused_everywhere(
    live_server: LiveServer, http: httpx.Client, admin: dict[str, str]
) -> None:
    """Every input that names a file on the server stays inside the caller's folders."""
    name = f"walker{uuid.uuid4().hex[:6]}"
    user = create_user(http, admin, name)
    http.cookies.clear()
    home = live_server.settings.home
    own = home / "users" / name
    own.mkdir(parents=True, exist_ok=True)
    (own / "ok.txt").write_text("fine")
    outside = home / "private.txt"
    outside.write_text("admin only")
    (own / "link.txt").symlink_to(outside)
    sneaky = [str(own / ".." / ".." / "private.txt"), str(outside), str(own / "link.txt"), "/etc"]
    for path in sneaky:
        ingest = http.post(
            "/api/ingestion/ingest/run",
            json={"source_type": "file", "kwargs": {"path": path}},
            headers=user,
        )
        assert ingest.status_code in (403, 404), (path, ingest.text)
        rag = http.post(
            "/api/ingestion/rag/ingest", json={"path": path, "collection": "c"}, headers=user
        )
        assert rag.status_code in (403, 404), (path, rag.text)
        model = http.post("/api/models/import", json={"path": path}, headers=user)
        assert model.status_code in (403, 404), (path, model.text)
    # the same calls inside the user's folder work
    fine = http.post(
        "/api/ingestion/ingest/run",
        json={"source_type": "file", "kwargs": {"path": str(own / "ok.txt")}},
        headers=user,
    )
    assert fine.status_code == 200, fine.text
    # upload file names cannot climb out of the model's folder
    for bad in ("../evil.bin", "/abs/evil.bin", "a/../../evil.bin"):
        up = http.post(
            "/api/models/upload", files=[("files", (bad, b"x"))], data={"name": "u"}, headers=user
        )
        assert up.status_code == 400, (bad, up.text)
    assert not list(home.rglob("evil.bin"))
