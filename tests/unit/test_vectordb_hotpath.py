"""The vector search hot path (`waza.services.vectordb.hotpath`) answers exactly as the FastAPI
route does, takes only the calls it may, and keeps the request context (id, timing, audit).

Every call is sent twice on one app: with the token in the ``Authorization`` header (the hot
path, once the token is cached) and with the same token in the ``access_token`` cookie (which
the hot path leaves to FastAPI's route). A spy on the hot path's service call tells which way a
call went.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, bearer, create_pat, create_user, login, running_app
from waza.gateway.hub_auth import ServicePrefix
from waza.services.vectordb import hotpath

V = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0]]
META = [{"source": "a.txt", "page": 1}, {"source": "b.txt", "page": 2}, {"source": "a.txt"}]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("vectordb-hotpath")) as client:
        yield client


@pytest.fixture
def hot_calls(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    calls: list[uuid.UUID] = []
    real = hotpath.search

    def spy(ctx: Any, user: Any, vectordb_id: uuid.UUID, body: Any) -> Any:
        calls.append(vectordb_id)
        return real(ctx, user, vectordb_id, body)

    monkeypatch.setattr(hotpath, "search", spy)
    return calls


@pytest.fixture(scope="module")
def setup(api: TestClient) -> dict[str, Any]:
    admin = login(api, "admin", ADMIN_PASSWORD)
    owner = create_user(api, admin, f"hp{uuid.uuid4().hex[:8]}")
    other = create_user(api, admin, f"hq{uuid.uuid4().hex[:8]}")
    api.cookies.clear()
    tokens = {
        "owner": create_pat(api, owner, "write"),
        "reader": create_pat(api, owner, "read"),
        "other": create_pat(api, other, "write"),
    }
    dbs = {}
    for engine in ("milvus", "qdrant"):
        reply = api.post(
            "/api/context/vectordbs", json={"name": f"hp-{engine}", "engine": engine}, headers=owner
        )
        assert reply.status_code == 201, reply.text
        db = reply.json()["id"]
        body = {"collection_name": "docs", "vectors": V, "metadata": META}
        reply = api.post(f"/api/context/vectordbs/{db}/insert", json=body, headers=owner)
        assert reply.status_code == 200, reply.text
        empty = {"name": "empty", "dimension": 3}
        reply = api.post(
            "/api/context/collections", json=empty | {"vectordb_id": db}, headers=owner
        )
        assert reply.status_code == 201, reply.text
        dbs[engine] = db
    for token in tokens.values():  # resolve once: the cache now knows them
        assert api.get("/api/auth/users/me", headers=bearer(token)).status_code == 200
    return {"tokens": tokens, "dbs": dbs, "owner": owner}


def both_ways(api: TestClient, path: str, token: str, **request: Any) -> tuple[Any, Any]:
    """The same call through the header (hot path) and the cookie (FastAPI's route)."""
    headers = dict(request.pop("headers", {}))
    hot = api.post(path, headers=headers | bearer(token), **request)
    api.cookies.set("access_token", token)
    try:
        plain = api.post(path, headers=headers, **request)
    finally:
        api.cookies.clear()
    return hot, plain


def query(**extra: Any) -> dict[str, Any]:
    return {"collection_name": "docs", "vectors": [[1.0, 0.0, 0.0]], "limit": 5} | extra


SEARCHES = {
    "plain": query(),
    "filter": query(filter={"source": "a.txt"}, output_fields=["page"]),
    "params filter": query(params={"filter": {"page": {"$gte": 2}}}),
    "threshold": query(score_threshold=0.7),
    "two vectors": query(vectors=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], limit=1),
    "empty collection": query(collection_name="empty"),
    "no such collection": query(collection_name="nope"),
    "dimension mismatch": query(vectors=[[1.0, 0.0]]),
    "bad filter": query(filter={"$where": "1"}),
}


@pytest.mark.parametrize("engine", ["milvus", "qdrant"])
@pytest.mark.parametrize("case", list(SEARCHES))
def test_hot_path_answers_as_the_route(
    api: TestClient, setup: dict, hot_calls: list, engine: str, case: str
) -> None:
    db = setup["dbs"][engine]
    path = f"/api/context/vectordbs/{db}/query"
    hot, plain = both_ways(api, path, setup["tokens"]["owner"], json=SEARCHES[case])
    assert hot_calls == [uuid.UUID(db)]  # the header call took the hot path, the cookie not
    assert (hot.status_code, hot.json()) == (plain.status_code, plain.json())
    assert hot.status_code in (200, 400, 404)
    assert hot.headers["content-type"] == plain.headers["content-type"]
    assert "engine;dur=" in hot.headers["server-timing"] or hot.status_code != 200
    assert hot.headers["x-request-id"] and hot.headers["x-content-type-options"] == "nosniff"


