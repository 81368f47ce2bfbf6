"""The running stack's record: ``$WAZA_HOME/run/stack.json`` (mode 0600, it holds secrets).

`waza up` writes it once the hub is started and removes it on a clean stop; `waza down` and
`waza status` read it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass
class StackState:
    pid: int  # the `waza up` process
    hub_pid: int
    url: str
    public_port: int
    hub_port: int
    api_port: int
    traefik_api_port: int
    traefik_api_password: str
    stack_token: str
    proxy: str  # "file" | "etcd"
    etcd_url: str
    log_path: str
    started_at: float
    ready_seconds: float | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def traefik_api_url(self) -> str:
        return f"http://127.0.0.1:{self.traefik_api_port}"


def state_path(home: Path) -> Path:
    return home / "run" / "stack.json"


def save(home: Path, state: StackState) -> Path:
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(state), fh, indent=2)
    tmp.replace(path)
    return path


def load(home: Path) -> StackState | None:
    path = state_path(home)
    try:
        return StackState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove(home: Path) -> None:
    state_path(home).unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (zombies count as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False
