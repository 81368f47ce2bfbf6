"""Digest flow 13 with the real kamiwaza-sdk 1.3 (`client.context`) on both engines, and the
legacy `/vectordb` API of SDK ≤ 0.9 over plain HTTP (1.3 has no `client.vectordb`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import APIError, NotFoundError
from kamiwaza_sdk.services.context import ContextService

from tests.compat.conftest import Account

W = ContextService.DEFAULT_WORKROOM_ID
TEST_VECTOR = [round(i * 0.01, 4) for i in range(1, 33)]  # the SDK live tests' 32-d vector
OTHER_VECTOR = [round(1 - i * 0.01, 4) for i in range(1, 33)]


def _wait_ready(ctx: ContextService, vectordb_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        instance = ctx.get_vectordb(vectordb_id)
        if instance["status"] == "running" and instance["endpoint"]:
            return instance
        assert instance["status"] not in ("failed", "stopped"), instance
        assert time.monotonic() < deadline, instance
        time.sleep(0.5)


@pytest.mark.parametrize("engine", ["milvus", "qdrant"])
def test_flow_13_vector_db_lifecycle(admin_sdk: KamiwazaClient, engine: str) -> None:
    ctx = admin_sdk.context
    health = ctx.health()
    assert (health["status"], health["service"]) == ("healthy", "context")
    assert health["features"]

    name = f"sdk-{engine}-{uuid.uuid4().hex[:8]}"
    v = ctx.create_vectordb(name=name, engine=engine)["id"]
    ready = _wait_ready(ctx, v)
    assert ready["name"] == name and ready["engine"] == engine
    assert v in {d["id"] for d in ctx.list_vectordbs()}
    assert v in {d["id"] for d in ctx.list_vectordbs(workroom_id=W)}

    inserted = ctx.insert_vectors(
        v,
        collection_name="sdk_col",
        vectors=[TEST_VECTOR, OTHER_VECTOR],
        metadata=[{"source": "sdk-context-live"}, {"source": "other"}],
    )
    assert inserted["inserted_count"] == 2
    queried = ctx.query_vectors(v, collection_name="sdk_col", vectors=[TEST_VECTOR], limit=1)
    assert isinstance(queried["results"], list) and len(queried["results"]) == 1
    assert queried["results"][0]["metadata"] == {"source": "sdk-context-live"}
    assert queried["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)

    more = ctx.insert_vectors_global(
        vectordb_id=v,
        collection_name="sdk_col",
        vectors=[OTHER_VECTOR],
        metadata=[{"source": "global"}],
    )
    assert more["inserted_count"] == 1
    found = ctx.query_vectors_global(
        vectordb_id=v,
        collection_name="sdk_col",
        vectors=[OTHER_VECTOR],
        limit=5,
        output_fields=["source"],
    )
    assert sorted(h["metadata"]["source"] for h in found["results"][:2]) == ["global", "other"]

    names = [c["name"] for c in ctx.list_collections(workroom_id=W, vectordb_id=v)]
    assert names == ["sdk_col"]
    created = ctx.create_collection(workroom_id=W, name="sdk_col_2", dimension=32, vectordb_id=v)
    assert created["display_name"] == "sdk_col_2"
    fetched = ctx.get_collection(workroom_id=W, collection_name="sdk_col_2", vectordb_id=v)
    assert fetched["display_name"] == "sdk_col_2" and fetched["dimension"] == 32
    ctx.delete_collection(workroom_id=W, collection_name="sdk_col_2", vectordb_id=v)
    with pytest.raises(NotFoundError):
        ctx.get_collection(workroom_id=W, collection_name="sdk_col_2", vectordb_id=v)

    updated = ctx.update_vectordb(v, config={"sdk_test_marker": "m"}, replicas=1)
    assert updated["id"] == v and updated["replicas"] == 1
    assert "config" not in ctx.get_vectordb(v)
    scaled = ctx.scale_vectordb(v, replicas=2)
    assert scaled["id"] == v and scaled["replicas"] == 2

    ctx.delete_vectordb(v)
    with pytest.raises(NotFoundError):
        ctx.get_vectordb(v)


def test_sdk_errors_for_missing_and_foreign_vector_dbs(
    admin_sdk: KamiwazaClient,
    make_account: Callable[..., Account],
    sdk_login: Callable[[str, str], KamiwazaClient],
) -> None:
    ctx = admin_sdk.context
    with pytest.raises(NotFoundError):
        ctx.get_vectordb(str(uuid.uuid4()))
    v = ctx.create_vectordb(name=f"sdk-private-{uuid.uuid4().hex[:8]}", engine="milvus")["id"]
    try:
        ctx.insert_vectors(v, collection_name="sdk_col", vectors=[TEST_VECTOR], metadata=[{}])
        with pytest.raises(APIError) as mismatch:
            ctx.insert_vectors(v, collection_name="sdk_col", vectors=[[1.0, 2.0]], metadata=[{}])
        assert mismatch.value.status_code == 400
        with pytest.raises(NotFoundError):
            ctx.query_vectors(v, collection_name="missing_col", vectors=[TEST_VECTOR])
        account = make_account("vec")
        other = sdk_login(account.username, account.password).context
        with pytest.raises(APIError) as denied:
            other.get_vectordb(v)
        assert denied.value.status_code == 403
        assert v not in {d["id"] for d in other.list_vectordbs()}
    finally:
        ctx.delete_vectordb(v)


def test_legacy_vectordb_api_over_http(http: httpx.Client, admin_auth: dict[str, str]) -> None:
    """What `c.vectordb.insert/search/list_collections/drop_collection` (SDK ≤ 0.9) send."""
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    insert = {
        "collection_name": name,
        "vectors": [TEST_VECTOR, OTHER_VECTOR],
        "metadata": [
            {
                "text": "hello",
                "model_name": "",
                "source": "a.txt",
                "catalog_urn": "",
                "offset": 0,
                "filename": "a.txt",
            },
            {
                "text": "bye",
                "model_name": "",
                "source": "b.txt",
                "catalog_urn": "",
                "offset": 7,
                "filename": "b.txt",
            },
        ],
        "dimensions": 32,
        "field_list": [["text", "str", 65535], ["source", "str"], ["offset", "int"]],
    }
    reply = http.post("/api/vectordb/insert_vectors", json=insert, headers=admin_auth)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"rows_inserted": 2}

    search = {
        "collection_name": name,
        "query_vectors": [TEST_VECTOR],
        "anns_field": "embedding",
        "search_params": {"metric_type": "IP", "params": {"nprobe": 10}},
        "limit": 5,
        "output_fields": ["text", "source", "offset"],
    }
    hits = http.post("/api/vectordb/search_vectors", json=search, headers=admin_auth).json()
    assert [h["metadata"] for h in hits] == [
        {"text": "hello", "source": "a.txt", "offset": 0},
        {"text": "bye", "source": "b.txt", "offset": 7},
    ]
    assert all(set(h) == {"id", "score", "metadata"} for h in hits)

    assert name in http.get("/api/vectordb/collections", headers=admin_auth).json()
    dropped = http.delete(f"/api/vectordb/collections/{name}", headers=admin_auth)
    assert dropped.status_code == 200
    assert name not in http.get("/api/vectordb/collections", headers=admin_auth).json()

    record = {
        "name": f"legacy-{uuid.uuid4().hex[:6]}",
        "engine": "milvus",
        "description": "d",
        "host": "localhost",
        "port": 19530,
    }
    made = http.post("/api/vectordb/", json=record, headers=admin_auth).json()
    assert {"id", "name", "engine", "description", "host", "port", "created_at"} <= set(made)
    assert made["id"] in {d["id"] for d in http.get("/api/vectordb/", headers=admin_auth).json()}
    assert (
        http.get(f"/api/vectordb/{made['id']}", headers=admin_auth).json()["name"] == record["name"]
    )
    assert http.delete(f"/api/vectordb/{made['id']}", headers=admin_auth).status_code == 200
    assert http.get(f"/api/vectordb/{made['id']}", headers=admin_auth).status_code == 404