def test_hot_path_keeps_access_rules(api: TestClient, setup: dict, hot_calls: list) -> None:
    db = setup["dbs"]["milvus"]
    path = f"/api/context/vectordbs/{db}/query"
    hot, plain = both_ways(api, path, setup["tokens"]["other"], json=query())
    assert hot.status_code in (403, 404) and (hot.status_code, hot.json()) == (
        plain.status_code,
        plain.json(),
    )
    hot, plain = both_ways(api, path, setup["tokens"]["reader"], json=query())
    assert hot.status_code == 200 and hot.json() == plain.json()  # search only reads
    missing = f"/api/context/vectordbs/{uuid.uuid4()}/query"
    hot, plain = both_ways(api, missing, setup["tokens"]["owner"], json=query())
    assert hot.status_code == 404 and hot.json() == plain.json()
    assert len(hot_calls) == 3


REFUSED = {
    "limit 0": {"json": query(limit=0)},
    "no vectors": {"json": query(vectors=[])},
    "not JSON": {"content": b"{nope", "headers": {"content-type": "application/json"}},
    "text body": {"content": b"hello", "headers": {"content-type": "text/plain"}},
    "null": {"content": b"null", "headers": {"content-type": "application/json"}},
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refusals_are_fastapis(api: TestClient, setup: dict, hot_calls: list, case: str) -> None:
    path = f"/api/context/vectordbs/{setup['dbs']['qdrant']}/query"
    hot, plain = both_ways(api, path, setup["tokens"]["owner"], **REFUSED[case])
    assert hot_calls == []
    assert hot.status_code in (400, 415, 422)
    assert (hot.status_code, hot.json()) == (plain.status_code, plain.json())


def test_a_body_only_the_standard_library_reads(
    api: TestClient, setup: dict, hot_calls: list
) -> None:
    path = f"/api/context/vectordbs/{setup['dbs']['qdrant']}/query"
    body = b'{"collection_name":"docs","vectors":[[NaN,0,0]]}'  # pydantic's parser refuses NaN
    json_type = {"content-type": "application/json"}
    hot, plain = both_ways(api, path, setup["tokens"]["owner"], content=body, headers=json_type)
    assert (hot.status_code, hot.json()) == (plain.status_code, plain.json())
    assert hot.status_code in (400, 422)


def test_only_cached_bearer_tokens_take_it(api: TestClient, setup: dict, hot_calls: list) -> None:
    path = f"/api/context/vectordbs/{setup['dbs']['milvus']}/query"
    assert api.post(path, json=query()).status_code == 401
    assert api.post(path, json=query(), headers=bearer("wz_pat_nonsense")).status_code == 401
    fresh = create_pat(api, setup["owner"], "write")  # not resolved yet: FastAPI resolves it
    assert api.post(path, json=query(), headers=bearer(fresh)).status_code == 200
    assert hot_calls == []
    assert api.post(path, json=query(), headers=bearer(fresh)).status_code == 200
    assert len(hot_calls) == 1
    bad_id = "/api/context/vectordbs/not-a-uuid/query"
    assert api.post(bad_id, json=query(), headers=bearer(fresh)).status_code == 422
    assert len(hot_calls) == 1


def test_searches_stay_out_of_the_audit_log(api: TestClient, setup: dict) -> None:
    token = setup["tokens"]["owner"]
    path = f"/api/context/vectordbs/{setup['dbs']['milvus']}/query"
    admin = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()

    def audited() -> int:
        reply = api.get("/api/activity/activities/", params={"limit": 1000}, headers=admin)
        assert reply.status_code == 200, reply.text
        return sum(1 for a in reply.json() if "/query" in str(a))

    before = audited()
    for _ in range(3):
        assert api.post(path, json=query(), headers=bearer(token)).status_code == 200
    assert audited() == before


def test_the_hub_service_prefix_takes_it_too(api: TestClient, setup: dict, hot_calls: list) -> None:
    """Under JupyterHub searches arrive at ``/services/waza/api/...`` with the prefix as
    ``root_path``; they take the hot path and answer as at ``/api/...``."""
    hub = TestClient(ServicePrefix(api.app, "/services/waza"))
    db = setup["dbs"]["qdrant"]
    owner = bearer(setup["tokens"]["owner"])
    prefixed = hub.post(
        f"/services/waza/api/context/vectordbs/{db}/query", json=query(), headers=owner
    )
    plain = api.post(f"/api/context/vectordbs/{db}/query", json=query(), headers=owner)
    assert prefixed.status_code == 200 and prefixed.json() == plain.json()
    assert hot_calls == [uuid.UUID(db)] * 2
