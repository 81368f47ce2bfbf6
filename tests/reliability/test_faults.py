"""Faults (issue #10, part 4): the API killed with SIGKILL in the middle of writes and started
again, and the disk filling up during a model upload. (etcd outages: tests/integration/
test_registration.py and test_kv_etcd.py; restarts during deploys and orphan Ray applications:
tests/integration/test_serving_cluster.py.)"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    bearer,
    create_database,
    create_pat,
    login,
    start_server,
    stop_server,
)
from waza.db import Database
from waza.db.migrate import alembic_config, current_revision
from waza.settings import Settings


@contextlib.contextmanager
def _database(tmp: Path) -> Iterator[Settings]:
    url, drop = create_database(tmp)
    try:
        yield Settings(home=tmp, database_url=url)  # type: ignore[call-arg]
    finally:
        drop()


def _writer(
    server: LiveServer, token: str, acked: list[tuple[str, str]], stop: threading.Event
) -> None:
    """Create datasets and vector DBs until stopped or the server dies; record acknowledgements."""
    with httpx.Client(base_url=server.url, headers=bearer(token), timeout=10) as http:
        n = 0
        while not stop.is_set():
            n += 1
            marker = uuid.uuid4().hex
            try:
                if n % 3:
                    reply = http.post(
                        "/api/catalog/datasets/",
                        json={
                            "name": f"k-{marker}",
                            "platform": "file",
                            "properties": {"m": marker},
                        },
                    )
                    if reply.status_code == 201:
                        acked.append(("dataset", reply.json()))
                else:
                    reply = http.post("/api/context/vectordbs", json={"name": f"v-{marker}"})
                    if reply.status_code == 201:
                        acked.append(("vectordb", reply.json()["id"]))
            except httpx.HTTPError:
                return  # the server is gone


def test_sigkill_during_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with _database(tmp_path) as settings:
        server = start_server(settings)
        with server.http() as http:
            token = create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")
        acked: list[tuple[str, str]] = []
        stop = threading.Event()
        writers = [
            threading.Thread(target=_writer, args=(server, token, acked, stop)) for _ in range(3)
        ]
        for w in writers:
            w.start()
        while len(acked) < 12:
            assert all(w.is_alive() for w in writers) or len(acked) >= 12
            threading.Event().wait(0.05)
        os.kill(server.process.pid, signal.SIGKILL)  # in the middle of the writes
        server.process.wait()
        stop.set()
        for w in writers:
            w.join(30)

        again = start_server(settings)
        try:
            with again.http() as http:
                auth = bearer(token)
                db = Database(settings.effective_database_url)
                try:
                    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
                    assert current_revision(db) == head  # Alembic state intact
                finally:
                    db.dispose()
                for kind, ident in acked:
                    if kind == "dataset":
                        got = http.get(
                            "/api/catalog/datasets/by-urn", params={"urn": ident}, headers=auth
                        )
                        assert got.status_code == 200, (ident, got.text)
                        assert got.json()["properties"]["m"] in ident
                    else:
                        got = http.get(f"/api/context/vectordbs/{ident}", headers=auth)
                        assert got.status_code == 200 and got.json()["status"] == "running"
                # whatever else committed (at most the calls in flight) is whole and usable
                dbs = http.get("/api/context/vectordbs", headers=auth).json()
                assert len(dbs) - len([a for a in acked if a[0] == "vectordb"]) <= 3
                for db in dbs:
                    assert db["status"] == "running", db
                    body = {"collection_name": "c", "vectors": [[1.0, 0.0]], "metadata": [{}]}
                    reply = http.post(
                        f"/api/context/vectordbs/{db['id']}/insert", json=body, headers=auth
                    )
                    assert reply.status_code == 200, reply.text
                datasets = http.get(
                    "/api/catalog/datasets/", params={"query": "k-"}, headers=auth
                ).json()
                assert len(datasets) - len([a for a in acked if a[0] == "dataset"]) <= 3
                assert all(
                    d["properties"].get("m") and d["name"] == f"k-{d['properties']['m']}"
                    for d in datasets
                )
        finally:
            stop_server(again)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root; skipped otherwise)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_during_a_model_upload(tmp_path: Path, small_disk: Path) -> None:
    with _database(tmp_path) as settings:
        server = start_server(settings, {"WAZA_MODELS_DIR": str(small_disk)})
        try:
            with server.http() as http:
                admin = login(http, "admin", ADMIN_PASSWORD)
                http.cookies.clear()
                before = http.get("/api/models/", headers=admin).json()
                big = os.urandom(3 * 1024 * 1024)
                files = [("files", ("config.json", b"{}")), ("files", ("weights.bin", big))]
                reply = http.post(
                    "/api/models/upload", files=files, data={"name": "too-big"}, headers=admin
                )
                assert reply.status_code == 507, reply.text
                assert "space" in reply.json()["detail"].lower()
                after = http.get("/api/models/", headers=admin).json()
                assert [m["name"] for m in after] == [m["name"] for m in before]
                leftovers = [p for p in small_disk.rglob("*") if p.is_file()]
                assert leftovers == [], leftovers
                # and the platform goes on: a small upload fits
                ok = http.post(
                    "/api/models/upload",
                    files=[("files", ("config.json", b"{}"))],
                    data={"name": "small"},
                    headers=admin,
                )
                assert ok.status_code in (200, 201), ok.text
        finally:
            stop_server(server)
