"""Faults (issue #10, part 4): the Ray head killed under a live API with a deployment running.

The API must survive it (Ray's driver would end the process after a minute without its GCS),
fail the deployment with code RAY_UNAVAILABLE and a reason, and deploy it again once a Ray head
answers at the same address. This test runs its own head (it kills it), not the session's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, create_database, login, start_server, stop_server
from tests.fixtures.ray import RayNode, start_head
from tests.integration.serving_helpers import (
    api_client,
    chat,
    deploy,
    import_model,
    serving_env,
    wait_status,
)
from waza.settings import Settings

pytestmark = pytest.mark.ray


@pytest.fixture
def own_head(tmp_path: Path) -> Iterator[list[RayNode]]:
    (tmp_path / "head-1").mkdir()
    nodes = [start_head(tmp_path / "head-1", num_cpus=4)]
    try:
        yield nodes
    finally:
        for node in nodes:
            with contextlib.suppress(Exception):
                node.stop()


def test_ray_head_killed_and_back(
    tmp_path: Path, own_head: list[RayNode], tiny_chat_model: Path
) -> None:
    head = own_head[0]
    url, drop = create_database(tmp_path)
    settings = Settings(home=tmp_path, database_url=url)  # type: ignore[call-arg]
    # Ray ends a driver whose GCS stays away this long; the platform raises the default (60 s)
    # but lets go of Ray well before: a short value here proves it within the test's time
    env = {**serving_env(head.address), "RAY_gcs_rpc_server_reconnect_timeout_s": "40"}
    server = start_server(settings, env)
    try:
        with api_client(server) as api:
            admin = login(api, "admin", ADMIN_PASSWORD)
            api.cookies.clear()
            token = admin["Authorization"].split()[1]
            model = import_model(api, admin, tiny_chat_model, "outage-tiny")
            dep_id = deploy(api, admin, model["id"])
            assert wait_status(api, admin, dep_id)["status"] == "DEPLOYED"

            head.stop()  # SIGTERM to the process group: the GCS and raylet go
            failed = wait_status(api, admin, dep_id, lambda d: d["status"] == "FAILED", 60)
            assert failed["last_error_code"] == "RAY_UNAVAILABLE", failed
            assert head.address in failed["last_error_message"]
            refused = chat(server, token, dep_id, "hello", max_tokens=2)
            assert refused.status_code == 409, refused.text  # not DEPLOYED: a clear refusal

            time.sleep(45)  # past Ray's driver timeout: the API must still be here
            assert server.process.poll() is None, server.log()[-2000:]
            assert api.get("/api/ping").status_code == 200

            port = int(head.address.rsplit(":", 1)[1])
            (tmp_path / "head-2").mkdir()
            own_head.append(start_head(tmp_path / "head-2", num_cpus=4, port=port))
            back = wait_status(api, admin, dep_id, lambda d: d["status"] == "DEPLOYED", 180)
            assert back["status"] == "DEPLOYED"
            reply = chat(server, token, dep_id, "hello", max_tokens=2)
            assert reply.status_code == 200, reply.text
    finally:
        stop_server(server)
        drop()
