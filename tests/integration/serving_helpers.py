"""Helpers shared by the serving tests: a live API on the session's Ray head, model import,
deploy-and-wait, cleanup of this server's deployments."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN_PASSWORD, LiveServer, login, start_server, stop_server
from waza.settings import Settings

TERMINAL = {"DEPLOYED", "FAILED", "ERROR", "STOPPED"}


def serving_env(ray_address: str) -> dict[str, str]:
    # generous: on a loaded 2-core machine a failing replica can take minutes to be reported
    return {"WAZA_RAY_ADDRESS": ray_address, "WAZA_DEPLOY_TIMEOUT": "360"}


@contextmanager
def serving_server(settings: Settings, ray_address: str) -> Iterator[LiveServer]:
    """A live API on `ray_address`; its deployments are force-stopped at the end."""
    server = start_server(settings, serving_env(ray_address))
    try:
        yield server
    finally:
        try:
            api = api_client(server)
            headers = login(api, "admin", ADMIN_PASSWORD)
            for dep in api.get("/api/serving/deployments", headers=headers).json():
                if dep["status"] != "STOPPED":
                    api.delete(
                        f"/api/serving/deployment/{dep['id']}",
                        params={"force": "true"},
                        headers=headers,
                        timeout=60,
                    )
        finally:
            stop_server(server)


def api_client(server: LiveServer) -> httpx.Client:
    """An HTTP client on the server's origin (paths start with `/api` or `/runtime`)."""
    return httpx.Client(base_url=server.url, timeout=60)


def import_model(
    api: httpx.Client,
    headers: dict[str, str],
    path: Path | str,
    name: str,
    config: dict[str, Any] | None = None,
    private: bool = False,
) -> dict[str, Any]:
    r = api.post(
        "/api/models/import",
        json={"path": str(path), "name": name, "config": config or {}, "private": private},
        headers=headers,
        timeout=60,
    )
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def deploy(api: httpx.Client, headers: dict[str, str], m_id: str, **body: Any) -> str:
    r = api.post("/api/serving/deploy_model", json={"m_id": m_id, **body}, headers=headers)
    assert r.status_code == 200, r.text
    dep_id = r.json()
    assert isinstance(dep_id, str)
    return dep_id


def wait_status(
    api: httpx.Client,
    headers: dict[str, str],
    dep_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda d: d["status"] in TERMINAL,
    timeout: float = 400,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    dep: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = api.get(f"/api/serving/deployment/{dep_id}", headers=headers)
        assert r.status_code == 200, r.text
        dep = r.json()
        if until(dep):
            return dep
        time.sleep(0.5)
    raise AssertionError(f"deployment {dep_id} stuck: {dep}")


def runtime_url(server: LiveServer, dep_id: str) -> str:
    return f"{server.url}/runtime/models/{dep_id}/v1"


def chat(server: LiveServer, token: str, dep_id: str, text: str, **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{runtime_url(server, dep_id)}/chat/completions",
        json={"model": "any", "messages": [{"role": "user", "content": text}], **kw},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
