"""Hub search, file listings, downloads (progress, the shared cache, cancel) and offline failures.

The Hugging Face Hub is the one thing these tests cannot reach: `tests.fixtures.fake_hf_hub`
stands in for the internet (a local server speaking the Hub's HTTP API), and the real
`huggingface_hub` client downloads from it. Offline behaviour is tested against a closed local
port and an address that never answers.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, create_user, free_port, login, running_app
from tests.fixtures.fake_hf_hub import BIG_REPO, GGUF_REPO, TINY_REPO, FakeHub, black_hole
from waza.errors import BadRequest, ServiceUnavailable
from waza.gateway.principal import Principal
from waza.services.models.hub import HubClient
from waza.services.models.service import ModelService
from waza.settings import Settings

Headers = dict[str, str]
TINY_FILES = ["config.json", "model.safetensors", "tokenizer.json"]


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("models-hub")
    with running_app(home, hf_endpoint=hub.url, hf_timeout=3) as client:
        yield client


@pytest.fixture(scope="module")
def svc(api: TestClient) -> ModelService:
    return api.app.state.waza.models  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(scope="module")
def models_dir(api: TestClient) -> Path:
    return Path(api.app.state.waza.settings.effective_models_dir)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def admin(api: TestClient) -> Headers:
    headers = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    return headers


@pytest.fixture
def alice(api: TestClient, admin: Headers) -> Headers:
    headers = create_user(api, admin, f"alice{uuid.uuid4().hex[:8]}")
    api.cookies.clear()
    return headers


def principal(api: TestClient, who: Headers) -> Principal:
    me = api.get("/api/auth/users/me", headers=who).json()
    roles = ("admin", "user") if me["is_admin"] else ("user",)
    return Principal(uuid.UUID(me["sub"]), me["username"], roles, "session")


def download(api: TestClient, who: Headers, repo: str, files: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"model": repo, "version": None, "hub": "HubsHf"}
    if files is not None:
        body["files_to_download"] = files
    return api.post("/api/models/download/", json=body, headers=who)


def wait(api: TestClient, who: Headers, model_id: str, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = api.get(f"/api/model_files/download_status/?model_ids={model_id}", headers=who)
        statuses = reply.json()
        if statuses and not any(s["is_downloading"] for s in statuses):
            return list(statuses)
        assert time.monotonic() < deadline, statuses
        time.sleep(0.1)


def delete_repo(api: TestClient, who: Headers, repo: str) -> None:
    for m in api.get("/api/models/", headers=who).json():
        if m["repo_modelId"] == repo and m["source"] in ("hub", "registered"):
            api.delete(f"/api/models/{m['id']}", headers=who)


def test_search_local_and_hub(api: TestClient, admin: Headers) -> None:
    found = api.post(
        "/api/models/search/",
        json={"query": "waza-test", "hubs_to_search": ["*"], "exact": False, "limit": 100},
        headers=admin,
    ).json()
    repos = [r["model"]["repo_modelId"] for r in found["results"]]
    assert set(repos) == {TINY_REPO, GGUF_REPO, BIG_REPO} and found["total_results"] == 3
    assert all(r["id"] is None and r["model"]["hub"] == "HubsHf" for r in found["results"])
    assert found["errors"] == []
    exact = api.post(
        "/api/models/search/", json={"query": GGUF_REPO, "exact": True}, headers=admin
    ).json()
    assert [r["model"]["repo_modelId"] for r in exact["results"]] == [GGUF_REPO]
    local = api.post(
        "/api/models/search/",
        json={"query": "smollm2", "hubs_to_search": ["local"]},
        headers=admin,
    ).json()
    assert [r["model"]["name"] for r in local["results"]] == ["SmolLM2-135M-Instruct"]
    assert local["results"][0]["id"] == local["results"][0]["model"]["id"]
    odd = api.post(
        "/api/models/search/", json={"query": "x", "hubs_to_search": ["ollama"]}, headers=admin
    ).json()
    assert odd["results"] == [] and "ollama" in odd["errors"][0]
    limited = api.post("/api/models/search/", json={"query": "", "limit": 1}, headers=admin)
    assert limited.json()["total_results"] == 1


def test_hub_file_listing(api: TestClient, admin: Headers) -> None:
    files = api.post(
        "/api/model_files/search/",
        json={"hub": "HubsHf", "model": GGUF_REPO, "version": None},
        headers=admin,
    ).json()
    assert [(f["name"], f["size"]) for f in files] == [
        ("README.md", 12),
        ("tiny-model-Q4_K_M.gguf", 30_000),
        ("tiny-model-Q8_0.gguf", 50_000),
    ]
    assert all(f["id"] is None and f["hub"] == "HubsHf" for f in files)
    unknown = api.post(
        "/api/model_files/search/", json={"hub": "HubsHf", "model": "no/such"}, headers=admin
    )
    assert unknown.status_code == 404
    other_hub = api.post(
        "/api/model_files/search/", json={"hub": "ModelScope", "model": GGUF_REPO}, headers=admin
    )
    assert other_hub.status_code == 400
    bad_id = api.post(
        "/api/model_files/search/", json={"hub": "hf", "model": "a/../b"}, headers=admin
    )
    assert bad_id.status_code == 400


def test_download_progress_cache_and_delete(
    api: TestClient, hub: FakeHub, admin: Headers, alice: Headers, models_dir: Path
) -> None:
    started = download(api, alice, TINY_REPO, TINY_FILES)
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["result"] is True and len(body["files"]) == 3
    model_id = body["model_id"]
    statuses = wait(api, alice, model_id)
    assert sorted(s["name"] for s in statuses) == TINY_FILES
    for s in statuses:
        assert s["download"] is True and s["download_percentage"] == 100
        assert s["dl_requested_at"] is None and s["download_elapsed"] is not None
        assert s["downloaded_bytes"] == s["size"] and s["download_throughput"]
        assert Path(s["storage_location"]).is_file()
        assert str(models_dir / "hub") in s["storage_location"]
    model = api.get(f"/api/models/{model_id}", headers=alice).json()
    assert model["source"] == "hub" and model["repo_modelId"] == TINY_REPO
    assert model["default_config"]["config"] == {} and model["sha_repository"]
    assert Path(model["local_path"], "config.json").is_file()
    sizes = sum(s["size"] for s in statuses)
    assert api.get(f"/api/models/{model_id}/memory_usage", headers=alice).json() == sizes
    # the listing now carries the local state
    listed = api.post(
        "/api/model_files/search/", json={"hub": "HubsHf", "model": TINY_REPO}, headers=alice
    ).json()
    assert all(f["id"] and f["storage_location"] for f in listed)
    # a second request, by anyone, completes at once from the shared cache
    served = sum(hub.file_gets.values())
    again = download(api, admin, TINY_REPO, TINY_FILES).json()
    assert again["model_id"] == model_id and again["files"] == []
    assert sorted(again["already_downloaded"]) == sorted(s["id"] for s in statuses)
    everything = download(api, admin, TINY_REPO).json()  # all files: asks the Hub, fetches none
    assert everything["files"] == [] and len(everything["already_downloaded"]) == 3
    assert sum(hub.file_gets.values()) == served
    # the model's cache folder leaves the disk with the model
    cache = models_dir / "hub" / "models--waza-test--tiny-files"
    assert cache.is_dir()
    assert api.delete(f"/api/models/{model_id}", headers=admin).status_code == 200
    assert not cache.exists()


def test_download_errors(api: TestClient, admin: Headers) -> None:
    unknown = download(api, admin, "nobody/nothing")
    assert unknown.status_code == 404 and "nobody/nothing" in unknown.json()["detail"]
    no_file = download(api, admin, TINY_REPO, ["nope.bin"])
    assert no_file.status_code == 404 and "config.json" in no_file.json()["detail"]
    assert download(api, admin, "not a repo").status_code == 400
    other = api.post("/api/models/download/", json={"model": TINY_REPO, "hub": "x"}, headers=admin)
    assert other.status_code == 400
    assert api.post("/api/models/download/", json={}, headers=admin).status_code == 422


def test_gguf_files_are_picked_for_serving(
    api: TestClient, svc: ModelService, admin: Headers
) -> None:
    delete_repo(api, admin, GGUF_REPO)
    first = download(api, admin, GGUF_REPO, ["tiny-model-Q4_K_M.gguf"]).json()
    model_id = uuid.UUID(first["model_id"])
    wait(api, admin, first["model_id"])
    me = principal(api, admin)
    source = svc.deploy_source(me, model_id)
    assert source.path is not None and source.path.name == "tiny-model-Q4_K_M.gguf"
    assert source.path.is_file() and source.repo_id == GGUF_REPO
    download(api, admin, GGUF_REPO, ["tiny-model-Q8_0.gguf"])
    statuses = wait(api, admin, first["model_id"])
    assert len(statuses) == 2
    with pytest.raises(BadRequest, match="several GGUF files"):
        svc.deploy_source(me, model_id)
    q8 = next(s for s in statuses if "Q8_0" in s["name"])
    picked = svc.deploy_source(me, model_id, file_id=uuid.UUID(q8["id"]))
    assert picked.path is not None and picked.path.name == "tiny-model-Q8_0.gguf"
    cfg = api.post(
        "/api/model_configs/",
        json={"m_id": str(model_id), "m_file_id": q8["id"], "default": True, "name": "q8"},
        headers=admin,
    ).json()
    by_config = svc.deploy_source(me, model_id)
    assert by_config.config_id == uuid.UUID(cfg["id"]) and by_config.file_id == uuid.UUID(q8["id"])
    quants = api.get(f"/api/models/{model_id}", headers=admin).json()["available_quantizations"]
    assert quants == ["q4_k_m", "q8_0"]


def test_cancel_one_and_all(
    api: TestClient,
    svc: ModelService,
    hub: FakeHub,
    admin: Headers,
    alice: Headers,
    models_dir: Path,
) -> None:
    delete_repo(api, admin, BIG_REPO)
    with hub.slow(512 * 1024):  # 3 MB at 512 KB/s: about 6 s unless cancelled
        started = download(api, alice, BIG_REPO).json()
        file_id, model_id = started["files"][0], started["model_id"]
        deadline = time.monotonic() + 10
        while True:  # wait for the first progress report
            status = api.get(
                f"/api/model_files/download_status/?model_ids={model_id}", headers=alice
            ).json()[0]
            if status["downloaded_bytes"]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status["is_downloading"] is True and 0 < status["download_percentage"] < 100
        assert status["download_remaining"] and status["download_eta"] is not None
        with pytest.raises(BadRequest, match="still downloading"):
            svc.deploy_source(principal(api, alice), uuid.UUID(model_id))
        cancelled = api.delete(f"/api/model_files/{file_id}/download", headers=alice).json()
        assert cancelled["result"] is True and cancelled["file_id"] == file_id
        final = wait(api, alice, model_id)[0]
        assert final["download"] is False and final["download_cancelled_at"]
        blobs = models_dir / "hub" / "models--waza-test--slow-big" / "blobs"
        deadline = time.monotonic() + 5  # the job stops at its next progress step
        while blobs.exists() and any(blobs.iterdir()):  # no partial file is left behind
            assert time.monotonic() < deadline, list(blobs.iterdir())
            time.sleep(0.05)
        again = api.delete(f"/api/model_files/{file_id}/download", headers=alice).json()
        assert again["result"] is False

        restarted = download(api, alice, BIG_REPO).json()
        assert restarted["files"] == [file_id]
        bulk = api.delete(
            f"/api/model_files/downloads/cancel_all?model_id={model_id}", headers=alice
        ).json()
        assert bulk["cancelled_count"] == 1 and bulk["cancelled_files"] == [file_id]
        assert wait(api, alice, model_id)[0]["download"] is False
    nothing = api.delete("/api/model_files/downloads/cancel_all", headers=admin).json()
    assert nothing["cancelled_count"] == 0 and nothing["result"] is True


def test_restart_leaves_no_download_running(
    api: TestClient, svc: ModelService, admin: Headers
) -> None:
    """A download whose process is gone (the API restarted) is reported failed, not stuck."""
    from waza.services.models.models import DBModelFile

    delete_repo(api, admin, TINY_REPO)
    started = download(api, admin, TINY_REPO, ["config.json"]).json()
    done = wait(api, admin, started["model_id"])[0]

    def orphan(s: Any) -> None:
        row = s.get(DBModelFile, uuid.UUID(done["id"]))
        row.is_downloading, row.storage_location, row.download_job = True, None, "gone"
        row.download_pid = 2**22 + 12345  # no such process

    svc.db.transaction(orphan)
    status = wait(api, admin, started["model_id"])[0]
    assert status["download"] is False and "interrupted" in status["download_error"]


def test_registered_model_gets_its_files(api: TestClient, alice: Headers) -> None:
    """Flow 5 then 6: a model registered for a repo is the one its download fills."""
    made = api.post(
        "/api/models/",
        json={"name": "gguf", "repo_modelId": "waza-test/tiny-gguf", "hub": "HubsHf"},
        headers=alice,
    ).json()
    started = download(api, alice, GGUF_REPO, ["README.md"]).json()
    # the oldest visible model for the repo is used: the one an earlier test made, or ours
    assert started["model_id"] in {
        m["id"]
        for m in api.get("/api/models/", headers=alice).json()
        if m["repo_modelId"] == GGUF_REPO
    }
    wait(api, alice, started["model_id"])
    api.delete(f"/api/models/{made['id']}", headers=alice)


# ---- offline ------------------------------------------------------------------------------------
def closed_port() -> str:
    port = free_port()  # nothing listens there
    return f"http://127.0.0.1:{port}"


@contextmanager
def unreachable(kind: str) -> Iterator[str]:
    if kind == "closed":
        yield closed_port()
    else:
        with black_hole() as url:
            yield url


HF_TIMEOUT = 3  # seconds: room for a loaded machine between one wait and four


@pytest.mark.parametrize("kind", ["closed", "black-hole"])
def test_offline_hub_fails_fast_with_a_clear_message(
    tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    home = tmp_path_factory.mktemp("offline")
    with (
        unreachable(kind) as endpoint,
        running_app(home, hf_endpoint=endpoint, hf_timeout=HF_TIMEOUT) as off,
    ):
        who = login(off, "admin", ADMIN_PASSWORD)
        expected = f"Hugging Face Hub unreachable at {endpoint}"
        for attempt in range(2):  # the second answer comes from the cached probe
            started = time.monotonic()
            found = off.post(
                "/api/models/search/", json={"query": "smol", "hubs_to_search": ["*"]}, headers=who
            )
            assert found.status_code == 200
            assert [r["model"]["name"] for r in found.json()["results"]] == [
                "SmolLM2-135M-Instruct"
            ]
            assert found.json()["errors"][0].startswith(expected)
            only_hub = off.post(
                "/api/models/search/",
                json={"query": "x", "hubs_to_search": ["HubsHf"]},
                headers=who,
            )
            assert only_hub.status_code == 503 and only_hub.json()["detail"].startswith(expected)
            listing = off.post(
                "/api/model_files/search/", json={"hub": "HubsHf", "model": BIG_REPO}, headers=who
            )
            assert listing.status_code == 503
            fetch = download(off, who, BIG_REPO)
            assert fetch.status_code == 503 and fetch.json()["detail"].startswith(expected)
            # One probe waits for the timeout at most (four calls each waiting would take four
            # timeouts); once the probe's answer is cached, none waits for it.
            assert time.monotonic() - started < HF_TIMEOUT * (2 if attempt == 0 else 1)


def test_cached_files_download_offline(
    tmp_path_factory: pytest.TempPathFactory, api: TestClient, admin: Headers
) -> None:
    """Files in the shared cache are registered without the Hub."""
    delete_repo(api, admin, GGUF_REPO)
    online = download(api, admin, GGUF_REPO, ["README.md"]).json()
    wait(api, admin, online["model_id"])
    shared_cache = Path(api.app.state.waza.settings.effective_models_dir)  # type: ignore[attr-defined]
    home = tmp_path_factory.mktemp("offline-cache")
    with running_app(home, hf_endpoint=closed_port(), hf_timeout=1, models_dir=shared_cache) as off:
        who = login(off, "admin", ADMIN_PASSWORD)
        done = download(off, who, GGUF_REPO, ["README.md"])
        assert done.status_code == 200, done.text
        assert done.json()["files"] == [] and len(done.json()["already_downloaded"]) == 1
        model = off.get(f"/api/models/{done.json()['model_id']}", headers=who).json()
        assert model["m_files"][0]["storage_location"] and model["source"] == "hub"
        listing = off.post(
            "/api/model_files/search/", json={"hub": "HubsHf", "model": GGUF_REPO}, headers=who
        )
        assert listing.status_code == 200 and listing.json()[0]["name"] == "README.md"


def test_probe_is_bounded_even_when_nothing_answers() -> None:
    """A server that accepts connections but never answers: the probe still gives up."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = HubClient(Settings(hf_endpoint=url, hf_timeout=0.5))  # type: ignore[call-arg]
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            client.ensure_reachable()
        assert time.monotonic() - started < 2
        assert caught.value.status_code == 503
        assert str(caught.value.detail).startswith(f"Hugging Face Hub unreachable at {url}")
        client.close()
