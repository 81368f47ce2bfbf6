"""Serving end to end on a real Ray cluster: deploy the tiny local model through the API, call it
with the `openai` client at the runtime URL, and the failure paths (bad input, missing files,
a killed replica, access rules, stopped deployments, concurrent deploys)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, create_database, create_user, login
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import (
    ADMIN_PASSWORD,
    api_client,
    chat,
    deploy,
    import_model,
    runtime_url,
    serving_server,
    wait_status,
)
from waza.settings import Settings

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("serving")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    with serving_server(settings, ray_head.address) as live:
        yield live
    drop()


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


@pytest.fixture(scope="module")
def admin(api: httpx.Client) -> dict[str, str]:
    return login(api, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def admin_token(admin: dict[str, str]) -> str:
    return admin["Authorization"].split()[1]


@pytest.fixture(scope="module")
def tiny(api: httpx.Client, admin: dict[str, str], tiny_chat_model: Path) -> dict[str, Any]:
    return import_model(api, admin, tiny_chat_model, "tiny-chat", {"engine": "transformers"})


@pytest.fixture(scope="module")
def deployed(api: httpx.Client, admin: dict[str, str], tiny: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    dep_id = deploy(api, admin, tiny["id"])
    # the id is GET-able at once, before Ray has done anything
    first = api.get(f"/api/serving/deployment/{dep_id}", headers=admin).json()
    assert first["status"] in {"REQUESTED", "DEPLOYING", "INITIALIZING", "DEPLOYED"}
    dep = wait_status(api, admin, dep_id)
    assert dep["status"] == "DEPLOYED", dep
    dep["deploy_seconds"] = time.monotonic() - started
    return dep


def test_deploy_reports_instances_paths_and_lifecycle(
    api: httpx.Client, admin: dict[str, str], deployed: dict[str, Any]
) -> None:
    dep_id = deployed["id"]
    assert deployed["m_name"] == "tiny-chat"
    assert deployed["engine_name"] == "transformers"
    assert deployed["access_path"] == f"/runtime/models/{dep_id}"
    assert deployed["instances"] and deployed["instances"][0]["status"] == "DEPLOYED"
    assert api.get(f"/api/serving/deployment/{dep_id}/status", headers=admin).json() == "DEPLOYED"
    instances = api.get(
        "/api/serving/model_instances", params={"deployment_id": dep_id}, headers=admin
    ).json()
    assert [i["id"] for i in instances] == [i["id"] for i in deployed["instances"]]
    one = api.get(f"/api/serving/model_instance/{instances[0]['id']}", headers=admin).json()
    assert one["deployment_id"] == dep_id and one["pid"]
    logs = api.get(f"/api/serving/deployment/{dep_id}/logs", headers=admin).json()
    text = "\n".join(logs["logs"])
    for step in ("requested by admin", "DEPLOYING", "INITIALIZING", "DEPLOYED", "model ready"):
        assert step in text, text
    assert logs["capture_active"] is True
    patterns = api.get(f"/api/serving/deployment/{dep_id}/logs/patterns", headers=admin).json()
    assert patterns["patterns_detected"]["model_loading_failure"] is False
    status = api.get("/api/serving/status", headers=admin).json()
    assert status["status"] == "running" and status["deployments_active"] >= 1


def test_openai_client_chat_stream_completions_models(
    server: LiveServer, deployed: dict[str, Any], admin_token: str
) -> None:
    client = openai.OpenAI(base_url=runtime_url(server, deployed["id"]), api_key=admin_token)
    answer = client.chat.completions.create(
        model="whatever", messages=[{"role": "user", "content": "hello"}], max_tokens=12,
        temperature=0,
    )  # fmt: skip
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.completion_tokens <= 12
    assert answer.usage.prompt_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "hello"}],
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer.choices[0].message.content  # greedy: same text streamed or not
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == answer.usage.completion_tokens
    done = client.completions.create(model="x", prompt="Once upon", max_tokens=5)
    assert done.choices[0].text and done.usage is not None
    streamed = list(client.completions.create(model="x", prompt="Once", max_tokens=5, stream=True))
    assert "".join(c.choices[0].text for c in streamed)
    assert [m.id for m in client.models.list()] == ["tiny-chat"]


def test_usage_is_recorded_per_user(
    api: httpx.Client, admin: dict[str, str], deployed: dict[str, Any], server: LiveServer,
    admin_token: str,
) -> None:  # fmt: skip
    chat(server, admin_token, deployed["id"], "count me", max_tokens=4)
    time.sleep(1.5)  # usage is written off the request path, about once a second
    rows = api.get(
        "/api/serving/usage", params={"deployment_id": deployed["id"]}, headers=admin
    ).json()
    assert len(rows) == 1
    assert rows[0]["requests"] >= 1 and rows[0]["completion_tokens"] >= 1
    assert rows[0]["prompt_tokens"] >= 1


def test_runtime_needs_a_token_and_valid_bodies(
    server: LiveServer, deployed: dict[str, Any], admin_token: str
) -> None:
    url = runtime_url(server, deployed["id"]) + "/chat/completions"
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    auth = {"Authorization": f"Bearer {admin_token}"}
    bad = httpx.post(url, json={"model": "x", "messages": []}, headers=auth)
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
    bad = httpx.post(url, content=b"{not json", headers=auth)
    assert bad.status_code == 400
    bad = httpx.post(url, json={**body, "n": 3}, headers=auth)
    assert bad.status_code == 400 and "n=1" in bad.json()["detail"]
    missing = httpx.post(
        runtime_url(server, str(uuid.uuid4())) + "/chat/completions", json=body, headers=auth
    )
    assert missing.status_code == 404
    # an embedding call on a chat model is a clear 400, not a crash
    emb = httpx.post(
        runtime_url(server, deployed["id"]) + "/embeddings", json={"input": "x"}, headers=auth
    )
    assert emb.status_code == 400 and emb.json()["error"]["code"] == "UNSUPPORTED_OPERATION"


def test_client_disconnect_cancels_generation(
    server: LiveServer, api: httpx.Client, admin: dict[str, str], deployed: dict[str, Any],
    admin_token: str,
) -> None:  # fmt: skip
    url = runtime_url(server, deployed["id"]) + "/chat/completions"
    body = {
        "model": "x",
        "messages": [{"role": "user", "content": "go on forever"}],
        "max_tokens": 1500,
        "stream": True,
    }
    with httpx.stream(
        "POST", url, json=body, headers={"Authorization": f"Bearer {admin_token}"}
    ) as r:
        assert r.status_code == 200
        seen = 0
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen += 1
            if seen >= 3:
                break
    time.sleep(2)
    rows = api.get("/api/serving/usage", params={"deployment_id": deployed["id"]}, headers=admin)
    logs = api.get(f"/api/serving/deployment/{deployed['id']}/logs", headers=admin).json()["logs"]
    assert any("stream closed by the client" in line for line in logs), logs[-10:]
    assert rows.status_code == 200
    # the replica is free again: a short request answers promptly
    started = time.monotonic()
    assert chat(server, admin_token, deployed["id"], "hi", max_tokens=2).status_code == 200
    assert time.monotonic() - started < 10


def test_bad_deploy_requests_are_4xx_with_reasons(
    api: httpx.Client, admin: dict[str, str], tiny: dict[str, Any]
) -> None:
    r = api.post("/api/serving/deploy_model", json={"m_id": str(uuid.uuid4())}, headers=admin)
    assert r.status_code == 404
    r = api.post(
        "/api/serving/deploy_model",
        json={"m_id": tiny["id"], "m_config_id": str(uuid.uuid4())},
        headers=admin,
    )
    assert r.status_code == 404
    r = api.post(
        "/api/serving/deploy_model", json={"m_id": tiny["id"], "engine_name": "nope"}, headers=admin
    )
    assert r.status_code == 400 and r.json()["detail"]["reason"] == "bad_engine"
    r = api.post(
        "/api/serving/deploy_model", json={"m_id": tiny["id"], "gpu_allocation": 1}, headers=admin
    )
    assert r.status_code == 400 and r.json()["detail"]["reason"] == "insufficient_gpus"
    r = api.post(
        "/api/serving/deploy_model", json={"m_id": tiny["id"], "cpu_allocation": 64}, headers=admin
    )
    assert r.status_code == 400 and r.json()["detail"]["reason"] == "insufficient_cpu"
    r = api.post(
        "/api/serving/deploy_model",
        json={"m_id": tiny["id"], "node_resource_type": "no_such_node"},
        headers=admin,
    )
    assert r.status_code == 400 and r.json()["detail"]["reason"] == "unknown_resource"
    r = api.post("/api/serving/deploy_model", json={"m_id": "not-a-uuid"}, headers=admin)
    assert r.status_code == 422
    # nothing was recorded for the refused requests
    listed = api.get("/api/serving/deployments", params={"model_id": tiny["id"]}, headers=admin)
    assert all(d["status"] != "REQUESTED" for d in listed.json())


def test_missing_model_files_fail_with_model_loading_failure(
    api: httpx.Client, admin: dict[str, str], tiny_chat_model: Path, tmp_path: Path
) -> None:
    # files that vanish after registration: caught before Ray is asked to do anything
    gone = tmp_path / "gone-model"
    gone.mkdir()
    for f in tiny_chat_model.iterdir():
        (gone / f.name).write_bytes(f.read_bytes())
    model = import_model(api, admin, gone, "gone-model", {"engine": "transformers"})
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    dep = wait_status(api, admin, deploy(api, admin, model["id"]))
    assert dep["status"] == "FAILED"
    assert dep["last_error_code"] == "MODEL_LOADING_FAILURE"
    assert "gone-model" in dep["last_error_message"]
    # files that exist but cannot be loaded: the replica fails inside Ray
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    model = import_model(api, admin, broken, "broken-model", {"engine": "transformers"})
    dep = wait_status(api, admin, deploy(api, admin, model["id"]))
    assert dep["status"] == "FAILED", dep
    assert dep["last_error_code"] == "MODEL_LOADING_FAILURE", dep
    patterns = api.get(f"/api/serving/deployment/{dep['id']}/logs/patterns", headers=admin).json()
    assert patterns["patterns_detected"]["model_loading_failure"] is True


def test_private_deployments_are_hidden_from_other_users(
    server: LiveServer, api: httpx.Client, admin: dict[str, str], tiny_chat_model: Path
) -> None:
    alice = create_user(api, admin, "alice")
    bob = create_user(api, admin, "bob")
    api.cookies.clear()
    private = import_model(api, admin, tiny_chat_model, "admin-private", private=True)
    dep_id = deploy(api, admin, private["id"])
    assert api.get(f"/api/serving/deployment/{dep_id}", headers=bob).status_code == 403
    assert dep_id not in [d["id"] for d in api.get("/api/serving/deployments", headers=bob).json()]
    bob_token = bob["Authorization"].split()[1]
    assert chat(server, bob_token, dep_id, "hi").status_code == 403
    assert api.delete(f"/api/serving/deployment/{dep_id}", headers=bob).status_code == 403
    assert api.delete(f"/api/serving/deployment/{dep_id}", headers=alice).status_code == 403
    assert (
        api.delete(
            f"/api/serving/deployment/{dep_id}", params={"force": "True"}, headers=admin
        ).json()
        is True
    )


def test_killed_replica_is_reported_and_replaced(
    api: httpx.Client, admin: dict[str, str], deployed: dict[str, Any]
) -> None:
    dep_id = deployed["id"]
    before = api.get(f"/api/serving/deployment/{dep_id}", headers=admin).json()["instances"]
    pid = before[0]["pid"]
    os.kill(pid, signal.SIGKILL)
    saw_trouble: list[str] = []

    def recovered(dep: dict[str, Any]) -> bool:
        if dep["status"] != "DEPLOYED":
            saw_trouble.append(dep["status"])
        pids = {i["pid"] for i in dep["instances"] if i["status"] == "DEPLOYED"}
        return dep["status"] == "DEPLOYED" and bool(pids) and pid not in pids

    wait_status(api, admin, dep_id, recovered, timeout=120)
    logs = "\n".join(
        api.get(f"/api/serving/deployment/{dep_id}/logs", headers=admin).json()["logs"]
    )
    assert "died" in logs, logs
    instances = api.get(
        "/api/serving/model_instances", params={"deployment_id": dep_id}, headers=admin
    ).json()
    assert {i["pid"]: i["status"] for i in instances}[pid] == "STOPPED"


def test_concurrent_deploys_of_one_model(
    server: LiveServer, api: httpx.Client, admin: dict[str, str], tiny: dict[str, Any],
    admin_token: str,
) -> None:  # fmt: skip
    ids: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with api_client(server) as c:
                ids.append(deploy(c, admin, tiny["id"], cpu_allocation=0.5))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 2
    for dep_id in ids:
        dep = wait_status(api, admin, dep_id)
        assert dep["status"] == "DEPLOYED", (dep["last_error_code"], dep["last_error_message"])
        assert chat(server, admin_token, dep_id, "hi", max_tokens=3).status_code == 200
    for dep_id in ids:
        assert api.delete(f"/api/serving/deployment/{dep_id}", headers=admin).json() is True


def test_stopped_deployment_refuses_calls_and_leaves_no_application(
    server: LiveServer, api: httpx.Client, admin: dict[str, str], tiny: dict[str, Any],
    admin_token: str,
) -> None:  # fmt: skip
    dep_id = deploy(api, admin, tiny["id"], cpu_allocation=0.5)
    assert wait_status(api, admin, dep_id)["status"] == "DEPLOYED"
    apps = api.get("/api/serving/status", headers=admin).json()["applications"]
    assert any(dep_id.replace("-", "") in a for a in apps)
    assert api.delete(f"/api/serving/deployment/{dep_id}", headers=admin).json() is True
    dep = api.get(f"/api/serving/deployment/{dep_id}", headers=admin).json()
    assert dep["status"] == "STOPPED" and dep["stopped_at"]
    assert all(i["status"] == "STOPPED" for i in dep["instances"])
    r = chat(server, admin_token, dep_id, "hi")
    assert r.status_code == 409 and "STOPPED" in r.json()["detail"]
    apps = api.get("/api/serving/status", headers=admin).json()["applications"]
    assert not any(dep_id.replace("-", "") in a for a in apps)
    # stopping again is harmless
    assert api.delete(f"/api/serving/deployment/{dep_id}", headers=admin).json() is True


def test_replica_count_is_passed_to_serve(
    server: LiveServer, api: httpx.Client, admin: dict[str, str], tiny: dict[str, Any],
    admin_token: str,
) -> None:  # fmt: skip
    dep_id = deploy(api, admin, tiny["id"], starting_copies=2, cpu_allocation=0.25)
    dep = wait_status(
        api,
        admin,
        dep_id,
        lambda d: (
            d["status"] in {"FAILED", "ERROR"}
            or (  # the status follows the instances within a poll
                d["status"] == "DEPLOYED"
                and sum(i["status"] == "DEPLOYED" for i in d["instances"]) == 2
            )
        ),
    )
    assert dep["status"] == "DEPLOYED", dep
    assert len({i["pid"] for i in dep["instances"]}) == 2
    assert dep["starting_copies"] == 2 and dep["resources"]["num_cpus"] == 0.25
    for _ in range(4):
        assert chat(server, admin_token, dep_id, "hi", max_tokens=2).status_code == 200
    assert api.delete(f"/api/serving/deployment/{dep_id}", headers=admin).json() is True
