"""The model repository with the real kamiwaza-sdk 1.3 against a live `waza api`: digest flows 5
(register → configs → delete) and 6 (search → download → wait → status), a second download
served from the cache, GGUF quantization choice, cancel, and the list/get/search/files calls.

The Hugging Face Hub cannot be reached from the tests: `tests.fixtures.fake_hf_hub` stands in for
the internet, and the server's `WAZA_HF_ENDPOINT` points at it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import APIError, NotFoundError
from kamiwaza_sdk.schemas.models.external_endpoint import (
    AWSBedrockBearerCredential,
    AWSBedrockChatEndpoint,
)
from kamiwaza_sdk.schemas.models.model import CreateModel, CreateModelConfig
from kamiwaza_sdk.schemas.models.model_file import CreateModelFile

from tests.conftest import LiveServer, live_platform
from tests.fixtures.fake_hf_hub import BIG_REPO, GGUF_REPO, TINY_REPO, FakeHub, hub_env


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub) -> Iterator[LiveServer]:
    """This module's `waza api`, downloading from the fake Hub."""
    with live_platform(tmp_path_factory.mktemp("live-models"), hub_env(hub)) as server:
        yield server


def test_flow_5_register_configure_delete(admin_sdk: KamiwazaClient) -> None:
    models = admin_sdk.models
    m = models.create_model(
        CreateModel(name=f"sdk-{uuid.uuid4().hex[:6]}", repo_modelId="org/sdk-model", hub="HubsHf")
    )
    assert m.id is not None and m.hub == "HubsHf"
    cfg = models.create_model_config(
        CreateModelConfig(m_id=m.id, name="cpu", default=True, config={"n_ctx": 2048})
    )
    assert cfg.m_id == m.id and cfg.default is True
    assert [c.id for c in models.get_model_configs(m.id)] == [cfg.id]
    assert [c.id for c in models.get_model_configs_for_model(m.id)] == [cfg.id]
    assert [c.id for c in models.get_model_configs_for_model(m.id, default=True)] == [cfg.id]
    got = models.get_model(m.id)
    assert got.name == m.name and got.default_config and got.default_config["id"] == str(cfg.id)
    updated = models.update_model_config(
        cfg.id,
        CreateModelConfig(m_id=m.id, name="cpu-2", default=True, config={"n_ctx": "4096"}),
    )
    assert updated.name == "cpu-2" and updated.config == {"n_ctx": "4096"}
    assert models.get_model_config(cfg.id).name == "cpu-2"
    models.delete_model_config(cfg.id)
    assert models.get_model_configs(m.id) == []
    with pytest.raises(APIError) as unknown:
        models.create_model_config(CreateModelConfig(m_id=uuid.uuid4(), default=True))
    assert unknown.value.status_code == 404
    models.delete_model(m.id)
    with pytest.raises(NotFoundError):
        models.get_model(m.id)
    assert models.get_model_by_repo_id("org/sdk-model") is None


def test_flow_6_search_download_wait(admin_sdk: KamiwazaClient, hub: FakeHub) -> None:
    models = admin_sdk.models
    found = models.search_models(TINY_REPO)
    hit = next(r for r in found if r.repo_modelId == TINY_REPO)
    assert hit.hub == "HubsHf" and sorted(f.name for f in hit.m_files) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    started = models.initiate_model_download(TINY_REPO)
    assert started["result"].get("result", True) is True
    statuses = models.wait_for_download(TINY_REPO, polling_interval=1, timeout=60)
    assert statuses and all(not s.is_downloading and s.download for s in statuses)
    model = models.get_model_by_repo_id(TINY_REPO)
    assert model is not None and model.id is not None
    report = models.get_model_download_status(TINY_REPO)
    assert report["found"] is True and report["all_downloaded"] is True
    assert not report["any_downloading"] and len(report["downloaded_files"]) == 3
    listed = models.get_model_files_download_status(TINY_REPO)
    assert {s.name for s in listed} == {"config.json", "model.safetensors", "tokenizer.json"}
    assert models.get_model_memory_usage(model.id) == sum(f.size or 0 for f in hit.m_files)

    # asked again: the SDK sees every file downloaded and the Hub serves nothing more
    served = sum(hub.file_gets.values())
    again = models.initiate_model_download(TINY_REPO)
    assert again["result"]["result"] is True
    assert again["result"]["message"] == "Files already downloaded"
    assert sum(hub.file_gets.values()) == served


