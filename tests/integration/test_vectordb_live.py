"""Vector DBs on a live `waza api`: the Python client, the `waza vectors` CLI, and data that
survives a restart of the API (engine clients are reopened lazily)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    create_database,
    create_pat,
    login,
    start_server,
    stop_server,
)
from waza.client import Client, NotFoundError, PermissionDenied
from waza.settings import Settings


@pytest.fixture(scope="module")
def pat(live_server: LiveServer) -> str:
    with live_server.http() as http:
        return create_pat(http, login(http, "admin", ADMIN_PASSWORD), "write")


@pytest.fixture
def client(live_server: LiveServer, pat: str) -> Iterator[Client]:
    with Client(live_server.url, pat) as c:
        yield c


@pytest.mark.parametrize("engine", ["milvus", "qdrant"])
def test_python_client_round_trip(client: Client, engine: str) -> None:
    db = client.vectors.create_db(f"py-{engine}-{uuid.uuid4().hex[:6]}", engine=engine)
    assert db.status == "running" and db.endpoint
    try:
        inserted = client.vectors.insert(
            db.id,
            "chunks",
            [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]],
            [
                {"source": "a.txt", "offset": 0},
                {"source": "b.txt", "offset": 5},
                {"source": "a.txt"},
            ],
        )
        assert inserted.inserted_count == 3 and inserted.created_collection
        hits = client.vectors.search(db.id, "chunks", [[1.0, 0.1]], limit=2)
        assert [h.id for h in hits] == [inserted.ids[0], inserted.ids[2]]
        only_b = client.vectors.search(db.id, "chunks", [[1.0, 0.1]], filter={"source": "b.txt"})
        assert [h.metadata for h in only_b] == [{"source": "b.txt", "offset": 5}]
        made = client.vectors.create_collection("l2_notes", 2, db_id=db.id, metric="L2")
        assert made.metric == "L2"
        listed = client.vectors.list_collections(db.id)
        assert [(c.name, c.count) for c in listed] == [("chunks", 3), ("l2_notes", 0)]
        assert client.vectors.get_collection("chunks", db_id=db.id).dimension == 2
        client.vectors.delete_collection("l2_notes", db_id=db.id)
        with pytest.raises(NotFoundError):
            client.vectors.get_collection("l2_notes", db_id=db.id)
        assert client.vectors.update_db(db.id, shared=True).shared is True
    finally:
        client.vectors.delete_db(db.id)
    with pytest.raises(NotFoundError):
        client.vectors.get_db(db.id)


def test_client_errors(client: Client, live_server: LiveServer) -> None:
    db = client.vectors.create_db(f"private-{uuid.uuid4().hex[:6]}")
    try:
        with live_server.http() as http:
            admin = login(http, "admin", ADMIN_PASSWORD)
            user = f"vec-{uuid.uuid4().hex[:6]}"
            body = {"username": user, "password": "pw-vec-12345", "roles": ["user"]}
            assert http.post("/api/auth/users/local", json=body, headers=admin).status_code == 201
            token = create_pat(http, login(http, user, "pw-vec-12345"), "write")
        with Client(live_server.url, token) as other, pytest.raises(PermissionDenied):
            other.vectors.get_db(db.id)
    finally:
        client.vectors.delete_db(db.id)


def _waza(
    live: LiveServer, token: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(WAZA_API_URL=live.url, WAZA_API_KEY=token, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "waza", "vectors", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli(live_server: LiveServer, pat: str, client: Client, tmp_path: Path) -> None:
    made = _waza(live_server, pat, "create", f"cli-{uuid.uuid4().hex[:6]}", "--engine", "qdrant")
    assert made.returncode == 0, made.stderr
    db_id = made.stdout.strip()
    assert "qdrant" in made.stderr
    client.vectors.insert(db_id, "cli_col", [[1.0, 0.0], [0.0, 1.0]], [{"n": 1}, {"n": 2}])

    listed = _waza(live_server, pat, "dbs")
    assert listed.returncode == 0 and db_id in listed.stdout
    cols = _waza(live_server, pat, "collections", "--db", db_id)
    assert cols.returncode == 0 and "cli_col" in cols.stdout

    query = tmp_path / "q.json"
    query.write_text(json.dumps([0.1, 1.0]))
    found = _waza(live_server, pat, "search", "cli_col", "--db", db_id, "-f", str(query), "--json")
    assert found.returncode == 0, found.stderr
    assert [h["metadata"] for h in json.loads(found.stdout)] == [{"n": 2}, {"n": 1}]
    piped = _waza(
        live_server,
        pat,
        "search",
        "cli_col",
        "--db",
        db_id,
        "-f",
        "-",
        "--filter",
        '{"n": 1}',
        stdin="[[0.1, 1.0]]",
    )
    assert piped.returncode == 0 and '{"n": 1}' in piped.stdout and '{"n": 2}' not in piped.stdout
    missing = _waza(live_server, pat, "search", "nope", "--db", db_id, "-f", str(query))
    assert missing.returncode == 1 and "404" in missing.stderr

    removed = _waza(live_server, pat, "remove", "cli_col", "--db", db_id, "--filter", '{"n": 2}')
    assert removed.returncode == 0 and "deleted 1 vector " in removed.stdout, removed.stderr
    assert [h.metadata for h in client.vectors.search(db_id, "cli_col", [[0.1, 1.0]])] == [{"n": 1}]
    assert _waza(live_server, pat, "remove", "cli_col", "--db", db_id).returncode != 0

    gone = _waza(live_server, pat, "delete", db_id, "--yes")
    assert gone.returncode == 0, gone.stderr
    with pytest.raises(NotFoundError):
        client.vectors.get_db(db_id)


def test_data_survives_an_api_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("restart")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    ids: dict[str, str] = {}
    server = start_server(settings)
    try:
        with server.http() as http:
            token = create_pat(http, login(http, "admin", ADMIN_PASSWORD), "write")
        with Client(server.url, token) as c:
            for engine in ("milvus", "qdrant"):
                db = c.vectors.create_db(f"keep-{engine}", engine=engine)
                c.vectors.insert(db.id, "kept", [[1.0, 0.0], [0.0, 1.0]], [{"e": engine}, {}])
                ids[engine] = str(db.id)
    finally:
        stop_server(server)
    server = start_server(settings)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        for engine, db_id in ids.items():
            reply = httpx.post(
                f"{server.api}/context/vectordbs/{db_id}/query",
                json={"collection_name": "kept", "vectors": [[1.0, 0.0]], "limit": 1},
                headers=headers,
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["results"][0]["metadata"] == {"e": engine}
    finally:
        stop_server(server)
        drop()
