"""A live API registers itself in the config store under a lease, and leaves on shutdown."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import LiveServer, start_server, stop_server
from waza.kv import discover, open_kv
from waza.settings import Settings


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _check_lifecycle(server: LiveServer, settings: Settings) -> None:
    kv = open_kv(settings)
    try:
        instances = discover(kv, "api")
        assert [i["api_root"] for i in instances] == [server.api]
        assert instances[0]["pid"] == server.process.pid
        stop_server(server)
        assert _wait(lambda: discover(kv, "api") == []), "the lease was not revoked on shutdown"
    finally:
        kv.close()


def test_registers_in_the_embedded_store(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    server = start_server(settings)
    try:
        _check_lifecycle(server, settings)
    finally:
        stop_server(server)


@pytest.mark.etcd
def test_registers_in_etcd_and_health_reports_it(
    make_settings: Callable[..., Settings], etcd_url: str
) -> None:
    settings = make_settings(etcd_url=etcd_url, kv_prefix=f"waza-{time.time_ns()}/")
    server = start_server(settings, extra_env={"WAZA_KV_PREFIX": settings.kv_prefix})
    try:
        with server.http() as http:
            assert http.get("/api/health").json()["checks"] == {"database": "ok", "kv": "ok"}
            runtime_admin = http.post(
                "/api/auth/token", data={"username": "admin", "password": "admin-test-pw-1"}
            ).json()["access_token"]
            config = http.get(
                "/api/cluster/runtime_config", headers={"Authorization": f"Bearer {runtime_admin}"}
            ).json()
        assert config["kv_backend"] == "etcd"
        _check_lifecycle(server, settings)
    finally:
        stop_server(server)


@pytest.mark.etcd
def test_api_keeps_serving_when_etcd_is_down(
    make_settings: Callable[..., Settings], fresh_etcd
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(etcd_url=fresh_etcd.url)
    server = start_server(settings)
    try:
        fresh_etcd.stop()
        with server.http() as http:
            assert http.get("/api/ping").status_code == 200
            health = http.get("/api/health").json()
        assert health["status"] == "degraded" and health["checks"]["kv"] == "unavailable"
        fresh_etcd.start()
        kv = open_kv(settings)
        try:  # the keep-alive re-creates the registration once etcd is back
            assert _wait(lambda: len(discover(kv, "api")) == 1, timeout=20)
        finally:
            kv.close()
    finally:
        stop_server(server)