def test_gguf_quantization_choice(admin_sdk: KamiwazaClient) -> None:
    models = admin_sdk.models
    models.initiate_model_download(GGUF_REPO, quantization="q8_0")
    models.wait_for_download(GGUF_REPO, polling_interval=1, timeout=60)
    model = models.get_model_by_repo_id(GGUF_REPO)
    assert model is not None and model.id is not None
    files = models.get_model_files_by_model_id(model.id)
    assert [f.name for f in files] == ["tiny-model-Q8_0.gguf"]
    assert files[0].storage_location and files[0].m_id == model.id
    report = models.get_model_download_status(GGUF_REPO, quantization="q8_0")
    assert report["all_downloaded"] is True


def test_list_get_search_files(admin_sdk: KamiwazaClient) -> None:
    models = admin_sdk.models
    listed = models.list_models(load_files=True)
    smol = next(m for m in listed if m.name == "SmolLM2-135M-Instruct")
    assert smol.id is not None and smol.m_files
    assert models.get_model(smol.id).repo_modelId == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert models.get_model_memory_usage(smol.id) > 50_000_000
    local = models.search_models("SmolLM2", hubs_to_search=["local"])
    assert [m.id for m in local] == [smol.id]
    files = models.search_hub_model_files({"hub": "hf", "model": GGUF_REPO})
    assert {f.name for f in files} >= {"tiny-model-Q4_K_M.gguf", "tiny-model-Q8_0.gguf"}
    made = models.create_model_file(CreateModelFile(name="notes.txt", size=5))
    assert made.id is not None
    assert models.get_model_file(made.id).name == "notes.txt"
    assert made.id in [f.id for f in models.list_model_files()]
    assert models.get_model_file_memory_usage(made.id) == 5
    models.delete_model_file(made.id)
    with pytest.raises(NotFoundError):
        models.delete_model_file(made.id)
    guides = models.list_guides()
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in {g.base_model_id for g in guides}
    # the raw routes the Kamiwaza tests call
    assert admin_sdk.get(f"/models/{smol.id}/deployment_info")["deployed"] is False
    assert admin_sdk.get("/models/pending_deployments")["total_pending"] == 0
    assert admin_sdk.post("/models/cleanup_stale_deployments")["cleaned_count"] == 0


def test_register_external_model(admin_sdk: KamiwazaClient) -> None:
    model = admin_sdk.models.register_external_model(
        name=f"bedrock-{uuid.uuid4().hex[:6]}",
        endpoint=AWSBedrockChatEndpoint(region="us-east-1", model_id="anthropic.claude"),
        credential=AWSBedrockBearerCredential(bearer_token="not-stored"),
        force_replace_credentials=True,
    )
    assert model.id is not None and model.default_config is not None
    config = model.default_config["config"]
    assert config["engine_name"] == "external_chat" and "not-stored" not in str(config)
    admin_sdk.models.delete_model(model.id)


def _status(client: KamiwazaClient, model_id: Any) -> list[dict[str, Any]]:
    reply = client.get("/model_files/download_status/", params={"model_ids": [str(model_id)]})
    return list(reply)


def test_cancel_a_download(admin_sdk: KamiwazaClient, hub: FakeHub) -> None:
    with hub.slow(256 * 1024):
        started = admin_sdk.post("/models/download/", json={"model": BIG_REPO, "hub": "HubsHf"})
        file_id, model_id = started["files"][0], started["model_id"]
        assert _status(admin_sdk, model_id)[0]["is_downloading"] is True
        done = admin_sdk.delete(f"/model_files/{file_id}/download")
        assert done["result"] is True
        statuses = admin_sdk.models.wait_for_download(BIG_REPO, polling_interval=1, timeout=30)
        assert statuses[0].is_downloading is False and statuses[0].download is False
        admin_sdk.post("/models/download/", json={"model": BIG_REPO, "hub": "HubsHf"})
        bulk = admin_sdk.delete(f"/model_files/downloads/cancel_all?model_id={model_id}")
        assert bulk["cancelled_count"] == 1
    deadline = time.monotonic() + 10
    while _status(admin_sdk, model_id)[0]["is_downloading"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
