"""The logger over the HTTP API (in-process app): real log files written by the tests under the
app's log folder (served by a `FileLogSource` registered the way App Garden registers its own),
and serving's real deployment log (a deploy whose model files vanished fails before Ray starts).
"""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, login, running_app
from waza.services.logger.patterns import analyze
from waza.services.logger.sources import DeploymentRef, FileLogSource

Headers = dict[str, str]
BASE = "/api/logger/logger"
DAY = 86_400


class Deployments:
    """The test's stand-in for App Garden's deployment table: id → owner and running state."""

    def __init__(self) -> None:
        self.known: dict[str, DeploymentRef] = {}

    def __call__(self, deployment_id: str) -> DeploymentRef | None:
        return self.known.get(deployment_id)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # a local head of 2 CPUs and no GPU is planned but never started by these tests
    home = tmp_path_factory.mktemp("logger")
    with running_app(home, ray_num_cpus=2, ray_num_gpus=0) as client:
        yield client


@pytest.fixture(scope="module")
def apps(api: TestClient) -> tuple[FileLogSource, Deployments]:
    deployments = Deployments()
    source = api.app.state.waza.logger.file_source("tool_shed", deployments)  # type: ignore[attr-defined]
    return source, deployments


def _user(api: TestClient, admin: Headers, name: str) -> tuple[Headers, uuid.UUID]:
    body = {"username": name, "password": f"pw-{name}-1", "roles": ["user"]}
    reply = api.post("/api/auth/users/local", json=body, headers=admin)
    assert reply.status_code == 201, reply.text
    headers = login(api, name, f"pw-{name}-1")
    api.cookies.clear()
    return headers, uuid.UUID(reply.json()["id"])


@pytest.fixture(scope="module")
def people(api: TestClient) -> dict[str, Any]:
    admin = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    alice, alice_id = _user(api, admin, f"alice-{uuid.uuid4().hex[:6]}")
    bob, bob_id = _user(api, admin, f"bob-{uuid.uuid4().hex[:6]}")
    return {"admin": admin, "alice": alice, "alice_id": alice_id, "bob": bob, "bob_id": bob_id}


APP_LOG = [
    "2025-01-01 10:00:00 INFO starting app on port 8501",
    "OSError: [Errno 98] Address already in use",
    "2025-01-01 10:00:01 INFO retrying on port 8502",
    "FileNotFoundError: [Errno 2] No such file or directory: '/data/notebook.ipynb'",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "RuntimeError: CUDA error: device-side assert triggered",
    "2025-01-01 10:00:02 INFO the room is ready",
]


def write_app_log(
    source: FileLogSource, deployments: Deployments, owner: uuid.UUID | None, *,
    active: bool = False, lines: list[str] = APP_LOG, age_days: float = 0,
) -> str:  # fmt: skip
    dep_id = str(uuid.uuid4())
    if owner is not None:
        deployments.known[dep_id] = DeploymentRef(owner, active)
    path = source.path_for(dep_id)
    path.write_text("\n".join(lines) + "\n")
    if age_days:
        stamp = time.time() - age_days * DAY
        os.utime(path, (stamp, stamp))
    return dep_id


def test_patterns_name_what_they_see() -> None:
    found = analyze(APP_LOG)
    detected = {k for k, v in found.patterns_detected.items() if v}
    assert detected == {"port_in_use", "missing_file", "out_of_memory", "cuda_error"}
    assert [f.line_number for f in found.failure_lines] == [2, 4, 5, 6]
    assert found.total_errors_found == 4
    more = analyze([
        "ModuleNotFoundError: No module named 'panel'",
        "PermissionError: [Errno 13] Permission denied: '/srv'",
        "OSError: [Errno 28] No space left on device",
        "Fatal Python error: Segmentation fault",
        "Traceback (most recent call last):",
        "2025 ERROR status FAILED [STARTUP_TIMEOUT]: no replica became ready",
        "requests.exceptions.ConnectionError: [Errno 111] Connection refused",
    ]).patterns_detected  # fmt: skip
    for name in ("import_error", "permission_denied", "disk_full", "crashed", "traceback",
                 "startup_timeout", "connection_refused"):  # fmt: skip
        assert more[name], name
    quiet = analyze(["zoom into the room", "bloom filter built", "error_rate=0.0", "oomph"])
    assert not any(quiet.patterns_detected.values()) and quiet.total_errors_found == 0


