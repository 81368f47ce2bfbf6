"""Hub import through the Jupyter Server extension: start, follow progress, cancel.

A real Jupyter Server (pytest-jupyter) calls a live `waza api` whose Hugging Face endpoint is the
stand-in hub of `tests.fixtures.fake_hf_hub` (the one thing these tests cannot reach is
huggingface.co); the platform downloads for real, into its own models folder.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    create_pat,
    live_platform,
    login,
)
from tests.fixtures.fake_hf_hub import BIG_REPO, TINY_REPO, FakeHub, hub_env


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub) -> Iterator[LiveServer]:
    with live_platform(tmp_path_factory.mktemp("lab-hub"), hub_env(hub)) as server:
        yield server


@pytest.fixture(scope="module")
def user_token(platform: LiveServer) -> str:
    """A plain user's write token (Hub imports are not an admin's privilege)."""
    with platform.http() as http:
        admin = login(http, "admin", ADMIN_PASSWORD)
        name = f"hub-user-{uuid.uuid4().hex[:6]}"
        body = {"username": name, "password": f"pw-{name}-123", "roles": ["user"]}
        assert http.post("/api/auth/users/local", json=body, headers=admin).status_code == 201
        return create_pat(http, login(http, name, f"pw-{name}-123"), "write")


@pytest.fixture
def jp_server_config(platform: LiveServer) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"waza_jupyter": True}},
        "WazaJupyterApp": {"api_url": platform.api},
    }


@pytest.fixture(autouse=True)
def as_user(monkeypatch: pytest.MonkeyPatch, user_token: str) -> None:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("WAZA_API_KEY", user_token)


async def call(jp_fetch: Any, path: str, method: str = "GET", data: Any = None, **kw: Any) -> Any:
    if data is not None:
        kw["body"] = json.dumps(data)
    reply = await jp_fetch(*f"waza/{path}".split("/"), method=method, raise_error=False, **kw)
    return reply.code, json.loads(reply.body)


async def progress(jp_fetch: Any, model_id: str, until: Any, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, files = await call(jp_fetch, "models/downloads", params={"model_id": model_id})
        assert code == 200, files
        if until(files):
            return list(files)
        assert time.monotonic() < deadline, files
        await asyncio.sleep(0.1)


async def test_hub_import_reports_progress_and_finishes(jp_fetch: Any) -> None:
    code, started = await call(jp_fetch, "models/download", "POST", {"repo": TINY_REPO})
    assert code == 202, started
    assert started["result"] is True and len(started["files"]) == 3
    files = await progress(
        jp_fetch, started["model_id"], lambda fs: not any(f["is_downloading"] for f in fs)
    )
    assert {f["name"] for f in files} == {"config.json", "model.safetensors", "tokenizer.json"}
    assert all(f["download"] and f["downloaded_bytes"] == f["size"] for f in files), files
    code, listed = await call(jp_fetch, "models", params={"q": "tiny-files"})
    assert code == 200 and started["model_id"] in [m["id"] for m in listed["models"]]


async def test_hub_import_can_be_cancelled_midway(jp_fetch: Any, hub: FakeHub) -> None:
    with hub.slow(512 * 1024):  # 3 MB at 512 KB/s: about 6 s unless cancelled
        code, started = await call(jp_fetch, "models/download", "POST", {"repo": BIG_REPO})
        assert code == 202, started
        model_id = started["model_id"]
        (moving,) = await progress(jp_fetch, model_id, lambda fs: fs and fs[0]["downloaded_bytes"])
        assert moving["is_downloading"] and 0 < moving["downloaded_bytes"] < moving["size"]
        assert moving["download_speed"] and moving["download_eta"] is not None
        code, cancelled = await call(jp_fetch, f"models/{model_id}/download", "DELETE")
        assert code == 200 and cancelled["cancelled_count"] == 1, cancelled
        (final,) = await progress(jp_fetch, model_id, lambda fs: not fs[0]["is_downloading"])
        assert final["download"] is False and final["download_cancelled_at"]


async def test_hub_import_errors_are_clear(jp_fetch: Any) -> None:
    code, error = await call(jp_fetch, "models/download", "POST", {})
    assert code == 400 and error["source"] == "extension" and "repo" in error["message"]
    code, error = await call(jp_fetch, "models/download", "POST", {"repo": "a/b", "files": "x"})
    assert code == 400 and "list of file names" in error["message"]
    code, error = await call(jp_fetch, "models/download", "POST", {"repo": "nobody/nothing"})
    assert code == 404 and error["source"] == "platform" and error["message"], error
    code, error = await call(jp_fetch, f"models/{uuid.uuid4()}/download", "DELETE")
    assert code in (200, 404), error  # nothing to cancel: the platform's answer, no 500
