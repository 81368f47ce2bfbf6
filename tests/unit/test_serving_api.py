"""Serving routes in process, without Ray: deploy validation (404/400 with reasons), the
lifecycle of a deploy whose files are missing (FAILED before Ray is started), reads, stop,
runtime refusals, usage and estimates. The Ray paths are in tests/integration/test_serving*.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, create_user, login, running_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # a local head of 2 CPUs and no GPU is planned but never started by these tests
    with running_app(tmp_path_factory.mktemp("serving"), ray_num_cpus=2, ray_num_gpus=0) as c:
        yield c


@pytest.fixture(scope="module")
def admin(client: TestClient) -> dict[str, str]:
    return login(client, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def model(
    client: TestClient, admin: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("vanishing-model")
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    r = client.post(
        "/api/models/import",
        json={"path": str(folder), "name": "vanishing", "config": {"engine": "transformers"}},
        headers=admin,
    )
    assert r.status_code in (200, 201), r.text
    (folder / "config.json").unlink()
    folder.rmdir()
    return dict(r.json())


def _wait(client: TestClient, admin: dict[str, str], dep_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        dep: dict[str, Any] = client.get(f"/api/serving/deployment/{dep_id}", headers=admin).json()
        if dep["status"] in {"FAILED", "ERROR", "DEPLOYED", "STOPPED"}:
            return dep
        time.sleep(0.1)
    raise AssertionError(dep)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"gpu_allocation": 1}, 400, "insufficient_gpus"),
        ({"cpu_allocation": 8}, 400, "insufficient_cpu"),
        ({"node_resource_type": "gpu_node"}, 400, "unknown_resource"),
        ({"engine_name": "tensorrt"}, 400, "bad_engine"),
        ({"force_cpu": True, "gpu_allocation": 0.5}, 400, "conflicting_options"),
    ],
)
def test_deploy_refuses_what_cannot_run(
    client: TestClient, admin: dict[str, str], model: dict[str, Any], body: dict[str, Any],
    status: int, reason: str,
) -> None:  # fmt: skip
    r = client.post("/api/serving/deploy_model", json={"m_id": model["id"], **body}, headers=admin)
    assert r.status_code == status, r.text
    assert r.json()["detail"]["reason"] == reason
    assert r.json()["detail"]["message"]


def test_deploy_unknown_ids_and_bad_bodies(
    client: TestClient, admin: dict[str, str], model: dict[str, Any]
) -> None:
    assert (
        client.post(
            "/api/serving/deploy_model", json={"m_id": str(uuid.uuid4())}, headers=admin
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/serving/deploy_model",
            json={"m_id": model["id"], "m_config_id": str(uuid.uuid4())},
            headers=admin,
        ).status_code
        == 404
    )
    r = client.post(
        "/api/serving/deploy_model",
        json={"m_id": model["id"], "starting_copies": 0},
        headers=admin,
    )
    assert r.status_code == 400 and "starting_copies" in r.json()["detail"]
    assert client.post("/api/serving/deploy_model", json={}, headers=admin).status_code == 422
    for path in ("deployment", "deployment/{}/status", "deployment/{}/logs", "model_instance"):
        url = f"/api/serving/{path.format(uuid.uuid4())}"
        if "{}" not in path:
            url += f"/{uuid.uuid4()}"
        assert client.get(url, headers=admin).status_code == 404, url
    client.cookies.clear()
    assert client.get("/api/serving/deployments").status_code == 401


def test_missing_files_fail_before_ray_starts(
    client: TestClient, admin: dict[str, str], model: dict[str, Any]
) -> None:
    r = client.post(
        "/api/serving/deploy_model",
        json={"m_id": model["id"], "m_config_id": None, "lb_port": 0, "min_copies": 1,
              "starting_copies": 1, "autoscaling": False, "inferenceResources": None},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 200 and isinstance(r.json(), str)
    dep = _wait(client, admin, r.json())
    assert dep["status"] == "FAILED" and dep["last_error_code"] == "MODEL_LOADING_FAILURE"
    assert dep["access_path"] == f"/runtime/models/{dep['id']}" and dep["m_config_id"]
    assert client.get("/api/serving/status", headers=admin).json()["status"] == "not running"
    logs = client.get(f"/api/serving/deployment/{dep['id']}/logs", headers=admin).json()
    assert logs["capture_active"] is False
    assert any("MODEL_LOADING_FAILURE" in line for line in logs["logs"])
    patterns = client.get(
        f"/api/serving/deployment/{dep['id']}/logs/patterns", headers=admin
    ).json()
    assert patterns["patterns_detected"]["model_loading_failure"] is True
    engine_logs = client.get("/api/serving/logs/transformers", headers=admin).json()
    assert dep["id"] in [entry["deployment_id"] for entry in engine_logs["logs"]]
    # calls to it are refused clearly; stopping it is harmless and final
    chat = client.post(
        f"/runtime/models/{dep['id']}/v1/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
        headers=admin,
    )
    assert chat.status_code == 409 and "FAILED" in chat.json()["error"]["message"]
    assert client.delete(f"/api/serving/deployment/{dep['id']}", headers=admin).json() is True
    assert (
        client.get(f"/api/serving/deployment/{dep['id']}/status", headers=admin).json() == "STOPPED"
    )
    listed = client.get("/api/serving/deployments", params={"model_id": model["id"]}, headers=admin)
    assert [d["id"] for d in listed.json()] == [dep["id"]]


def test_other_users_see_non_private_deployments_but_cannot_stop_them(
    client: TestClient, admin: dict[str, str], model: dict[str, Any]
) -> None:
    dep_id = client.post(
        "/api/serving/deploy_model", json={"m_id": model["id"]}, headers=admin
    ).json()
    _wait(client, admin, dep_id)
    carol = create_user(client, admin, "carol")
    client.cookies.clear()
    assert client.get(f"/api/serving/deployment/{dep_id}", headers=carol).status_code == 200
    assert client.delete(f"/api/serving/deployment/{dep_id}", headers=carol).status_code == 403
    assert client.get("/api/serving/usage", headers=carol).json() == []
    assert client.get("/api/serving/usage?all_users=true", headers=carol).json() == []


def test_estimates_answer_even_for_unknown_ids(
    client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    unknown = client.post(
        "/api/serving/estimate_model_vram", json={"m_id": str(uuid.uuid4())}, headers=admin
    ).json()
    assert unknown["computed_vram_estimate"] is None and unknown["estimation_source"]
    junk = client.post("/api/serving/estimate_model_vram", json={"m_id": 5}, headers=admin)
    assert junk.status_code == 200 and "estimation_source" in junk.json()


def test_start_refuses_another_clusters_address_and_non_admins(
    client: TestClient, admin: dict[str, str]
) -> None:
    """Joining another cluster is configuration (WAZA_RAY_ADDRESS), not a call that could leave
    the API's Ray client retrying an unreachable address; nor may a user start Ray."""
    started = time.monotonic()
    r = client.post("/api/serving/start", json={"address": "192.0.2.2:6379"}, headers=admin)
    assert r.status_code == 400 and "WAZA_RAY_ADDRESS" in r.json()["detail"], r.text
    assert time.monotonic() - started < 5  # answered, no connection attempt
    assert client.get("/api/serving/health", headers=admin).status_code == 200
    name = f"starter-{uuid.uuid4().hex[:6]}"
    user = create_user(client, admin, name)
    assert client.post("/api/serving/start", json={}, headers=user).status_code == 403
