"""Run a real `waza up` stack (Traefik, JupyterHub, the API) for tests, and talk to it.

Shared by ``tests/e2e`` and ``tests/integration/test_hub_*.py``. Every stack gets a fresh
``WAZA_HOME``, a fresh database (SQLite or PostgreSQL, as ``WAZA_TEST_DB`` says) and free
ports; `HubStack.stop` ends every process it started (hub, Traefik, the API, notebook
servers), also when a test failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.conftest import create_database, free_port

ADMIN_PASSWORD = "hub-admin-pw-1"


@dataclass
class HubStack:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    output_path: Path
    drop_database: Callable[[], None]
    admin_password: str = ADMIN_PASSWORD
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.url + "/api"

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def log(self) -> str:
        path = self.home / "logs" / "stack.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "run" / "stack.json").read_text())
        return data

    def waza(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the `waza` command line against this stack's home."""
        return subprocess.run(
            [sys.executable, "-m", "waza", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def processes(self) -> list[psutil.Process]:
        """`waza up` and everything under it."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def api_process(self) -> psutil.Process | None:
        for proc in self.processes():
            try:
                if "waza api" in " ".join(proc.cmdline()):
                    return proc
            except psutil.Error:
                continue
        return None

    def stop(self, how: str = "sigint", timeout: float = 60) -> list[psutil.Process]:
        """Stop with Ctrl-C (``sigint``) or `waza down` (``down``); returns survivors, killed."""
        tree = self.processes()
        if self.process.poll() is None:
            if how == "down":
                self.waza("down", timeout=timeout)
            else:
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        survivors = [p for p in tree if _running(p)]
        for proc in survivors:
            proc.kill()
        self.drop_database()
        return survivors


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stack_env(home: Path, database_url: str, admin_password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZA_", "JUPYTERHUB_"))}
    env.update(
        {
            "WAZA_HOME": str(home),
            "WAZA_DATABASE_URL": database_url,
            "WAZA_SECRET_KEY": "test-kek",
            "WAZA_LOG_LEVEL": "INFO",
            "WAZA_BUSY_CHECK_SECONDS": "2",
        }
    )
    if admin_password:
        env["WAZA_ADMIN_PASSWORD"] = admin_password
    return env


def start_stack(
    home: Path,
    admin_password: str | None = ADMIN_PASSWORD,
    extra_env: dict[str, str] | None = None,
    timeout: float = 180,
) -> HubStack:
    """`python -m waza up --port <free>`; returns once it printed that it is ready."""
    url, drop = create_database(home)
    env = stack_env(home, url, admin_password)
    env.update(extra_env or {})
    port = free_port()
    output_path = home / "waza-up.out"
    with output_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "waza", "up", "--port", str(port), "--timeout", str(timeout)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = HubStack(
        f"http://127.0.0.1:{port}", home, env, process, output_path, drop, admin_password or ""
    )
    deadline = time.monotonic() + timeout + 10
    while "is ready" not in stack.output():
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            raise RuntimeError(
                f"waza up did not get ready:\n{stack.output()}\n--- log tail\n{stack.log()[-6000:]}"
            )
        time.sleep(0.2)
    return stack


# ---- talking to the hub -------------------------------------------------------------------------
def hub_login(url: str, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """Log in through the hub's login form; the client keeps the hub's cookies."""
    client = httpx.Client(base_url=url, timeout=30)
    client.get("/hub/login")
    reply = client.post(
        "/hub/login",
        data={"username": username, "password": password, "_xsrf": client.cookies.get("_xsrf", "")},
    )
    return client, reply


def hub_token(client: httpx.Client, username: str, scopes: list[str]) -> str:
    """A hub API token with these scopes, created in the user's own hub session."""
    reply = client.post(
        f"/hub/api/users/{username}/tokens",
        json={"scopes": scopes, "note": "test"},
        headers={"X-XSRFToken": client.cookies.get("_xsrf", "")},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def create_user(url: str, admin: dict[str, str], username: str, admin_role: bool = False) -> str:
    """Create a platform user through the public API root; returns the password."""
    password = f"pw-{username}-123"
    roles = ["admin", "user"] if admin_role else ["user"]
    reply = httpx.post(
        url + "/api/auth/users/local",
        json={"username": username, "password": password, "roles": roles},
        headers=admin,
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return password


def api_login(url: str, username: str, password: str) -> dict[str, str]:
    reply = httpx.post(
        url + "/api/auth/token", data={"username": username, "password": password}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}
