"""The process runtime: each app is a Python web app (FastAPI, Panel, Voila or any command)
running as a supervised process on a free port.

`ProcessSupervisor` starts one app and watches it: it picks the port (the template's preferred
one when it is free, else any free one), writes the app's output to its log file (in the logger
service's ``app_garden`` folder), waits until the port answers (and the health path, when the
template names one), retries with a new port when the app dies with "address already in use",
and ends the whole process group on stop.

Placement (``WAZA_APPS_PLACEMENT``):

- ``ray`` (default): the supervisor runs as a **detached Ray actor** (``num_cpus=0``, named
  ``waza-app-<install>-<id>``), so an app can land on any node of the cluster, outlives an API
  restart (the API finds the actor again by name), and dies with its node. The app process
  gets ``PR_SET_PDEATHSIG``, so killing the actor kills the app. The app binds the node's IP.
- ``local``: the supervisor lives in the API process (no Ray needed; used by the fast tests
  and handy on a laptop). Apps bind loopback; the API ends them when it stops and starts them
  again at its next start-up.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from waza.services.apps.logs import detect, tail_file
from waza.services.apps.runtimes.base import AppStartError, Launch, Observed, Started
from waza.services.apps.spec import ProcessSpec
from waza.services.apps.variables import interpolate

PR_SET_PDEATHSIG = 1
PORT_ATTEMPTS = 3
ACTOR_NAMESPACE = "waza"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def build_argv(process: ProcessSpec, launch: Launch) -> list[str]:
    """The app's command line; ``{port}`` and ``{host}`` stay for the supervisor to fill."""
    env = launch.env
    prefix = launch.app_path.rstrip("/")
    python = sys.executable
    if process.kind == "fastapi":
        argv = [python, "-m", "uvicorn", str(process.app), "--host", "{host}", "--port", "{port}",
                "--proxy-headers", "--forwarded-allow-ips", "*"]  # fmt: skip
        if launch.strip_path_prefix:  # uvicorn puts the prefix back for URL building
            argv += ["--root-path", prefix]
        return argv
    if process.kind == "panel":
        origin = launch.public_origin.split("://", 1)[-1]
        return [python, "-m", "panel", "serve", interpolate(str(process.file), env),
                "--address", "{host}", "--port", "{port}", "--prefix", prefix,
                "--allow-websocket-origin", origin, "--num-procs", "1"]  # fmt: skip
    if process.kind == "voila":
        return [python, "-m", "voila", interpolate(str(process.file), env), "--no-browser",
                "--port={port}", "--Voila.ip={host}", f"--base_url={prefix}/"]  # fmt: skip
    return [
        interpolate(a, env).replace("{python}", python).replace("{app_path}", launch.app_path)
        for a in process.command
    ]


