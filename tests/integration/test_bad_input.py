"""Bad input against a live `waza api`: always the right 4xx with a useful detail, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, bearer, login


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.http() as client:
        yield client


@pytest.fixture(scope="module")
def admin(http: httpx.Client) -> dict[str, str]:
    return login(http, "admin", ADMIN_PASSWORD)


def _json_headers(admin: dict[str, str]) -> dict[str, str]:
    return {**admin, "Content-Type": "application/json"}


def test_malformed_json_is_422_with_location(http: httpx.Client, admin: dict[str, str]) -> None:
    reply = http.post(
        "/api/auth/users/local", content=b'{"username": ', headers=_json_headers(admin)
    )
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert detail[0]["type"] == "json_invalid"
    assert "JSON" in detail[0]["msg"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "long-enough-1"}, "username"),
        ({"username": "x1"}, "password"),
        ({"username": 12, "password": "long-enough-1"}, "username"),
        ({"username": "ok-name", "password": "short"}, "password"),
        ({"username": "bad name!", "password": "long-enough-1"}, "username"),
        ({"username": "ok-name2", "password": "long-enough-1", "roles": ["root"]}, "roles"),
        ({"username": "ok-name3", "password": "long-enough-1", "email": "no-at-sign"}, "email"),
        ({"username": "ok-name4", "password": "long-enough-1", "surprise": 1}, "surprise"),
    ],
)
def test_wrong_or_missing_fields_name_the_field(
    http: httpx.Client, admin: dict[str, str], body: dict[str, object], field: str
) -> None:
    reply = http.post("/api/auth/users/local", json=body, headers=admin)
    assert reply.status_code == 422, reply.text
    locations = [".".join(str(p) for p in d["loc"]) for d in reply.json()["detail"]]
    assert any(field in loc for loc in locations), locations
    assert "input" not in reply.text or "long-enough-1" not in reply.text  # no echoed secrets


def test_wrong_content_type_is_415(http: httpx.Client, admin: dict[str, str]) -> None:
    reply = http.post(
        "/api/auth/users/local",
        content=b"username=a&password=b",
        headers={**admin, "Content-Type": "text/plain"},
    )
    assert reply.status_code == 415
    assert "application/json" in reply.json()["detail"]


def test_form_endpoint_with_json_body_is_422(http: httpx.Client) -> None:
    reply = http.post("/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert reply.status_code in (415, 422)
    assert reply.json()["detail"]


def test_unknown_ids_are_404_and_bad_ids_422(http: httpx.Client, admin: dict[str, str]) -> None:
    unknown = http.get(f"/api/auth/users/{uuid.uuid4()}", headers=admin)
    assert unknown.status_code == 404
    assert "not found" in unknown.json()["detail"]
    malformed = http.get("/api/auth/users/not-a-uuid", headers=admin)
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "user_id"]
    assert http.delete("/api/auth/pats/nope", headers=admin).status_code == 404


def test_unknown_route_is_json_404(http: httpx.Client) -> None:
    reply = http.get("/api/does-not-exist")
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"detail": "Not Found"}


def test_oversized_body_is_413(http: httpx.Client, admin: dict[str, str]) -> None:
    big = b'{"username": "' + b"a" * (11 * 1024 * 1024) + b'"}'
    reply = http.post("/api/auth/users/local", content=big, headers=_json_headers(admin))
    assert reply.status_code == 413
    assert "too large" in reply.json()["detail"]


def test_oversized_chunked_body_is_413(http: httpx.Client, admin: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(12):
            yield b"x" * (1024 * 1024)

    reply = http.post("/api/auth/users/local", content=chunks(), headers=_json_headers(admin))
    assert reply.status_code == 413


@pytest.mark.parametrize(
    "token",
    ["garbage", "wzp_" + "a" * 43, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", ""],
)
def test_bad_tokens_are_401_everywhere(live_server: LiveServer, token: str) -> None:
    http = live_server.http()  # no cookie jar from earlier logins
    for method, path in [
        ("GET", "/api/auth/users/me"),
        ("GET", "/api/auth/users/"),
        ("GET", "/api/activity/activities/"),
        ("POST", "/api/auth/pats"),
        ("GET", "/api/cluster/nodes"),
    ]:
        reply = http.request(method, path, headers=bearer(token) if token else {})
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["detail"] in {"Invalid token", "Not authenticated", "Token expired"}
        assert reply.headers.get("www-authenticate") == "Bearer"


def test_revoked_pat_is_401(http: httpx.Client, admin: dict[str, str]) -> None:
    created = http.post("/api/auth/pats?name=gone", headers=admin).json()
    http.delete(f"/api/auth/pats/{created['pat']['jti']}", headers=admin)
    reply = http.get("/api/auth/users/me", headers=bearer(created["token"]))
    assert reply.status_code == 401


def test_request_id_is_echoed_or_generated(http: httpx.Client) -> None:
    assert http.get("/api/ping", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == (
        "abc-123"
    )
    generated = http.get("/api/ping", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert len(generated.headers["x-request-id"]) == 32


def test_no_5xx_in_the_server_log(live_server: LiveServer) -> None:
    """Runs last in this module: nothing above made the server fail."""
    log = live_server.settled_log()
    assert "status=500" not in log
    assert "Traceback" not in log


def test_node_routes(live_server: LiveServer, admin: dict[str, str]) -> None:
    with live_server.http() as http:
        status = http.get("/api/node/node_status")  # public: the harness probes it
        assert status.status_code == 200 and status.json()["status"] == "online"
        assert http.get("/api/node/node_id").status_code == 401
        node_id = http.get("/api/node/node_id", headers=admin).json()
        nodes = http.get("/api/cluster/nodes", headers=admin).json()
    assert node_id in {n["id"] for n in nodes}