def test_app_logs_listed_read_and_analysed(
    api: TestClient, apps: tuple[FileLogSource, Deployments], people: dict[str, Any]
) -> None:
    source, deployments = apps
    mine = write_app_log(source, deployments, people["alice_id"])
    theirs = write_app_log(source, deployments, people["bob_id"])
    alice, bob, admin = people["alice"], people["bob"], people["admin"]

    seen = api.get(f"{BASE}/deployments/all", headers=alice).json()
    ids = {entry["deployment_id"] for entry in seen["logs"]}
    assert mine in ids and theirs not in ids
    entry = next(e for e in seen["logs"] if e["deployment_id"] == mine)
    assert entry["deployment_type"] == "tool_shed" and entry["is_orphaned"] is False
    assert entry["file_size"] == len("\n".join(APP_LOG)) + 1
    assert entry["file_path"].endswith(f"tool_shed/{mine}.log") and entry["has_errors"] is None
    everyone = api.get(f"{BASE}/deployments/type/tool_shed?analyze=true", headers=admin).json()
    by_id = {e["deployment_id"]: e for e in everyone["logs"]}
    assert {mine, theirs} <= set(by_id) and by_id[mine]["has_errors"] is True

    url = f"{BASE}/deployments/tool_shed/{mine}"
    content = api.get(url, headers=alice).json()
    assert content["logs"] == APP_LOG and content["total_lines"] == len(APP_LOG)
    assert content["patterns_detected"]["port_in_use"] is True
    tail = api.get(url, params={"tail": 2}, headers=alice).json()
    assert tail["logs"] == APP_LOG[-2:] and tail["total_lines"] == len(APP_LOG)
    analysis = api.get(url + "/patterns", headers=alice).json()
    assert analysis["total_errors_found"] == 4
    assert analysis["failure_lines"][0] == {
        "line_number": 2, "line": APP_LOG[1], "patterns": ["port_in_use"],
    }  # fmt: skip
    # legacy forms find the log whatever its type
    assert api.get(f"{BASE}/deployment/{mine}/logs", headers=alice).json()["logs"] == APP_LOG
    legacy = api.get(f"{BASE}/deployment/{mine}/logs/patterns", headers=alice).json()
    assert legacy["patterns_detected"]["cuda_error"] is True
    assert mine in {e["deployment_id"] for e in
                    api.get(f"{BASE}/engine/tool_shed", headers=alice).json()["logs"]}  # fmt: skip
    # the short prefix answers too
    assert api.get(f"/api/logger/deployments/tool_shed/{mine}", headers=alice).status_code == 200

    # someone else's log, an unknown one, an unknown type, no token
    assert api.get(f"{BASE}/deployments/tool_shed/{mine}", headers=bob).status_code == 403
    assert api.get(f"{BASE}/deployments/tool_shed/{uuid.uuid4()}", headers=bob).status_code == 404
    assert api.get(f"{BASE}/deployments/llamacpp/{mine}", headers=alice).status_code == 404
    bad = api.get(f"{BASE}/deployments/type/docker", headers=alice)
    assert bad.status_code == 400 and "tool_shed" in bad.json()["detail"]
    assert api.get(url, params={"tail": 0}, headers=alice).status_code == 422
    assert api.get(url).status_code == 401


