"""Faults (issue #10, part 4): the API killed with SIGKILL in the middle of writes and started
again, the disk filling up during a model upload, and PostgreSQL restarted under the API.

Elsewhere: etcd outages in tests/integration/test_registration.py and test_kv_etcd.py; restarts
during deploys and orphan Ray applications in tests/integration/test_serving_cluster.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
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
    free_port,
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


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Callable[[], None]]]:
    """A PostgreSQL cluster of this test's own (so restarting it disturbs no other test): its
    URL and a function that restarts it. Needs the Debian server binaries and root."""
    if not (PG_BIN / "initdb").exists() or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL 15's server binaries and root (to run them as postgres)")
    folder = Path(tempfile.mkdtemp(prefix="waza-pg-"))
    shutil.chown(folder, "postgres")
    data, log = folder / "data", folder / "log"
    port = free_port()

    def pg(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    pg(str(PG_BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w"]
    pg(*ctl, "start")
    try:
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
            lambda: pg(*ctl, "-m", "fast", "restart"),
        )
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg(*ctl, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_restart_is_survived(
    tmp_path: Path, private_postgres: tuple[str, Callable[[], None]]
) -> None:
    url, restart = private_postgres
    settings = Settings(home=tmp_path, database_url=url)  # type: ignore[call-arg]
    server = start_server(settings)
    try:
        with server.http() as http:
            token = create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")
            http.cookies.clear()
            auth = bearer(token)
            for _ in range(5):  # fill the pool with connections that the restart will break
                assert http.get("/api/catalog/datasets/", headers=auth).status_code == 200
            restart()
            # every call after the restart works, the first included (pool pre-ping)
            made = http.post(
                "/api/catalog/datasets/",
                json={"name": "after-restart", "platform": "file"},
                headers=auth,
            )
            assert made.status_code == 201, made.text
            for _ in range(5):
                assert http.get("/api/catalog/datasets/", headers=auth).status_code == 200
            health = http.get("/api/health").json()
            assert health["checks"]["database"] == "ok"
    finally:
        stop_server(server)
