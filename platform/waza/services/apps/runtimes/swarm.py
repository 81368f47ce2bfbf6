"""The swarm runtime: each app is a Docker Swarm service, through the Docker SDK (``docker``).

**Untested against a real engine**: no Docker engine runs on the machines waza is developed
on, so this module is written against the Docker SDK's documented API and its tests use a fake
client with the same methods (`tests/unit/test_apps_swarm.py`). See docs/deployment.md.

A deployment becomes the service ``waza-app-<install>-<id>`` (one replica, restarted on
failure up to three times) running the first compose service that names an image, with the
app's environment and its first port. Traefik reaches it by the service's name on
``WAZA_APPS_SWARM_NETWORK`` (an overlay network Traefik is attached to), or else on the port
Swarm publishes on every node (routing mesh), at the engine's host.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any
from urllib.parse import urlsplit

from waza.services.apps.runtimes.base import AppStartError, Launch, Observed, Started

DEFAULT_PORT = 8000
FAILED_TASK_STATES = ("failed", "rejected", "complete", "shutdown", "orphaned")


class SwarmRuntime:
    name = "swarm"

    def __init__(self, docker_url: str = "", network: str = "", client: Any = None) -> None:
        self.docker_url = docker_url
        self.network = network
        self._client = client
        parts = urlsplit(docker_url) if "://" in docker_url else None
        remote = parts.hostname if parts and parts.scheme in ("tcp", "http", "https") else None
        self.host: str = remote or "127.0.0.1"

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker

            url = self.docker_url
            self._client = docker.DockerClient(base_url=url) if url else docker.from_env()
        return self._client

    def _errors(self) -> tuple[type[BaseException], ...]:
        try:
            import docker.errors

            return (docker.errors.NotFound,)
        except ImportError:  # the fake client's own NotFound subclasses LookupError
            return (LookupError,)

    def _service(self, name: str) -> Any | None:
        try:
            return self.client.services.get(name)
        except self._errors():
            return None

    def start(self, launch: Launch) -> Started:
        from docker.types import EndpointSpec, RestartPolicy, ServiceMode

        svc = next((s for s in launch.services if s.image), None)
        if svc is None or svc.image is None:
            raise AppStartError("NO_IMAGE", "the template names no image for the swarm runtime")
        port = svc.ports[0] if svc.ports else DEFAULT_PORT
        env = {**launch.env, "PORT": str(port)}
        self.stop(launch.name)
        kwargs: dict[str, Any] = {
            "name": launch.name,
            "env": [f"{k}={v}" for k, v in env.items()],
            "labels": {"waza.app": launch.deployment_id, "waza.managed": "true"},
            "mode": ServiceMode("replicated", replicas=1),
            "restart_policy": RestartPolicy(condition="on-failure", max_attempts=3),
        }
        if self.network:
            kwargs["networks"] = [self.network]
        else:
            kwargs["endpoint_spec"] = EndpointSpec(ports=[{"Protocol": "tcp", "TargetPort": port}])
        try:
            service = self.client.services.create(svc.image, command=svc.command, **kwargs)
        except Exception as exc:
            raise AppStartError("SWARM_ERROR", f"Docker refused the service: {exc}") from None
        self._wait_running(service, launch)
        if self.network:
            target = f"http://{launch.name}:{port}"
            return Started(host=launch.name, port=port, container_id=service.id, target_url=target)
        published = self._published_port(service, port)
        return Started(host=self.host, port=published, container_id=service.id)

    def _wait_running(self, service: Any, launch: Launch) -> None:
        deadline = time.monotonic() + launch.start_timeout
        while time.monotonic() < deadline:
            tasks = service.tasks()
            states = [t.get("Status", {}).get("State", "") for t in tasks]
            if "running" in states:
                return
            if states and all(s in FAILED_TASK_STATES for s in states) and len(states) >= 3:
                lines = self.logs(launch.name, 40)
                self.stop(launch.name)
                raise AppStartError("APP_EXITED", "every task of the service failed", lines)
            time.sleep(1.0)
        lines = self.logs(launch.name, 40)
        self.stop(launch.name)
        raise AppStartError(
            "STARTUP_TIMEOUT", f"no task running after {launch.start_timeout:.0f} s", lines
        )

    def _published_port(self, service: Any, target: int) -> int:
        for _ in range(20):
            with contextlib.suppress(Exception):
                service.reload()
            for entry in service.attrs.get("Endpoint", {}).get("Ports", []) or []:
                if entry.get("TargetPort") == target and entry.get("PublishedPort"):
                    return int(entry["PublishedPort"])
            time.sleep(0.5)
        raise AppStartError("SWARM_ERROR", "Swarm published no port for the service")

    def observe(self, name: str) -> Observed:
        service = self._service(name)
        if service is None:
            return Observed("missing", detail="the Swarm service is gone")
        tasks = sorted(service.tasks(), key=lambda t: t.get("CreatedAt", ""), reverse=True)
        if not tasks:
            return Observed("running", detail="no task yet")
        status = tasks[0].get("Status", {})
        if status.get("State") in FAILED_TASK_STATES:
            code = status.get("ContainerStatus", {}).get("ExitCode")
            return Observed("exited", code, status.get("Err", ""))
        return Observed("running")

    def logs(self, name: str, lines: int = 200) -> list[str]:
        service = self._service(name)
        if service is None:
            return []
        try:
            chunks = service.logs(stdout=True, stderr=True, tail=lines)
            return b"".join(chunks).decode(errors="replace").splitlines()[-lines:]
        except Exception:
            return []

    def stop(self, name: str) -> bool:
        service = self._service(name)
        if service is None:
            return False
        with contextlib.suppress(*self._errors()):
            service.remove()
        return True

    def image_status(self, images: list[str]) -> dict[str, bool]:
        status: dict[str, bool] = {}
        for image in images:
            try:
                self.client.images.get(image)
                status[image] = True
            except Exception:
                status[image] = False
        return status

    def pull(self, images: list[str]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for image in images:
            repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
            try:
                self.client.images.pull(repo, tag=tag or "latest")
                results.append({"image": image, "success": True})
            except Exception as exc:
                results.append({"image": image, "success": False, "error": str(exc)})
        return results

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