def test_rotated_and_compressed_parts_are_read_in_order(
    api: TestClient, apps: tuple[FileLogSource, Deployments], people: dict[str, Any]
) -> None:
    source, deployments = apps
    dep_id = write_app_log(source, deployments, people["alice_id"], lines=["third"])
    folder = source.path_for(dep_id).parent
    (folder / f"{dep_id}.log.1").write_text("second\n")
    with gzip.open(folder / f"{dep_id}.log.2.gz", "wt") as fh:
        fh.write("first\nNo space left on device\n")
    content = api.get(f"{BASE}/deployments/tool_shed/{dep_id}", headers=people["alice"]).json()
    assert content["logs"] == ["first", "No space left on device", "second", "third"]
    assert content["is_compressed"] is True and content["patterns_detected"]["disk_full"] is True


def test_orphans_and_stats(
    api: TestClient, apps: tuple[FileLogSource, Deployments], people: dict[str, Any]
) -> None:
    source, deployments = apps
    orphan = write_app_log(source, deployments, None)  # its deployment is gone
    admin, alice = people["admin"], people["alice"]
    orphans = api.get(f"{BASE}/deployments/orphaned", headers=admin).json()
    assert orphan in {e["deployment_id"] for e in orphans["logs"]}
    assert orphans["orphaned_count"] == orphans["total_count"] >= 1
    assert all(e["is_orphaned"] for e in orphans["logs"])
    alice_orphans = api.get(f"{BASE}/deployments/orphaned", headers=alice).json()["logs"]
    assert orphan not in {e["deployment_id"] for e in alice_orphans}
    assert api.get(f"{BASE}/deployments/tool_shed/{orphan}", headers=alice).status_code == 403

    stats = api.get(f"{BASE}/stats", headers=admin).json()
    everything = api.get(f"{BASE}/deployments/all", headers=admin).json()["logs"]
    assert stats["total_logs"] == len(everything)
    assert stats["total_size_bytes"] == sum(e["file_size"] for e in everything)
    garden = stats["by_type"]["tool_shed"]
    assert garden["count"] == sum(e["deployment_type"] == "tool_shed" for e in everything)
    assert garden["orphaned_count"] >= 1 and stats["storage_path"].endswith("logs")
    own = api.get(f"{BASE}/stats", headers=alice).json()
    assert own["total_logs"] < stats["total_logs"] and own["orphaned_count"] == 0


def test_delete_one_log(
    api: TestClient, apps: tuple[FileLogSource, Deployments], people: dict[str, Any]
) -> None:
    source, deployments = apps
    alice, bob = people["alice"], people["bob"]
    done = write_app_log(source, deployments, people["alice_id"])
    running = write_app_log(source, deployments, people["alice_id"], active=True)
    url = f"{BASE}/deployments/tool_shed/{done}"

    unconfirmed = api.delete(url, headers=alice).json()
    assert unconfirmed["deleted"] is False and "confirm=true" in unconfirmed["message"]
    assert source.path_for(done).exists()
    assert api.delete(url, params={"confirm": True}, headers=bob).status_code == 403
    busy = api.delete(f"{BASE}/deployments/tool_shed/{running}", params={"confirm": True},
                      headers=alice)  # fmt: skip
    assert busy.status_code == 409 and "running" in busy.json()["detail"]
    gone = api.delete(url, params={"confirm": "True"}, headers=alice).json()  # the SDK's spelling
    assert gone["deleted"] is True and gone["files_removed"] == [str(source.path_for(done))]
    assert not source.path_for(done).exists()
    assert api.get(url, headers=alice).status_code == 404
    assert api.delete(url, params={"confirm": True}, headers=alice).status_code == 404


