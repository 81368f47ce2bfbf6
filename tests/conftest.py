"""Shared fixtures: a fresh database per test run (SQLite or PostgreSQL), app settings, an
in-process app client, and a live `waza api` process.

Choose the database with `WAZA_TEST_DB=sqlite|postgresql` (the README's test command runs the
suite once with each). PostgreSQL is reached at `WAZA_TEST_PG_URL` (default: the local cluster
started by `.ci/run`, role `waza`); each fixture use gets its own throw-away database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from waza.settings import Settings

# The client falls back on `waza up`'s CLI profile in $WAZA_HOME; tests never use the machine's.
os.environ["WAZA_CLI_PROFILE"] = ""
# The test Ray clusters run without token auth (tests/fixtures/ray.py); drivers must match.
os.environ["RAY_AUTH_MODE"] = "disabled"
# CLI tables are read by tests: rich takes the width once, when a CLI module is imported.
os.environ.setdefault("COLUMNS", "200")


# Tests whose subject is a whole stack in a browser or the hub (not the database): one database
# pass is enough for them. scripts/test.sh runs them on SQLite, what `waza up` runs by default;
# the Ray ones among them (App Garden, Lab deploy and chat) run on PostgreSQL.
SINGLE_DB_PATHS = ("tests/e2e/", "tests/lab/", "tests/integration/test_hub_")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark every test on the shared Ray cluster `ray`: scripts/test.sh runs them in a process
    of their own (one Ray head, one test at a time) next to the rest of the suite. Mark the
    stack and browser tests `single_db`."""
    if "ray_head" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.ray)
    if item.nodeid.startswith(SINGLE_DB_PATHS):
        item.add_marker(pytest.mark.single_db)


pytest_plugins = [
    "tests.fixtures.etcd",  # etcd_server, etcd_url, fresh_etcd
    "tests.fixtures.models",  # tiny_chat_model, minilm_path, smollm2_gguf
    "tests.fixtures.ray",  # ray_head
]

TEST_DB = os.environ.get("WAZA_TEST_DB", "sqlite")
PG_URL = os.environ.get(
    "WAZA_TEST_PG_URL", "postgresql+psycopg://waza:waza@127.0.0.1:5432/postgres"
)
ADMIN_PASSWORD = "admin-test-pw-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_admin_conninfo() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def create_database(tmp: Path) -> tuple[str, Callable[[], None]]:
    """A new empty database URL and a function that drops it."""
    if TEST_DB == "sqlite":
        return f"sqlite:///{tmp / 'waza.db'}", lambda: None
    if TEST_DB != "postgresql":
        raise RuntimeError(f"WAZA_TEST_DB must be sqlite or postgresql, not {TEST_DB!r}")
    import psycopg

    name = f"waza_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")

    def drop() -> None:
        """Drop the throw-away database; a busy one (e.g. autovacuum) is retried, then left."""
        for attempt in range(5):
            try:
                with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except psycopg.Error:
                time.sleep(0.5 * (attempt + 1))
        warnings.warn(f"could not drop the test database {name}", stacklevel=1)

    return f"{base}/{name}", drop


@pytest.fixture
def make_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Settings]]:
    """Build Settings with a fresh WAZA_HOME and a fresh database each call."""
    drops: list[Callable[[], None]] = []

    def make(**overrides: object) -> Settings:
        home = tmp_path_factory.mktemp("home")
        url, drop = create_database(home)
        drops.append(drop)
        values: dict[str, object] = {
            "home": home,
            "database_url": url,
            "admin_password": ADMIN_PASSWORD,
            "log_level": "WARNING",
            "secret_key": "test-kek",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    yield make
    for drop in drops:
        drop()


@contextmanager
def running_app(home: Path, **overrides: object) -> Iterator[TestClient]:
    """An in-process app with a fresh database in `home` (start-up run), dropped afterwards.

    For module-scoped fixtures: `with running_app(tmp_path_factory.mktemp("x")) as client`.
    """
    from waza.gateway.app import create_app

    url, drop = create_database(home)
    values: dict[str, object] = {
        "home": home,
        "database_url": url,
        "admin_password": ADMIN_PASSWORD,
        "secret_key": "test-kek",
        "log_level": "WARNING",
    }
    values.update(overrides)
    try:
        with TestClient(create_app(Settings(**values))) as client:  # type: ignore[arg-type]
            yield client
    finally:
        drop()


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An in-process app (start-up run: migrated, admin created)."""
    from waza.gateway.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


def login(client: TestClient | httpx.Client, username: str, password: str) -> dict[str, str]:
    """Authorization headers for a password session."""
    reply = client.post("/api/auth/token", data={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


@pytest.fixture
def admin_headers(client: TestClient) -> dict[str, str]:
    return login(client, "admin", ADMIN_PASSWORD)


def create_user(
    client: TestClient | httpx.Client,
    admin: dict[str, str],
    username: str,
    admin_role: bool = False,
) -> dict[str, str]:
    """Create a user and return its session headers."""
    password = f"pw-{username}-123"
    roles = ["admin", "user"] if admin_role else ["user"]
    body = {"username": username, "password": password, "roles": roles}
    reply = client.post("/api/auth/users/local", json=body, headers=admin)
    assert reply.status_code == 201, reply.text
    return login(client, username, password)


def create_pat(client: TestClient | httpx.Client, headers: dict[str, str], scope: str) -> str:
    reply = client.post(f"/api/auth/pats?name=t-{scope}&scope={scope}", headers=headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class LiveServer:
    """A `waza api` process."""

    url: str
    settings: Settings
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def api(self) -> str:
        return self.url + "/api"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def settled_log(self, timeout: float = 10) -> str:
        """The log once everything logged so far is written: the server writes its log from
        one queue (`waza.gateway.logging`), so when a marker request's access line is there,
        every earlier line is too."""
        marker = uuid.uuid4().hex
        httpx.get(self.api + "/ping", headers={"X-Request-ID": marker}, timeout=10)
        deadline = time.monotonic() + timeout
        while marker not in (text := self.log()):
            assert time.monotonic() < deadline, f"the access line of {marker} never came"
            time.sleep(0.05)
        return text


def start_server(settings: Settings, extra_env: dict[str, str] | None = None) -> LiveServer:
    """Start `python -m waza api` with these settings and wait until /api/ping answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(
        {
            "WAZA_HOME": str(settings.home),
            "WAZA_DATABASE_URL": settings.effective_database_url,
            "WAZA_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "WAZA_SECRET_KEY": "test-kek",
            "WAZA_LOG_LEVEL": "INFO",
            "WAZA_ETCD_URL": settings.etcd_url,
        }
    )
    env.update(extra_env or {})
    log_path = settings.home / f"api-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "waza", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", settings, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"waza api exited early:\n{server.log()}")
        try:
            if httpx.get(server.api + "/ping", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"waza api did not answer within 60 s:\n{server.log()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextmanager
def live_platform(home: Path, extra_env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """A real `waza api` process in ``home`` on a fresh database, dropped afterwards."""
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    server = start_server(settings, extra_env)
    try:
        yield server
    finally:
        stop_server(server)
        drop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real `waza api` process on a fresh database, shared by one test module."""
    with live_platform(tmp_path_factory.mktemp("live")) as server:
        yield server
