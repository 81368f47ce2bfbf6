"""Serving across processes and nodes: placement on a second Ray node by resource, platform
restarts during and after a deploy (reconcile), orphan applications, and the local Ray head
waza starts on demand."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Uuid, bindparam, create_engine, text

from tests.conftest import LiveServer, create_database, login, start_server, stop_server
from tests.fixtures.ray import WORKER_RESOURCE, RayNode, start_worker
from tests.integration.serving_helpers import (
    ADMIN_PASSWORD,
    api_client,
    chat,
    deploy,
    import_model,
    serving_env,
    serving_server,
    wait_status,
)
from waza.services.serving.ray_cluster import RayCluster
from waza.settings import Settings

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("serving-cluster")
    url, drop = create_database(home)
    yield Settings(home=home, database_url=url)  # type: ignore[call-arg]
    drop()


def _session(server: LiveServer) -> tuple[httpx.Client, dict[str, str], str]:
    api = api_client(server)
    headers = login(api, "admin", ADMIN_PASSWORD)
    return api, headers, headers["Authorization"].split()[1]


def _events(api: httpx.Client, headers: dict[str, str], dep_id: str) -> str:
    return "\n".join(
        api.get(f"/api/serving/deployment/{dep_id}/logs", headers=headers).json()["logs"]
    )


def _apps_of(api: httpx.Client, headers: dict[str, str], dep_id: str) -> list[str]:
    apps = api.get("/api/serving/status", headers=headers).json()["applications"]
    return [a for a in apps if dep_id.replace("-", "") in a]


def test_deployment_is_placed_on_the_worker_node_by_resource(
    settings: Settings, ray_head: RayNode, tiny_chat_model: Path, tmp_path: Path
) -> None:
    worker = start_worker(ray_head, tmp_path)
    try:
        with serving_server(settings, ray_head.address) as server:
            api, admin, token = _session(server)
            nodes = api.get("/api/serving/health", headers=admin).json()
            worker_ids = [n["node_id"] for n in nodes if WORKER_RESOURCE in n["resources"]]
            assert len(nodes) >= 2 and len(worker_ids) == 1
            model = import_model(api, admin, tiny_chat_model, "placed", {"engine": "transformers"})
            dep_id = deploy(
                api, admin, model["id"], node_resource_type=WORKER_RESOURCE, cpu_allocation=0.5
            )
            dep = wait_status(api, admin, dep_id)
            assert dep["status"] == "DEPLOYED", dep
            assert [i["ray_node_id"] for i in dep["instances"]] == worker_ids
            assert chat(server, token, dep_id, "hi", max_tokens=3).status_code == 200
    finally:
        worker.stop()


def test_restart_after_deploy_reattaches(
    settings: Settings, ray_head: RayNode, tiny_chat_model: Path
) -> None:
    server = start_server(settings, serving_env(ray_head.address))
    try:
        api, admin, token = _session(server)
        model = import_model(api, admin, tiny_chat_model, "survivor", {"engine": "transformers"})
        dep_id = deploy(api, admin, model["id"], cpu_allocation=0.5)
        before = wait_status(api, admin, dep_id)
        assert before["status"] == "DEPLOYED"
    finally:
        stop_server(server)
    server = start_server(settings, serving_env(ray_head.address))
    try:
        api, admin, token = _session(server)
        after = wait_status(
            api, admin, dep_id, lambda d: "re-attached" in _events(api, admin, dep_id)
        )
        assert after["status"] == "DEPLOYED"
        assert [i["pid"] for i in after["instances"]] == [i["pid"] for i in before["instances"]]
        assert chat(server, token, dep_id, "still there?", max_tokens=3).status_code == 200
        assert len(_apps_of(api, admin, dep_id)) == 1
        assert api.delete(f"/api/serving/deployment/{dep_id}", headers=admin).json() is True
        assert _apps_of(api, admin, dep_id) == []
    finally:
        stop_server(server)


def test_restart_during_deploy_is_reconciled(
    settings: Settings, ray_head: RayNode, tiny_chat_model: Path
) -> None:
    server = start_server(settings, serving_env(ray_head.address))
    api, admin, _ = _session(server)
    model = import_model(api, admin, tiny_chat_model, "interrupted", {"engine": "transformers"})
    dep_id = deploy(api, admin, model["id"], cpu_allocation=0.5)
    server.process.kill()  # crash mid-deploy: no shutdown hooks run
    server.process.wait()
    server = start_server(settings, serving_env(ray_head.address))
    try:
        api, admin, token = _session(server)
        dep = wait_status(api, admin, dep_id)
        assert dep["status"] == "DEPLOYED", dep
        events = _events(api, admin, dep_id)
        assert "re-attached" in events or "redeploying" in events, events
        assert len(_apps_of(api, admin, dep_id)) == 1
        assert chat(server, token, dep_id, "hi", max_tokens=3).status_code == 200
        api.delete(f"/api/serving/deployment/{dep_id}", params={"force": "true"}, headers=admin)
    finally:
        stop_server(server)


def test_orphan_application_is_deleted_at_start(
    settings: Settings, ray_head: RayNode, tiny_chat_model: Path
) -> None:
    server = start_server(settings, serving_env(ray_head.address))
    try:
        api, admin, _ = _session(server)
        model = import_model(api, admin, tiny_chat_model, "orphan", {"engine": "transformers"})
        dep_id = deploy(api, admin, model["id"], cpu_allocation=0.5)
        assert wait_status(api, admin, dep_id)["status"] == "DEPLOYED"
    finally:
        stop_server(server)
    # the record is lost while Ray keeps running the application
    engine = create_engine(settings.effective_database_url)
    param = bindparam("d", value=uuid.UUID(dep_id), type_=Uuid())
    with engine.begin() as conn:
        for table in ("deployment_instances", "deployment_events"):
            sql = f"DELETE FROM {table} WHERE deployment_id = :d"  # noqa: S608
            conn.execute(text(sql).bindparams(param))
        assert conn.execute(
            text("DELETE FROM deployments WHERE id = :d").bindparams(param)
        ).rowcount
    engine.dispose()
    server = start_server(settings, serving_env(ray_head.address))
    try:
        api, admin, _ = _session(server)
        deadline = time.monotonic() + 60
        while _apps_of(api, admin, dep_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _apps_of(api, admin, dep_id) == []
    finally:
        stop_server(server)


@pytest.mark.ray  # starts its own Ray head
def test_local_head_started_on_demand(tiny_chat_model: Path, tmp_path: Path) -> None:
    home = tmp_path / "embedded"
    home.mkdir()
    url, drop = create_database(tmp_path)
    settings = Settings(home=home, database_url=url, ray_num_cpus=2)  # type: ignore[call-arg]
    server = start_server(settings, {"WAZA_RAY_NUM_CPUS": "2"})
    cluster = RayCluster(settings)
    try:
        api, admin, token = _session(server)
        status: dict[str, Any] = api.get("/api/serving/status", headers=admin).json()
        assert status["status"] == "not running" and status["managed"] is True
        model = import_model(api, admin, tiny_chat_model, "embedded", {"engine": "transformers"})
        started = time.monotonic()
        dep_id = deploy(api, admin, model["id"])
        dep = wait_status(api, admin, dep_id, timeout=420)  # starts a head: slow when loaded
        took = time.monotonic() - started
        assert dep["status"] == "DEPLOYED", dep
        status = api.get("/api/serving/status", headers=admin).json()
        assert status["status"] == "running" and status["resources"]["CPU"] == 2
        assert chat(server, token, dep_id, "hi", max_tokens=3).status_code == 200
        print(f"cold deploy with a new local Ray head: {took:.1f} s")
        api.delete(f"/api/serving/deployment/{dep_id}", params={"force": "true"}, headers=admin)
    finally:
        stop_server(server)
        assert cluster.stop_head() is True  # what `waza down` does
        drop()
    assert cluster.running_address() is None
