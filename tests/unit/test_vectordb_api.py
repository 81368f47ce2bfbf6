"""The vector DB routes in process: ownership, validation, 404s, deletes and the legacy API.

One app serves the whole module (engine start-up is the slow part); every test makes its own
users and vector DBs, so tests do not depend on each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import (
    ADMIN_PASSWORD,
    bearer,
    create_pat,
    create_user,
    free_port,
    login,
    running_app,
)
from waza.settings import Settings

Headers = dict[str, str]
V = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0]]
META = [{"source": "a.txt", "page": 1}, {"source": "b.txt", "page": 2}, {"source": "a.txt"}]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("vectordb-api")) as client:
        yield client


@pytest.fixture(scope="module")
def admin(api: TestClient) -> Headers:
    headers = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    return headers


def _user(api: TestClient, admin: Headers, prefix: str = "u") -> Headers:
    headers = create_user(api, admin, f"{prefix}{uuid.uuid4().hex[:8]}")
    api.cookies.clear()  # authenticate by header only
    return headers


@pytest.fixture
def alice(api: TestClient, admin: Headers) -> Headers:
    return _user(api, admin, "alice")


@pytest.fixture
def bob(api: TestClient, admin: Headers) -> Headers:
    return _user(api, admin, "bob")


def _create(api: TestClient, who: Headers, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"db-{uuid.uuid4().hex[:6]}")
    reply = api.post("/api/context/vectordbs", json=body, headers=who)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def _insert(api: TestClient, who: Headers, db: str, coll: str = "docs", **extra: Any) -> Any:
    body = {"collection_name": coll, "vectors": V, "metadata": META, **extra}
    return api.post(f"/api/context/vectordbs/{db}/insert", json=body, headers=who)


def _query(api: TestClient, who: Headers, db: str, coll: str = "docs", **extra: Any) -> Any:
    body = {"collection_name": coll, "vectors": [[1.0, 0.0, 0.0]], "limit": 5, **extra}
    return api.post(f"/api/context/vectordbs/{db}/query", json=body, headers=who)


def test_health_is_public(api: TestClient) -> None:
    reply = api.get("/api/context/health")
    assert reply.status_code == 200
    body = reply.json()
    assert (body["status"], body["service"]) == ("healthy", "context")
    assert "query_vectors" in body["features"] and body["default_engine"] == "milvus"


@pytest.mark.parametrize("engine", ["milvus", "qdrant"])
def test_create_get_list_delete(api: TestClient, alice: Headers, engine: str) -> None:
    home = Path(api.app.state.waza.settings.home)  # type: ignore[attr-defined]
    db = _create(api, alice, engine=engine, config={"metric": "ip", "token": "hidden"})
    assert db["status"] == "running" and db["engine"] == engine
    assert db["endpoint"].startswith(str(home / "vectors" / db["id"]))
    assert db["default_metric"] == "IP" and "config" not in db
    assert db["workroom_id"] == "ffffffff-ffff-ffff-ffff-ffffffffffff"
    got = api.get(f"/api/context/vectordbs/{db['id']}", headers=alice).json()
    assert got["id"] == db["id"] and "config" not in got and "hidden" not in str(got)
    assert db["id"] in [d["id"] for d in api.get("/api/context/vectordbs", headers=alice).json()]
    assert _insert(api, alice, db["id"]).status_code == 200
    folder = home / "vectors" / db["id"]
    assert folder.exists()
    reply = api.delete(f"/api/context/vectordbs/{db['id']}", headers=alice)
    assert reply.status_code == 200 and reply.json()["deleted"] is True
    assert not folder.exists()
    assert api.get(f"/api/context/vectordbs/{db['id']}", headers=alice).status_code == 404


def test_create_validation(api: TestClient, alice: Headers) -> None:
    db = _create(api, alice)
    again = api.post("/api/context/vectordbs", json={"name": db["name"]}, headers=alice)
    assert again.status_code == 409 and db["name"] in again.json()["detail"]
    bad = api.post("/api/context/vectordbs", json={"name": "x", "engine": "faiss"}, headers=alice)
    assert bad.status_code == 400 and "milvus" in bad.json()["detail"]
    bad = api.post(
        "/api/context/vectordbs", json={"name": "y", "config": {"metric": "hamming"}}, headers=alice
    )
    assert bad.status_code == 400
    assert api.post("/api/context/vectordbs", json={"name": ""}, headers=alice).status_code == 422


def test_owners_see_their_own_and_shared_dbs(
    api: TestClient, admin: Headers, alice: Headers, bob: Headers
) -> None:
    private = _create(api, alice)
    shared = _create(api, alice, shared=True)
    assert _insert(api, alice, private["id"]).status_code == 200
    assert _insert(api, alice, shared["id"]).status_code == 200

    seen = {d["id"] for d in api.get("/api/context/vectordbs", headers=bob).json()}
    assert shared["id"] in seen and private["id"] not in seen
    assert api.get(f"/api/context/vectordbs/{private['id']}", headers=bob).status_code == 403
    assert _query(api, bob, private["id"]).status_code == 403
    coll = f"/api/context/collections/docs?vectordb_id={private['id']}"
    assert api.get(coll, headers=bob).status_code == 403

    # a shared DB can be read and searched by others, not changed
    assert api.get(f"/api/context/vectordbs/{shared['id']}", headers=bob).status_code == 200
    assert len(_query(api, bob, shared["id"]).json()["results"]) == 3
    assert _insert(api, bob, shared["id"]).status_code == 403
    assert (
        api.delete(
            f"/api/context/collections/docs?vectordb_id={shared['id']}", headers=bob
        ).status_code
        == 403
    )
    put = api.put(f"/api/context/vectordbs/{shared['id']}", json={"shared": False}, headers=bob)
    assert put.status_code == 403
    assert api.delete(f"/api/context/vectordbs/{shared['id']}", headers=bob).status_code == 403

    # admins see and change everything
    everything = {d["id"] for d in api.get("/api/context/vectordbs", headers=admin).json()}
    assert {private["id"], shared["id"]} <= everything
    assert _query(api, admin, private["id"]).status_code == 200
    assert api.delete(f"/api/context/vectordbs/{private['id']}", headers=admin).status_code == 200


def test_unknown_vectordb_or_collection_is_404(api: TestClient, alice: Headers) -> None:
    nobody = str(uuid.uuid4())
    assert api.get(f"/api/context/vectordbs/{nobody}", headers=alice).status_code == 404
    assert api.delete(f"/api/context/vectordbs/{nobody}", headers=alice).status_code == 404
    assert _insert(api, alice, nobody).status_code == 404
    assert _query(api, alice, nobody).status_code == 404
    assert (
        api.get(f"/api/context/collections/?vectordb_id={nobody}", headers=alice).status_code == 404
    )
    db = _create(api, alice)["id"]
    missing = _query(api, alice, db, "nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert (
        api.get(f"/api/context/collections/nope?vectordb_id={db}", headers=alice).status_code == 404
    )
    assert (
        api.delete(f"/api/context/collections/nope?vectordb_id={db}", headers=alice).status_code
        == 404
    )
    assert _insert(api, alice, db, "nope", create_if_missing=False).status_code == 404
    assert api.get("/api/context/vectordbs/not-a-uuid", headers=alice).status_code == 422


def test_input_validation(api: TestClient, alice: Headers) -> None:
    db = _create(api, alice)["id"]
    bad_name = _insert(api, alice, db, "bad-name")
    assert bad_name.status_code == 422 and "bad-name" in bad_name.json()["detail"]
    assert (
        api.get(f"/api/context/collections/bad-name?vectordb_id={db}", headers=alice).status_code
        == 422
    )
    assert _insert(api, alice, db).status_code == 200
    mismatch = _insert(api, alice, db, vectors=[[1.0, 2.0]], metadata=[{}])
    assert mismatch.status_code == 400
    assert (
        "3-dimensional" in mismatch.json()["detail"]
        and "2-dimensional" in mismatch.json()["detail"]
    )
    assert _query(api, alice, db, vectors=[[1.0, 2.0]]).status_code == 400
    assert _insert(api, alice, db, metadata=[{}]).status_code == 400  # 1 entry for 3 vectors
    assert _insert(api, alice, db, ids=["x", "y", "z"]).status_code == 400
    unknown_op = _query(api, alice, db, filter={"page": {"$regex": "a"}})
    assert unknown_op.status_code == 400 and "$regex" in unknown_op.json()["detail"]
    assert _query(api, alice, db, filter='source == "a.txt"').status_code == 400
    assert _query(api, alice, db, filter={"page": {"$gt": "1"}}).status_code == 400
    assert _query(api, alice, db, vectors=[]).status_code == 422
    assert _query(api, alice, db, limit=0).status_code == 422
    assert _insert(api, alice, db, "other", metric="hamming").status_code == 400


def test_insert_and_query_behaviour(api: TestClient, alice: Headers) -> None:
    db = _create(api, alice)["id"]
    created = _insert(api, alice, db)
    assert created.status_code == 200
    body = created.json()
    assert body["inserted_count"] == 3 and body["created_collection"] is True
    assert len(set(body["ids"])) == 3
    hits = _query(api, alice, db).json()["results"]
    assert [h["id"] for h in hits] == [body["ids"][0], body["ids"][2], body["ids"][1]]
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert hits[0]["metadata"] == {"source": "a.txt", "page": 1}
    assert hits[0]["score"] > hits[1]["score"] > hits[2]["score"]
    filtered = _query(api, alice, db, filter={"source": "a.txt"}, output_fields=["page"]).json()
    assert [h["metadata"] for h in filtered["results"]] == [{"page": 1}, {}]
    via_params = _query(api, alice, db, params={"filter": {"page": {"$gte": 2}}}).json()
    assert [h["id"] for h in via_params["results"]] == [body["ids"][1]]
    above = _query(api, alice, db, score_threshold=0.5).json()["results"]
    assert [h["id"] for h in above] == [body["ids"][0], body["ids"][2]]
    two = _query(api, alice, db, vectors=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], limit=1).json()
    assert [(h["query_index"], h["id"]) for h in two["results"]] == [
        (0, body["ids"][0]),
        (1, body["ids"][1]),
    ]
    global_form = api.post(
        "/api/context/vectordbs/query",
        json={"vectordb_id": db, "collection_name": "docs", "vectors": [[1.0, 0.0, 0.0]]},
        headers=alice,
    ).json()
    assert [h["id"] for h in global_form["results"]] == [h["id"] for h in hits]
    inserted = api.post(
        "/api/context/vectordbs/insert",
        json={"vectordb_id": db, "collection_name": "docs", "vectors": [[0.0, 0.0, 1.0]]},
        headers=alice,
    ).json()
    assert inserted["inserted_count"] == 1 and inserted["created_collection"] is False


def test_searches_report_the_engine_time(api: TestClient, alice: Headers) -> None:
    db = _create(api, alice)["id"]
    _insert(api, alice, db)
    reply = _query(api, alice, db)
    timings = dict(
        part.strip().split(";dur=") for part in reply.headers["server-timing"].split(",")
    )
    assert set(timings) == {"engine", "app"}
    assert 0 < float(timings["engine"]) <= float(timings["app"])
    plain = api.get("/api/context/health").headers["server-timing"]
    assert plain.startswith("app;dur=")  # no engine call, no engine time


def test_search_on_an_empty_collection_is_empty(api: TestClient, alice: Headers) -> None:
    db = _create(api, alice)["id"]
    body = {"name": "empty_one", "dimension": 3, "vectordb_id": db, "metric": "L2"}
    created = api.post("/api/context/collections/", json=body, headers=alice)
    assert created.status_code == 201
    assert created.json()["display_name"] == "empty_one" and created.json()["metric"] == "L2"
    reply = _query(api, alice, db, "empty_one")
    assert reply.status_code == 200 and reply.json()["results"] == []
    again = api.post("/api/context/collections/", json=body, headers=alice)
    assert again.status_code == 409


def test_collections_routes(api: TestClient, alice: Headers) -> None:
    db = _create(api, alice, config={"metric": "L2"})["id"]
    _insert(api, alice, db)
    body = {"name": "notes", "dimension": 8, "description": "my notes", "vectordb_id": db}
    assert api.post("/api/context/collections", json=body, headers=alice).status_code == 201
    listed = api.get(f"/api/context/collections/?vectordb_id={db}", headers=alice).json()
    assert [(c["name"], c["dimension"], c["count"]) for c in listed] == [
        ("docs", 3, 3),
        ("notes", 8, 0),
    ]
    assert {c["metric"] for c in listed} == {"L2"}  # the DB's default metric
    got = api.get(f"/api/context/collections/notes?vectordb_id={db}", headers=alice).json()
    assert got["description"] == "my notes" and got["display_name"] == "notes"
    gone = api.delete(f"/api/context/collections/notes?vectordb_id={db}", headers=alice)
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert (
        api.get(f"/api/context/collections/notes?vectordb_id={db}", headers=alice).status_code
        == 404
    )


def test_calls_without_a_db_use_the_callers_default_db(api: TestClient, admin: Headers) -> None:
    carol = _user(api, admin, "carol")
    assert api.get("/api/context/collections/", headers=carol).json() == []
    assert api.get("/api/vectordb/collections", headers=carol).json() == []
    assert api.get("/api/context/collections/x", headers=carol).status_code == 404
    body = {"name": "mine", "dimension": 4}
    made = api.post("/api/context/collections/", json=body, headers=carol).json()
    own = [d for d in api.get("/api/context/vectordbs", headers=carol).json() if not d["shared"]]
    assert [d["name"] for d in own] == ["default"] and made["vectordb_id"] == own[0]["id"]
    assert [c["name"] for c in api.get("/api/context/collections/", headers=carol).json()] == [
        "mine"
    ]


def test_update_and_scale(api: TestClient, alice: Headers, bob: Headers) -> None:
    db = _create(api, alice)["id"]
    updated = api.put(
        f"/api/context/vectordbs/{db}",
        json={"config": {"metric": "L2"}, "description": "d", "shared": True, "replicas": 1},
        headers=alice,
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["default_metric"], body["description"], body["shared"]) == ("L2", "d", True)
    assert api.get(f"/api/context/vectordbs/{db}", headers=bob).status_code == 200
    scaled = api.post(f"/api/context/vectordbs/{db}/scale", json={"replicas": 3}, headers=alice)
    assert scaled.status_code == 200
    assert scaled.json()["replicas"] == 3 and scaled.json()["effective_replicas"] == 1
    assert "single replica" in scaled.json()["replica_note"]
    assert api.get(f"/api/context/vectordbs/{db}", headers=alice).json()["replicas"] == 3
    bad = api.put(f"/api/context/vectordbs/{db}", json={"config": {"metric": "x"}}, headers=alice)
    assert bad.status_code == 400
    assert (
        api.post(
            f"/api/context/vectordbs/{db}/scale", json={"replicas": 0}, headers=alice
        ).status_code
        == 422
    )


def _delete(api: TestClient, who: Headers, db: str, coll: str = "docs", **body: Any) -> Any:
    body = {"collection_name": coll, **body}
    return api.post(f"/api/context/vectordbs/{db}/delete", json=body, headers=who)


def test_delete_vectors_by_id_and_filter(api: TestClient, alice: Headers, bob: Headers) -> None:
    db = _create(api, alice, shared=True)["id"]
    ids = _insert(api, alice, db).json()["ids"]
    # others may search a shared DB but not delete from it; nothing changes
    assert _delete(api, bob, db, ids=ids).status_code == 403
    assert _delete(api, alice, db, ids=[ids[1]]).json()["deleted_count"] == 1
    reply = _delete(api, alice, db, filter={"source": "a.txt"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"deleted_count": 2, "collection_name": "docs", "vectordb_id": db}
    assert _query(api, alice, db).json()["results"] == []
    # the global route names the DB in the body
    _insert(api, alice, db)
    body = {"vectordb_id": db, "collection_name": "docs", "filter": {"page": {"$gte": 1}}}
    reply = api.post("/api/context/vectordbs/delete", json=body, headers=alice)
    assert reply.json()["deleted_count"] == 2
    assert len(_query(api, alice, db).json()["results"]) == 1


def test_delete_vectors_bad_input(api: TestClient, alice: Headers) -> None:
    db = _create(api, alice)["id"]
    _insert(api, alice, db)
    nothing = _delete(api, alice, db)
    assert nothing.status_code == 400 and "ids, a filter" in nothing.json()["detail"]
    assert _delete(api, alice, db, filter={}).status_code == 400
    assert _delete(api, alice, db, ids=["nope"]).status_code == 400
    assert _delete(api, alice, db, filter="source == 'a'").status_code == 400
    assert _delete(api, alice, db, "missing", ids=[str(uuid.uuid4())]).status_code == 404
    assert _delete(api, alice, str(uuid.uuid4()), ids=[str(uuid.uuid4())]).status_code == 404
    assert _delete(api, alice, db, "bad name!", ids=[str(uuid.uuid4())]).status_code == 422
    assert len(_query(api, alice, db).json()["results"]) == 3


def test_read_scope_token_cannot_write(api: TestClient, alice: Headers) -> None:
    token = create_pat(api, alice, "read")
    assert api.get("/api/context/vectordbs", headers=bearer(token)).status_code == 200
    denied = api.post("/api/context/vectordbs", json={"name": "r"}, headers=bearer(token))
    assert denied.status_code == 403
    db = _create(api, alice)["id"]
    delete = {"collection_name": "docs", "ids": [str(uuid.uuid4())]}
    reply = api.post(f"/api/context/vectordbs/{db}/delete", json=delete, headers=bearer(token))
    assert reply.status_code == 403
    assert api.get("/api/context/vectordbs").status_code == 401


def test_workroom_is_recorded_and_filters_lists(api: TestClient, alice: Headers) -> None:
    room = str(uuid.uuid4())
    in_room = _create(api, alice)
    scoped = api.post(
        "/api/context/vectordbs",
        json={"name": f"room-{room[:6]}"},
        headers={**alice, "X-Workroom-ID": room},
    ).json()
    assert scoped["workroom_id"] == room
    listed = api.get("/api/context/vectordbs", headers={**alice, "X-Workroom-ID": room}).json()
    assert [d["id"] for d in listed] == [scoped["id"]]
    everything = {d["id"] for d in api.get("/api/context/vectordbs", headers=alice).json()}
    assert {in_room["id"], scoped["id"]} <= everything


def test_legacy_routes(api: TestClient, admin: Headers) -> None:
    dave = _user(api, admin, "dave")
    insert = {
        "collection_name": "legacy_col",
        "vectors": V,
        "metadata": META,
        "dimensions": 3,
        "field_list": [["source", "str"], ["page", "int"], ["text", "str", 65535]],
    }
    reply = api.post("/api/vectordb/insert_vectors", json=insert, headers=dave)
    assert reply.status_code == 200 and reply.json() == {"rows_inserted": 3}
    wrong = api.post("/api/vectordb/insert_vectors", json={**insert, "dimensions": 4}, headers=dave)
    assert wrong.status_code == 400
    search = {
        "collection_name": "legacy_col",
        "query_vectors": [[1.0, 0.0, 0.0]],
        "anns_field": "embedding",
        "search_params": {"metric_type": "IP", "params": {"nprobe": 10}},
        "limit": 2,
        "output_fields": ["source", "offset"],
    }
    hits = api.post("/api/vectordb/search_vectors", json=search, headers=dave).json()
    assert [h["metadata"] for h in hits] == [{"source": "a.txt"}, {"source": "a.txt"}]
    assert set(hits[0]) == {"id", "score", "metadata"} and hits[0]["score"] > hits[1]["score"]
    assert api.get("/api/vectordb/collections", headers=dave).json() == ["legacy_col"]
    dropped = api.delete("/api/vectordb/collections/legacy_col", headers=dave)
    assert dropped.status_code == 200 and dropped.json()["dropped"] is True
    assert api.delete("/api/vectordb/collections/legacy_col", headers=dave).status_code == 404
    assert api.get("/api/vectordb/collections", headers=dave).json() == []

    record = {"name": "old", "engine": "Qdrant", "description": "d", "host": "h", "port": 1}
    made = api.post("/api/vectordb/", json=record, headers=dave)
    assert made.status_code == 201
    old = made.json()
    assert (old["engine"], old["description"], old["port"]) == ("qdrant", "d", 0)
    assert old["host"].endswith("qdrant") and old["modified_at"]
    listed = api.get("/api/vectordb/?engine=qdrant", headers=dave).json()
    assert [d["id"] for d in listed] == [old["id"]]
    assert api.get(f"/api/vectordb/{old['id']}", headers=dave).json()["name"] == "old"
    assert api.delete(f"/api/vectordb/{old['id']}", headers=dave).status_code == 200
    assert api.get(f"/api/vectordb/{old['id']}", headers=dave).status_code == 404


@pytest.mark.parametrize("engine", ["milvus", "qdrant"])
def test_an_unreachable_server_is_a_503_that_leaves_nothing(
    make_settings: Callable[..., Settings], engine: str
) -> None:
    """Servers are configured but not running (none can run here): creation fails cleanly."""
    from waza.gateway.app import create_app

    port = free_port()
    settings = make_settings(
        milvus_uri=f"http://127.0.0.1:{port}", qdrant_url=f"http://127.0.0.1:{port}"
    )
    with TestClient(create_app(settings)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        health = client.get("/api/context/health").json()
        assert health["engines"] == {"milvus": "server", "qdrant": "server"}
        reply = client.post(
            "/api/context/vectordbs", json={"name": "remote", "engine": engine}, headers=admin
        )
        assert reply.status_code == 503 and engine in reply.json()["detail"]
        assert client.get("/api/context/vectordbs", headers=admin).json() == []
    assert not (settings.home / "vectors").exists() or not any(
        (settings.home / "vectors").iterdir()
    )
