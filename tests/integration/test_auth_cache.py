"""Two API processes on one database: a revocation through one is honoured by the other at
once, even though both cache resolved tokens (the invalidation travels through the config
store: the embedded store here, etcd in the second test)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, bearer, login, start_server, stop_server
from waza.settings import Settings


def _revocation_is_seen_by_the_other_process(settings: Settings, extra: dict[str, str]) -> None:
    first = start_server(settings, extra_env=extra)
    second = start_server(settings, extra_env=extra)
    try:
        with first.http() as a, second.http() as b:
            admin = login(a, "admin", ADMIN_PASSWORD)
            created = a.post("/api/auth/pats?name=shared", headers=admin).json()
            token = bearer(created["token"])
            for _ in range(3):  # warm both caches
                assert b.get("/api/auth/users/me", headers=token).status_code == 200
                assert a.get("/api/auth/users/me", headers=token).status_code == 200
            assert a.delete(f"/api/auth/pats/{created['pat']['jti']}", headers=admin).is_success
            assert a.get("/api/auth/users/me", headers=token).status_code == 401
            # well inside the cache's 10 s lifetime: the invalidation reached it, not expiry
            deadline = time.monotonic() + 5.0
            status = 200
            while time.monotonic() < deadline:
                status = b.get("/api/auth/users/me", headers=token).status_code
                if status == 401:
                    break
                time.sleep(0.05)
            assert status == 401, "the other process still accepts a revoked token"
            # Disabling a user is seen the same way.
            other = login(b, "admin", ADMIN_PASSWORD)
            user = a.post(
                "/api/auth/users/local",
                json={"username": f"c{time.time_ns()}", "password": "cache-pass-1"},
                headers=admin,
            ).json()
            user_token = bearer(
                httpx.post(
                    second.api + "/auth/token",
                    data={"username": user["username"], "password": "cache-pass-1"},
                ).json()["access_token"]
            )
            assert b.get("/api/auth/users/me", headers=user_token).status_code == 200
            a.put(f"/api/auth/users/{user['id']}", json={"active": False}, headers=admin)
            time.sleep(1.0)
            assert b.get("/api/auth/users/me", headers=user_token).status_code == 401
            assert b.get("/api/auth/users/me", headers=other).status_code == 200
    finally:
        stop_server(first)
        stop_server(second)


def test_revocation_crosses_processes_embedded(make_settings: Callable[..., Settings]) -> None:
    _revocation_is_seen_by_the_other_process(make_settings(), {})


@pytest.mark.etcd
def test_revocation_crosses_processes_etcd(
    make_settings: Callable[..., Settings], etcd_url: str
) -> None:
    prefix = f"cache-{time.time_ns()}/"
    settings = make_settings(etcd_url=etcd_url, kv_prefix=prefix)
    _revocation_is_seen_by_the_other_process(settings, {"WAZA_KV_PREFIX": prefix})
