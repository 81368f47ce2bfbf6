"""The `waza` CLI against the same database as a live `waza api`."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.conftest import ADMIN_PASSWORD, LiveServer, bearer, free_port, login


def waza(live: LiveServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    base.update(
        WAZA_HOME=str(live.settings.home),
        WAZA_DATABASE_URL=live.settings.effective_database_url,
        WAZA_SECRET_KEY="test-kek",
        WAZA_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "waza", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_user_then_log_in_over_http(live_server: LiveServer) -> None:
    done = waza(live_server, "admin", "create-user", "erin", "--password", "erin-pass-1")
    assert done.returncode == 0, done.stderr
    assert "created" in done.stderr
    with live_server.http() as http:
        me = http.get("/api/auth/users/me", headers=login(http, "erin", "erin-pass-1")).json()
    assert me["username"] == "erin" and me["is_admin"] is False
    again = waza(live_server, "admin", "create-user", "erin", "--password", "erin-pass-1")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_create_token_prints_a_working_pat(live_server: LiveServer) -> None:
    done = waza(live_server, "admin", "create-token", "admin", "--scope", "write", "--name", "ci")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("wzp_")
    reply = httpx.get(live_server.api + "/auth/users/me", headers=bearer(token))
    assert reply.json()["scope"] == "write"
    bad = waza(live_server, "admin", "create-token", "admin", "--scope", "root")
    assert bad.returncode == 1 and "scope" in bad.stderr
    nobody = waza(live_server, "admin", "create-token", "nobody-here")
    assert nobody.returncode == 1 and "not found" in nobody.stderr


def test_reset_password(live_server: LiveServer) -> None:
    waza(live_server, "admin", "create-user", "frank", "--password", "frank-pass-1")
    done = waza(live_server, "admin", "reset-password", "frank", "--password", "frank-pass-2")
    assert done.returncode == 0, done.stderr
    with live_server.http() as http:
        login(http, "frank", "frank-pass-2")
        old = http.post("/api/auth/token", data={"username": "frank", "password": "frank-pass-1"})
        assert old.status_code == 401


def test_doctor_reports_each_backend(live_server: LiveServer) -> None:
    ok = waza(live_server, "doctor", "--url", live_server.url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("home", "database", "kv", "api"):
        assert name in ok.stdout
    assert "FAIL" not in ok.stdout
    broken = waza(
        live_server,
        "doctor",
        "--url",
        f"http://127.0.0.1:{free_port()}",
        WAZA_DATABASE_URL=f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/none",
    )
    assert broken.returncode == 1
    assert "cannot use the database" in broken.stdout.replace("\n", " ")
    assert "no API" in broken.stdout


def test_migrate_is_idempotent(live_server: LiveServer) -> None:
    first = waza(live_server, "migrate")
    second = waza(live_server, "migrate")
    assert first.returncode == second.returncode == 0
    assert "revision" in second.stderr