def test_cleanup_is_admin_only_dry_by_default_and_keeps_running_logs(
    api: TestClient, apps: tuple[FileLogSource, Deployments], people: dict[str, Any]
) -> None:
    source, deployments = apps
    admin, alice = people["admin"], people["alice"]
    old = write_app_log(source, deployments, people["alice_id"], age_days=40)
    old_running = write_app_log(source, deployments, people["alice_id"], active=True, age_days=40)
    fresh = write_app_log(source, deployments, people["alice_id"], age_days=1)
    url = f"{BASE}/cleanup"
    assert api.delete(url, headers=alice).status_code == 403

    dry = api.delete(url, params={"deployment_type": "tool_shed"}, headers=admin).json()
    assert dry["dry_run"] is True and dry["deleted_count"] == 0
    listed = {e["deployment_id"] for e in dry["logs"]}
    assert old in listed and old_running not in listed and fresh not in listed
    assert dry["skipped_active"] >= 1 and dry["message"].startswith("Would delete")
    assert source.path_for(old).exists()

    real = api.delete(url, params={"deployment_type": "tool_shed", "dry_run": False,
                                   "days_old": 30}, headers=admin).json()  # fmt: skip
    assert real["deleted_count"] == len(real["logs"]) >= 1 and real["errors"] == []
    assert real["freed_bytes"] == sum(e["file_size"] for e in real["logs"])
    assert not source.path_for(old).exists()
    assert source.path_for(old_running).exists() and source.path_for(fresh).exists()
    assert api.delete(url, params={"days_old": -1}, headers=admin).status_code == 422
    assert api.delete(url, params={"deployment_type": "nope"}, headers=admin).status_code == 400


def test_serving_deployment_logs(api: TestClient, people: dict[str, Any],
                                 tmp_path: Path) -> None:  # fmt: skip
    admin, bob = people["admin"], people["bob"]
    folder = tmp_path / "vanishing-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    model = api.post("/api/models/import", headers=admin, json={
        "path": str(folder), "name": f"vanishing-{uuid.uuid4().hex[:6]}",
        "config": {"engine": "transformers"}})  # fmt: skip
    assert model.status_code in (200, 201), model.text
    (folder / "config.json").unlink()
    folder.rmdir()  # the deploy fails on the missing files, before any Ray head is started
    dep_id = api.post("/api/serving/deploy_model", json={"m_id": model.json()["id"]},
                      headers=admin).json()  # fmt: skip
    deadline = time.monotonic() + 30
    while (
        status := api.get(f"/api/serving/deployment/{dep_id}/status", headers=admin).json()
    ) != "FAILED":
        assert status in {"REQUESTED", "DEPLOYING"} and time.monotonic() < deadline, status
        time.sleep(0.1)

    assert api.get("/api/serving/status", headers=admin).json()["status"] == "not running"
    listed = api.get(f"{BASE}/deployments/type/transformers", headers=admin).json()["logs"]
    entry = next(e for e in listed if e["deployment_id"] == dep_id)
    assert entry["file_path"].startswith("ray-serve://") and entry["capture_active"] is False
    assert entry["file_size"] > 0
    bob_sees = api.get(f"{BASE}/deployments/all", headers=bob).json()["logs"]
    assert dep_id not in {e["deployment_id"] for e in bob_sees}
    url = f"{BASE}/deployments/transformers/{dep_id}"
    content = api.get(url, headers=admin).json()
    assert any("MODEL_LOADING_FAILURE" in line for line in content["logs"])
    found = api.get(url + "/patterns", headers=admin).json()
    assert found["patterns_detected"]["model_loading_failure"] is True
    assert found["patterns_detected"]["missing_file"] is True
    # serving's own route gives the same verdict (one implementation)
    same = api.get(f"/api/serving/deployment/{dep_id}/logs/patterns", headers=admin).json()
    assert same["patterns_detected"] == found["patterns_detected"]
    assert api.get(url, headers=bob).status_code == 403

    removed = api.delete(url, params={"confirm": True}, headers=admin).json()
    assert removed["deleted"] is True
    assert api.get(url, headers=admin).status_code == 404
    assert api.get(f"/api/serving/deployment/{dep_id}/logs", headers=admin).json()["logs"] == []
    assert api.get(f"/api/serving/deployment/{dep_id}/status", headers=admin).json() == "FAILED"