def _die_with_parent() -> None:
    """preexec: the app gets SIGTERM when the supervising process (the Ray actor) dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class ProcessSupervisor:
    """Starts one app process and watches it (also the body of the Ray actor)."""

    def __init__(
        self, name: str, workdir: str, log_path: str, die_with_parent: bool = False
    ) -> None:
        self.name = name
        self.workdir = Path(workdir)
        self._log_path = Path(log_path)
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.stopped = False

    @property
    def log_path(self) -> Path:
        return self._log_path

    def _note(self, text: str) -> None:
        with self.log_path.open("a") as log:
            log.write(f"[waza] {time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def start(
        self,
        argv: list[str],
        env: dict[str, str],
        host: str,
        preferred_port: int | None,
        health_url_path: str | None,
        timeout: float,
    ) -> dict[str, Any]:
        """Start the app and wait until it answers; raises `AppStartError`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.host = host
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = self._choose_port(host, preferred_port if attempt == 1 else None)
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._note(f"start attempt {attempt}: {host}:{port}")
            self._spawn([a.replace("{port}", str(port)).replace("{host}", host) for a in argv],
                        {**env, "PORT": str(port)})  # fmt: skip
            self.port = port
            outcome = self._wait_ready(health_url_path, time.monotonic() + timeout)
            if outcome == "ready":
                self._note(f"ready on {host}:{port} (pid {self.proc.pid if self.proc else '?'})")
                return self.info()
            lines = self.tail(400, since=offset)
            if outcome == "timeout":
                self.stop()
                raise AppStartError(
                    "STARTUP_TIMEOUT",
                    f"the app did not answer on port {port} within {timeout:.0f} s",
                    lines[-40:],
                )
            code = self.proc.returncode if self.proc else None
            taken = detect(lines)["port_in_use"]
            if taken and attempt < PORT_ATTEMPTS:
                self._note(f"port {port} was taken (address already in use): trying another")
                continue
            error = "PORT_IN_USE" if taken else "APP_EXITED"
            raise AppStartError(
                error, f"the app exited with code {code} before it answered", lines[-40:]
            )
        raise AssertionError("unreachable")

    def _choose_port(self, host: str, preferred: int | None) -> int:
        if preferred:
            if port_is_free(host, preferred):
                return preferred
            self._note(f"preferred port {preferred} is in use: choosing a free one")
        return free_port(host)

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )

    def _wait_ready(self, health_url_path: str | None, deadline: float) -> str:
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return "exited"
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    pass
                if not health_url_path:
                    return "ready"
                url = f"http://{self.host}:{self.port}{health_url_path}"
                if httpx.get(url, timeout=2.0).status_code < 500:
                    return "ready"
            except (OSError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        return "timeout"

    def poll(self) -> dict[str, Any]:
        """``{"state": running|exited, "returncode": …}``."""
        if self.proc is None:
            return {"state": "missing", "returncode": None}
        code = self.proc.poll()
        return {"state": "running" if code is None else "exited", "returncode": code}

    def info(self) -> dict[str, Any]:
        node_id = None
        if self.die_with_parent:  # inside a Ray actor
            with contextlib.suppress(Exception):
                import ray

                node_id = ray.get_runtime_context().get_node_id()
        return {
            "host": self.host,
            "port": self.port,
            "pid": self.proc.pid if self.proc else None,
            "node_id": node_id,
            "log_path": str(self.log_path),
            "hostname": socket.gethostname(),
        }

    def tail(self, lines: int = 200, since: int = 0) -> list[str]:
        return tail_file(self.log_path, lines, since)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM to the app's process group, SIGKILL after ``timeout``; True if it ran."""
        proc = self.proc
        self.stopped = True
        if proc is None or proc.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        self._note(f"stopped (exit code {proc.returncode})")
        return True


def _health_path(launch: Launch) -> str | None:
    process = launch.process
    if process is None or not process.health_path:
        return None
    base = "" if launch.strip_path_prefix else launch.app_path.rstrip("/")
    return base + "/" + process.health_path.lstrip("/")


class ProcessRuntime:
    """The process runtime with supervisors in this process (``local``) or Ray actors."""

    name = "process"

    def __init__(self, placement: str, connect_ray: Callable[[bool], bool] | None = None) -> None:
        self.placement = placement
        self._connect_ray = connect_ray
        self._local: dict[str, ProcessSupervisor] = {}
        self._lock = threading.Lock()

    # --- placement helpers ---------------------------------------------------------------------
    def _ray_up(self, start: bool) -> bool:
        """Join the cluster (starting it only when ``start``); False when none is up."""
        return True if self._connect_ray is None else self._connect_ray(start)

    def _actor(self, name: str) -> Any:
        """The app's actor, or None; never starts a cluster just to look for one."""
        import ray

        if not self._ray_up(start=False):
            return None
        try:
            return ray.get_actor(name, namespace=ACTOR_NAMESPACE)
        except ValueError:
            return None

    def start(self, launch: Launch) -> Started:
        if launch.process is None:
            raise AppStartError("NO_PROCESS", "the template has no x-waza.process entry")
        argv = build_argv(launch.process, launch)
        health = _health_path(launch)
        if self.placement == "local":
            info = self._start_local(launch, argv, health)
        else:
            info = self._start_ray(launch, argv, health)
        return Started(
            host=str(info["host"]),
            port=int(info["port"]),
            node_id=info.get("node_id"),
            container_id=f"pid:{info['pid']}" if info.get("pid") else None,
            log_path=info.get("log_path"),
        )

    def _start_local(self, launch: Launch, argv: list[str], health: str | None) -> dict[str, Any]:
        self.stop(launch.name)
        sup = ProcessSupervisor(launch.name, str(launch.workdir), str(launch.log_path))
        with self._lock:
            self._local[launch.name] = sup
        preferred = launch.process.port if launch.process else None
        return sup.start(argv, launch.env, "127.0.0.1", preferred, health, launch.start_timeout)

    def _start_ray(self, launch: Launch, argv: list[str], health: str | None) -> dict[str, Any]:
        import ray

        self._ray_up(start=True)
        self.stop(launch.name)
        actor_cls: Any = ray.remote(RaySupervisor)
        actor: Any = actor_cls.options(
            name=launch.name,
            namespace=ACTOR_NAMESPACE,
            lifetime="detached",
            num_cpus=0,
            max_restarts=0,
        ).remote(launch.name, str(launch.workdir), str(launch.log_path), True)
        preferred = launch.process.port if launch.process else None
        try:
            host = ray.get(actor.node_ip.remote(), timeout=60)
            info: dict[str, Any] = ray.get(
                actor.start.remote(argv, launch.env, host, preferred, health, launch.start_timeout),
                timeout=launch.start_timeout * PORT_ATTEMPTS + 30,
            )
            return info
        except ray.exceptions.RayTaskError as exc:
            ray.kill(actor, no_restart=True)
            cause = exc.cause if isinstance(getattr(exc, "cause", None), AppStartError) else None
            if cause is not None:
                raise AppStartError(cause.code, cause.message, cause.log_tail) from None
            raise AppStartError("APP_START_FAILED", str(exc).splitlines()[-1]) from None
        except Exception as exc:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
            raise AppStartError("APP_START_FAILED", f"Ray could not start the app: {exc}") from None

    def observe(self, name: str) -> Observed:
        state: dict[str, Any]
        if self.placement == "local":
            sup = self._local.get(name)
            state = sup.poll() if sup else {"state": "missing", "returncode": None}
        else:
            import ray

            actor = self._actor(name)
            if actor is None:
                return Observed("missing", detail="its Ray actor is gone (node lost or killed)")
            try:
                state = ray.get(actor.poll.remote(), timeout=15)
            except Exception as exc:
                return Observed("missing", detail=f"its Ray actor does not answer: {exc}")
        return Observed(state["state"], state.get("returncode"))

    def logs(self, name: str, lines: int = 200) -> list[str]:
        if self.placement == "local":
            sup = self._local.get(name)
            return sup.tail(lines) if sup else []
        import ray

        actor = self._actor(name)
        if actor is None:
            return []
        try:
            result: list[str] = ray.get(actor.tail.remote(lines), timeout=15)
            return result
        except Exception:
            return []

    def stop(self, name: str) -> bool:
        if self.placement == "local":
            with self._lock:
                sup = self._local.pop(name, None)
            return sup.stop() if sup else False
        import ray

        actor = self._actor(name)
        if actor is None:
            return False
        ran = False
        with contextlib.suppress(Exception):
            ran = bool(ray.get(actor.stop.remote(), timeout=30))
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)
        return ran

    def image_status(self, images: list[str]) -> dict[str, bool]:
        return {}

    def pull(self, images: list[str]) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        """Local apps end with the API (started again at the next start-up); actors stay."""
        with self._lock:
            local = list(self._local.values())
            self._local.clear()
        for sup in local:
            with contextlib.suppress(Exception):
                sup.stop()


class RaySupervisor(ProcessSupervisor):
    """The Ray actor body: a supervisor that also reports its node's IP."""

    def node_ip(self) -> str:
        import ray

        return str(ray.util.get_node_ip_address())
