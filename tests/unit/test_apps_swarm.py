"""The swarm runtime against a FAKE Docker client (no Docker engine runs on this machine: the
runtime is written against the Docker SDK's API and is untested against a real Swarm), plus the
route configuration both Traefik providers get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from waza.services.apps.routing import dynamic_config, flatten
from waza.services.apps.runtimes.base import AppStartError, Launch
from waza.services.apps.runtimes.swarm import SwarmRuntime
from waza.services.apps.spec import parse_template

COMPOSE = """
services:
  web:
    image: ghcr.io/example/web:1.2
    command: ["serve", "--port", "9000"]
    ports: ["9000"]
    environment:
      MODE: demo
"""


class FakeService:
    def __init__(self, owner: FakeServices, image: str, kwargs: dict[str, Any]) -> None:
        self.owner = owner
        self.id = f"svc-{len(owner.created)}"
        self.image = image
        self.kwargs = kwargs
        self.task_states = list(owner.task_script)
        self.attrs = {"Endpoint": {"Ports": [{"TargetPort": 9000, "PublishedPort": 30123}]}}
        self.removed = False

    def tasks(self) -> list[dict[str, Any]]:
        state = self.task_states.pop(0) if len(self.task_states) > 1 else self.task_states[0]
        task = {"CreatedAt": "1", "Status": {"State": state, "ContainerStatus": {"ExitCode": 3}}}
        return [task] * self.owner.task_count

    def reload(self) -> None:
        return None

    def logs(self, **kwargs: Any) -> list[bytes]:
        return [b"booting\n", b"Traceback (most recent call last):\n", b"boom\n"]

    def remove(self) -> None:
        self.removed = True
        self.owner.live.pop(self.kwargs["name"], None)


class FakeServices:
    def __init__(self) -> None:
        self.created: list[FakeService] = []
        self.live: dict[str, FakeService] = {}
        self.task_script = ["pending", "running"]
        self.task_count = 1  # tasks Swarm keeps (a restarted replica leaves its failed ones)

    def create(self, image: str, command: Any = None, **kwargs: Any) -> FakeService:
        svc = FakeService(self, image, {"command": command, **kwargs})
        self.created.append(svc)
        self.live[kwargs["name"]] = svc
        return svc

    def get(self, name: str) -> FakeService:
        if name not in self.live:
            raise docker.errors.NotFound(f"service {name} not found")
        return self.live[name]


class FakeImages:
    def __init__(self) -> None:
        self.present = {"ghcr.io/example/web:1.2"}
        self.pulled: list[tuple[str, str]] = []

    def get(self, name: str) -> object:
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return object()

    def pull(self, repo: str, tag: str) -> object:
        self.pulled.append((repo, tag))
        if repo.endswith("missing"):
            raise docker.errors.APIError("pull access denied")
        return object()


class FakeDocker:
    def __init__(self) -> None:
        self.services = FakeServices()
        self.images = FakeImages()

    def close(self) -> None:
        return None


def launch(tmp_path: Path, name: str = "waza-app-x-1") -> Launch:
    spec = parse_template(COMPOSE)
    return Launch(
        deployment_id="d1",
        name=name,
        env={"WAZA_API_KEY": "secret", "MODE": "demo"},
        app_path="/apps/d1/",
        public_origin="http://127.0.0.1:8000",
        workdir=tmp_path,
        log_path=tmp_path / "app.log",
        start_timeout=5,
        services=spec.services,
    )


@pytest.fixture
def fake() -> FakeDocker:
    return FakeDocker()


def test_start_creates_one_replica_service_and_reports_the_published_port(
    fake: FakeDocker, tmp_path: Path
) -> None:
    runtime = SwarmRuntime("tcp://swarm-manager:2376", client=fake)
    started = runtime.start(launch(tmp_path))
    (svc,) = fake.services.created
    assert svc.image == "ghcr.io/example/web:1.2"
    assert svc.kwargs["command"] == ["serve", "--port", "9000"]
    assert "PORT=9000" in svc.kwargs["env"] and "WAZA_API_KEY=secret" in svc.kwargs["env"]
    assert svc.kwargs["labels"] == {"waza.app": "d1", "waza.managed": "true"}
    assert svc.kwargs["mode"] == {"replicated": {"Replicas": 1}}
    assert svc.kwargs["endpoint_spec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 9000}]
    assert started.target_url == "http://swarm-manager:30123"
    assert runtime.observe("waza-app-x-1").state == "running"
    assert runtime.stop("waza-app-x-1") is True and svc.removed
    assert runtime.stop("waza-app-x-1") is False  # twice: harmless
    assert runtime.observe("waza-app-x-1").state == "missing"


def test_on_an_overlay_network_traefik_reaches_the_service_by_name(
    fake: FakeDocker, tmp_path: Path
) -> None:
    runtime = SwarmRuntime(network="waza-apps", client=fake)
    started = runtime.start(launch(tmp_path))
    (svc,) = fake.services.created
    assert svc.kwargs["networks"] == ["waza-apps"] and "endpoint_spec" not in svc.kwargs
    assert started.target_url == "http://waza-app-x-1:9000"


def test_failing_tasks_fail_the_start_with_the_service_logs(
    fake: FakeDocker, tmp_path: Path
) -> None:
    fake.services.task_script = ["failed"]
    fake.services.task_count = 4  # the first task and its three restarts, all failed
    runtime = SwarmRuntime(client=fake)
    with pytest.raises(AppStartError) as failure:
        runtime.start(launch(tmp_path))
    assert failure.value.code == "APP_EXITED"
    assert "Traceback (most recent call last):" in failure.value.log_tail
    assert fake.services.live == {}  # the failed service was removed


def test_images_status_and_pull(fake: FakeDocker) -> None:
    runtime = SwarmRuntime(client=fake)
    status = runtime.image_status(["ghcr.io/example/web:1.2", "ghcr.io/example/other:2"])
    assert status == {"ghcr.io/example/web:1.2": True, "ghcr.io/example/other:2": False}
    results = runtime.pull(["ghcr.io/example/web:1.2", "registry:5000/missing"])
    assert fake.images.pulled == [
        ("ghcr.io/example/web", "1.2"),
        ("registry:5000/missing", "latest"),
    ]
    assert [r["success"] for r in results] == [True, False]


def test_route_configuration_for_traefik_file_and_etcd_providers() -> None:
    dep = "0b7a4f3e-5a6b-4c2d-9e8f-0123456789ab"
    config = dynamic_config(dep, "http://127.0.0.1:9001", "http://127.0.0.1:7777/auth", True)
    http = config["http"]
    (name,) = http["routers"]
    router = http["routers"][name]
    assert router["middlewares"] == [f"{name}-slash", f"{name}-auth", f"{name}-strip"]
    assert http["middlewares"][f"{name}-strip"] == {"stripPrefix": {"prefixes": [f"/apps/{dep}"]}}
    auth = http["middlewares"][f"{name}-auth"]["forwardAuth"]
    assert {"Authorization", "Cookie", "X-Waza-User"} <= set(auth["authResponseHeaders"])
    keys = flatten(config)
    assert keys[f"traefik/http/routers/{name}/rule"] == router["rule"]
    assert keys[f"traefik/http/routers/{name}/entryPoints/0"] == "http"
    assert keys[f"traefik/http/services/{name}/loadBalancer/servers/0/url"] == (
        "http://127.0.0.1:9001"
    )
    assert keys[f"traefik/http/middlewares/{name}-auth/forwardAuth/trustForwardHeader"] == "false"
