"""Load with nothing lost (issue #10, part 3): concurrent clients run a realistic mix against a
live API on the Ray head (chat completions on the tiny model included), with zero errors, and
afterwards every acknowledged write is present exactly once with its content.

The CI tier runs `WAZA_LOAD_CLIENTS` (default 12) clients for `WAZA_LOAD_SECONDS` (default 8);
the long tier is the same test with 50 clients for 60 s:

    WAZA_TEST_DB=postgresql WAZA_LOAD_CLIENTS=50 WAZA_LOAD_SECONDS=60 \\
        .venv/bin/python -m pytest -s tests/reliability/test_load.py

The per-route p50/p99 go to `$WAZA_TEST_ARTIFACTS/load.json` (or the test's temp folder) and are
printed with `-s`.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_database, create_pat, login
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import (
    api_client,
    deploy,
    import_model,
    serving_server,
    wait_status,
)
from tests.reliability.load import COLLECTION, DIM, Actor, Load, verify
from waza.settings import Settings

CLIENTS = int(os.environ.get("WAZA_LOAD_CLIENTS", "12"))
SECONDS = float(os.environ.get("WAZA_LOAD_SECONDS", "8"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("load")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    with serving_server(settings, ray_head.address) as live:
        yield live
    drop()


def _actors(api: httpx.Client, admin: dict[str, str], count: int) -> list[Actor]:
    actors = []
    for i in range(count):
        name = f"load{i}x{uuid.uuid4().hex[:6]}"
        password = f"pw-{name}-123"
        body = {"username": name, "password": password, "roles": ["user"]}
        assert api.post("/api/auth/users/local", json=body, headers=admin).status_code == 201
        headers = login(api, name, password)
        api.cookies.clear()
        token = create_pat(api, headers, "write")
        api.cookies.clear()
        auth = {"Authorization": f"Bearer {token}"}
        db = api.post("/api/context/vectordbs", json={"name": f"db-{name}"}, headers=auth)
        assert db.status_code == 201, db.text
        made = api.post(
            "/api/context/collections",
            json={"name": COLLECTION, "dimension": DIM, "vectordb_id": db.json()["id"]},
            headers=auth,
        )
        assert made.status_code in (200, 201), made.text
        actors.append(Actor(name, password, token, db.json()["id"]))
    return actors


def test_load_with_nothing_lost(server: LiveServer, tiny_chat_model: Path, tmp_path: Path) -> None:
    with api_client(server) as api:
        admin = login(api, "admin", ADMIN_PASSWORD)
        api.cookies.clear()
        model = import_model(api, admin, tiny_chat_model, "load-tiny-chat")
        dep_id = deploy(api, admin, model["id"])
        assert wait_status(api, admin, dep_id)["status"] == "DEPLOYED"
        actors = _actors(api, admin, CLIENTS)
        chat_path = f"/runtime/models/{dep_id}/v1/chat/completions"
        load = Load(server.url, actors, chat_path)
        report = asyncio.run(load.run(SECONDS))
        summary = report.summary()
        summary.update(clients=CLIENTS, seconds=SECONDS, database=server.settings.database_url[:10])
        out = Path(os.environ.get("WAZA_TEST_ARTIFACTS") or tmp_path) / "load.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2))

        assert summary["errors"] == 0, summary["error_samples"]
        assert summary["calls"] > CLIENTS * 5
        assert {"create_dataset", "insert_vectors", "search_vectors"} <= set(summary["routes"])
        written = sum(len(a.datasets) + len(a.vectors) for a in actors)
        assert written > 0
        assert verify(api, actors) == []
