"""Digest flows 7 and 8 with the real kamiwaza-sdk 1.3 on a real Ray cluster: deploy → wait →
`client.openai.get_client(...)` chat (streamed and not) → stop, on the tiny local model and once
on the real SmolLM2-135M-Instruct with the llama.cpp engine; then the `openai` client's
embeddings against the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.schemas.models.model import CreateModelConfig

from tests.conftest import ADMIN_PASSWORD, LiveServer, create_database, login
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import import_model, serving_server
from waza.settings import Settings

pytestmark = pytest.mark.timeout(420)
TINY_REPO = "waza-tests/tiny-chat"


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode
) -> Iterator[LiveServer]:
    """A live API on the session's Ray head (replaces the compat suite's Ray-less server)."""
    home = tmp_path_factory.mktemp("sdk-serving")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    with serving_server(settings, ray_head.address) as live:
        yield live
    drop()


@pytest.fixture(scope="module")
def tiny_model(http: httpx.Client, tiny_chat_model: Path) -> dict[str, Any]:
    headers = login(http, "admin", ADMIN_PASSWORD)
    model = import_model(http, headers, tiny_chat_model, "tiny-chat", {"engine": "transformers"})
    # give it a repo id so that the SDK's repo_id selectors find it
    r = http.post(
        "/api/models/import",
        json={"path": str(tiny_chat_model), "name": "tiny-chat-repo", "repo_modelId": TINY_REPO,
              "config": {"engine": "transformers"}},
        headers=headers,
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    return {"plain": model, "repo": r.json()}


def test_flow_7_deploy_chat_stop(admin_sdk: KamiwazaClient, tiny_model: dict[str, Any]) -> None:
    dep = admin_sdk.serving.deploy_model(repo_id=TINY_REPO, poll_interval_seconds=0.5)
    assert dep and not isinstance(dep, bool)
    active = admin_sdk.serving.list_active_deployments()
    assert str(dep) in [str(a.id) for a in active]
    for selector in (
        {"deployment_id": str(dep)},
        {"repo_id": TINY_REPO},
        {"model": "tiny-chat-repo"},
    ):
        oa = admin_sdk.openai.get_client(**selector)
        answer = oa.chat.completions.create(
            model="kamiwaza", messages=[{"role": "user", "content": "Say hi"}], max_tokens=8
        )
        assert answer.choices[0].message.content
    pieces = [
        c.choices[0].delta.content or ""
        for c in oa.chat.completions.create(
            model="kamiwaza",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=8,
            stream=True,
        )
        if c.choices
    ]
    assert len(pieces) > 1 and "".join(pieces)
    assert admin_sdk.serving.stop_deployment(deployment_id=dep, force=True) is True
    assert admin_sdk.serving.get_deployment_status(dep) == "STOPPED"


def test_flow_8_explicit_config_no_wait(
    admin_sdk: KamiwazaClient, tiny_model: dict[str, Any]
) -> None:
    model = tiny_model["repo"]
    cfg = admin_sdk.models.create_model_config(
        CreateModelConfig(
            m_id=model["id"], name="half-cpu", default=False,
            config={"engine": "transformers", "num_cpus": 0.5},
        )
    )  # fmt: skip
    dep = admin_sdk.serving.deploy_model(
        model_id=str(model["id"]), m_config_id=cfg.id, lb_port=0, autoscaling=False,
        min_copies=1, starting_copies=1, wait=False,
    )  # fmt: skip
    ready = admin_sdk.serving.wait_for_deployment(dep, poll_interval=0.5, timeout=300)
    assert ready.status == "DEPLOYED" and ready.instances
    assert str(ready.m_config_id) == str(cfg.id)
    assert admin_sdk.serving.get_deployment_status(dep) == "DEPLOYED"
    instances = admin_sdk.serving.list_model_instances(deployment_id=dep)
    assert instances and admin_sdk.serving.get_model_instance(instances[0].id).id == instances[0].id
    lines = list(
        admin_sdk.serving.stream_deployment_logs(dep, poll_interval=0.2, max_empty_polls=2)
    )
    assert any("DEPLOYED" in line for line in lines)
    admin_sdk.serving.stop_deployment(repo_id=TINY_REPO)
    assert admin_sdk.serving.get_deployment_status(dep) == "STOPPED"


def test_estimate_status_health(admin_sdk: KamiwazaClient, tiny_model: dict[str, Any]) -> None:
    status = admin_sdk.serving.get_status()
    assert status["status"] in {"running", "not running"}
    assert isinstance(admin_sdk.serving.get_health(), list)
    estimate = admin_sdk.post(
        "/serving/estimate_model_vram", json={"m_id": str(tiny_model["repo"]["id"])}
    )
    assert estimate["computed_vram_estimate"] > 0 and estimate["estimation_source"]
    unknown = admin_sdk.post("/serving/estimate_model_vram", json={"m_id": "nope"})
    assert {"computed_vram_estimate", "estimation_source"} <= set(unknown)


def test_smollm2_answers_a_factual_question(admin_sdk: KamiwazaClient) -> None:
    pytest.importorskip("llama_cpp")
    repo = "HuggingFaceTB/SmolLM2-135M-Instruct"
    model = admin_sdk.models.get_model_by_repo_id(repo)
    assert model is not None, "the built-in SmolLM2 entry is registered at start-up"
    dep = admin_sdk.serving.deploy_model(repo_id=repo, poll_interval_seconds=0.5)
    try:
        assert admin_sdk.serving.get_deployment(dep).engine_name == "llamacpp"
        oa = admin_sdk.openai.get_client(deployment_id=str(dep))
        question = [{"role": "user", "content": "What is the capital of France?"}]
        answer = oa.chat.completions.create(
            model="kamiwaza", messages=question, temperature=0, max_tokens=32
        )
        assert "Paris" in (answer.choices[0].message.content or "")
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in oa.chat.completions.create(
                model="kamiwaza", messages=question, temperature=0, max_tokens=32, stream=True
            )
            if c.choices
        )
        assert "Paris" in streamed
    finally:
        admin_sdk.serving.stop_deployment(deployment_id=dep, force=True)


def test_openai_embeddings_with_the_packaged_model(
    admin_sdk: KamiwazaClient, live_server: LiveServer
) -> None:
    model = admin_sdk.models.get_model_by_repo_id("sentence-transformers/all-MiniLM-L6-v2")
    assert model is not None, "the built-in MiniLM entry is registered at start-up"
    dep = admin_sdk.serving.deploy_model(model_id=str(model.id), poll_interval_seconds=0.5)
    try:
        assert admin_sdk.serving.get_deployment(dep).engine_name == "embedding"
        oa = openai.OpenAI(
            base_url=f"{live_server.url}/runtime/models/{dep}/v1",
            api_key=admin_sdk.get_bearer_token(),
        )
        texts = ["A cat sits on the mat.", "A kitten rests on a rug.", "Stock markets fell."]
        result = oa.embeddings.create(model="any", input=texts)
        vecs = [d.embedding for d in result.data]
        assert [len(v) for v in vecs] == [384] * 3
        assert result.usage.prompt_tokens > 0

        def cos(a: list[float], b: list[float]) -> float:
            dot = sum(x * y for x, y in zip(a, b, strict=True))
            return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

        assert cos(vecs[0], vecs[1]) > cos(vecs[0], vecs[2]) + 0.2
        b64 = oa.embeddings.create(model="any", input=texts[0], encoding_format="base64")
        raw = base64.b64decode(str(b64.data[0].embedding))  # little-endian float32, as OpenAI
        decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
        assert len(decoded) == 384
        assert max(abs(a - b) for a, b in zip(decoded, vecs[0], strict=True)) < 1e-5
        assert [m.id for m in oa.models.list()] == [model.name]
    finally:
        admin_sdk.serving.stop_deployment(deployment_id=dep, force=True)
