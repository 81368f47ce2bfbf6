"""The Ray cluster deployments run on: a local head waza starts on demand, or an existing cluster.

Embedded default (no ``ray_address``): the first deploy starts ``ray start --head --block`` as a
detached process group with the CPUs/GPUs the settings allow; its address and PID are kept in
``$WAZA_HOME/ray/head.json`` so that a restarted API re-attaches to the same head (and to the
deployments running on it). ``stop_head()`` (``waza down``) ends it. With ``ray_address`` (or
``RAY_ADDRESS``) waza joins that cluster and never stops it.

The API process is a Ray driver: it talks to Ray Serve's controller and calls deployments through
handles, so Serve's own HTTP proxy is never started (nothing of Ray is exposed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waza.gateway.logging import get_logger
from waza.settings import Settings

log = get_logger("waza.serving.ray")

NAMESPACE = "waza"
# The local head listens on loopback only and is this user's: Ray's token auth stays off (Ray
# 2.60 would turn it on whenever ~/.ray/auth_token exists). An external cluster's auth is its own.
LOCAL_AUTH_MODE = "disabled"
HEAD_START_TIMEOUT = 90.0


class RayUnavailable(RuntimeError):
    """Ray could not be started or reached."""


@dataclass
class ClusterResources:
    """Totals and what is free now, in Ray's units (CPUs, GPUs, custom resources)."""

    total: dict[str, float]
    available: dict[str, float]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


GCS_GRACE_SECONDS = 600
# set before this process first imports ray (it reads the value when it connects)
os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(GCS_GRACE_SECONDS))


class RayCluster:
    """Connects this process to Ray (starting the local head when needed) and reports resources."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._connected_to: str | None = None
        self._serve_started = False

    # --- where the cluster is ------------------------------------------------------------------
    @property
    def external_address(self) -> str:
        return self.settings.effective_ray_address

    @property
    def state_file(self) -> Path:
        return self.settings.home / "ray" / "head.json"

    @property
    def temp_dir(self) -> Path:
        """Ray's session folder: short (Unix socket paths are limited) and one per home."""
        digest = hashlib.sha1(str(self.settings.home).encode()).hexdigest()[:10]  # noqa: S324
        return Path("/tmp") / f"waza-ray-{digest}"  # noqa: S108

    def _head_record(self) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return record if _alive(int(record.get("pid", 0))) else None

    def running_address(self) -> str | None:
        """The address of a cluster that is up now, without starting one."""
        if self.external_address:
            return self.external_address
        record = self._head_record()
        return str(record["address"]) if record else None

    @property
    def connected_to(self) -> str | None:
        """The address this process joined, if any."""
        return self._connected_to

    def reachable(self, address: str | None = None, timeout: float = 1.0) -> bool:
        """Whether the cluster's GCS accepts a TCP connection (no Ray call, never hangs)."""
        address = address or self._connected_to or self.running_address()
        if not address:
            return False
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not port.isdigit():  # e.g. "auto": nothing to probe, assume it answers
            return True
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return True
        except OSError:
            return False

    # --- lifecycle -----------------------------------------------------------------------------
    def _start_head(self) -> str:
        port = _free_port()
        cpus = self.settings.ray_num_cpus
        cpus = float(os.cpu_count() or 1) if cpus is None else cpus
        cmd = [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--num-cpus={int(cpus) if float(cpus).is_integer() else cpus}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]
        if self.settings.ray_num_gpus is not None:
            cmd.append(f"--num-gpus={self.settings.ray_num_gpus:g}")
        log_dir = self.settings.home / "ray"
        log_dir.mkdir(parents=True, exist_ok=True)
        stale = self.temp_dir / "ray_current_cluster"
        stale.unlink(missing_ok=True)
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        env.pop("RAY_ADDRESS", None)
        env.setdefault("RAY_AUTH_MODE", LOCAL_AUTH_MODE)
        with open(log_dir / "head.log", "ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        address = f"127.0.0.1:{port}"
        record = {"pid": proc.pid, "address": address, "started_at": time.time()}
        self.state_file.write_text(json.dumps(record))
        log.info("started a local Ray head", address=address, pid=proc.pid, cpus=cpus)
        return address

    def _init(self, address: str, deadline: float) -> None:
        import ray

        if not self.external_address:
            os.environ.setdefault("RAY_AUTH_MODE", LOCAL_AUTH_MODE)
        # Ray ends a driver whose GCS stays away this long (default 60 s), which would take the
        # API down with the head: give the serving watcher time to notice and let go first.
        os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(GCS_GRACE_SECONDS))

        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                ray.init(
                    address=address,
                    namespace=NAMESPACE,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    ignore_reinit_error=True,
                )
                return
            except Exception as exc:  # the head is still coming up
                last = exc
                time.sleep(0.5)
        raise RayUnavailable(f"Ray at {address} did not answer: {last}")

    def connect(self, start: bool = True) -> bool:
        """Join the cluster (starting the local head when `start`); False when none is up."""
        import ray

        from waza.services.serving.pickling import make_registry_thread_safe

        make_registry_thread_safe()  # before any Serve config is built in this process
        with self._lock:
            if self._connected_to and ray.is_initialized():
                return True
            address = self.running_address()
            if address is None:
                if not start:
                    return False
                address = self._start_head()
            self._init(address, time.monotonic() + HEAD_START_TIMEOUT)
            self._connected_to = address
            self._serve_started = False
            return True

    def ensure_serve(self) -> None:
        """Connect (starting what is needed) and make sure Serve's controller runs, proxy off."""
        from ray import serve

        self.connect(start=True)
        with self._lock:
            if not self._serve_started:
                serve.start(proxy_location="Disabled")
                self._serve_started = True

    def disconnect(self) -> None:
        import ray

        with self._lock:
            if ray.is_initialized():
                ray.shutdown()
            self._connected_to = None
            self._serve_started = False

    def stop_head(self, timeout: float = 15.0) -> bool:
        """End the local head this home started (not an external cluster); True if one ran."""
        self.disconnect()
        record = self._head_record()
        self.state_file.unlink(missing_ok=True)
        if record is None:
            return False
        pid = int(record["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        log.info("stopped the local Ray head", pid=pid)
        return True

    # --- what it has ---------------------------------------------------------------------------
    def planned_resources(self) -> ClusterResources | None:
        """Resources of the local head before it is started (from the settings)."""
        if self.external_address or self.running_address():
            return None
        cpus = self.settings.ray_num_cpus
        cpus = float(os.cpu_count() or 1) if cpus is None else cpus
        gpus = self.settings.ray_num_gpus
        if gpus is None:
            gpus = float(_count_local_gpus())
        total = {"CPU": cpus, "GPU": gpus}
        return ClusterResources(total=total, available=dict(total))

    def resources(self) -> ClusterResources:
        import ray

        self.connect(start=True)
        return ClusterResources(
            total=dict(ray.cluster_resources()), available=dict(ray.available_resources())
        )

    def nodes(self) -> list[dict[str, Any]]:
        import ray

        if not self.connect(start=False):
            return []
        return [n for n in ray.nodes() if n.get("Alive")]


def _count_local_gpus() -> int:
    """NVIDIA GPUs visible here (what Ray would detect), without importing torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    try:
        return len(list(Path("/proc/driver/nvidia/gpus").iterdir()))
    except OSError:
        return 0
