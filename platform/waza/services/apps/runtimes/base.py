"""The interface every app runtime implements, and the values passed across it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from waza.services.apps.spec import ProcessSpec, ServiceSpec


class AppStartError(RuntimeError):
    """The app did not come up: a code (APP_EXITED, PORT_IN_USE, STARTUP_TIMEOUT, …) and why."""

    def __init__(self, code: str, message: str, log_tail: list[str] | None = None) -> None:
        super().__init__(code, message, log_tail)  # all args: the error crosses Ray (pickle)
        self.code = code
        self.message = message
        self.log_tail = log_tail or []

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


@dataclass
class Launch:
    """Everything a runtime needs to start one app."""

    deployment_id: str
    name: str  # unique runtime name: Ray actor, Swarm service
    env: dict[str, str]  # the whole environment, secrets included (never stored)
    app_path: str  # /apps/<id>/
    public_origin: str  # scheme://host[:port] of the platform (websocket origin checks)
    workdir: Path
    log_path: Path
    start_timeout: float
    process: ProcessSpec | None = None
    services: list[ServiceSpec] = field(default_factory=list)
    strip_path_prefix: bool = False


@dataclass
class Started:
    """Where a started app listens."""

    host: str
    port: int
    node_id: str | None = None
    container_id: str | None = None
    log_path: str | None = None
    target_url: str = ""

    def __post_init__(self) -> None:
        if not self.target_url:
            self.target_url = f"http://{self.host}:{self.port}"


@dataclass
class Observed:
    """What a runtime sees of an app now."""

    state: Literal["running", "exited", "missing"]
    returncode: int | None = None
    detail: str = ""


class Runtime(Protocol):
    name: str

    def start(self, launch: Launch) -> Started:
        """Start and wait until ready; raises `AppStartError`."""

    def observe(self, name: str) -> Observed: ...

    def logs(self, name: str, lines: int = 200) -> list[str]: ...

    def stop(self, name: str) -> bool:
        """End the app; True when something was running. Safe to call again."""

    def image_status(self, images: list[str]) -> dict[str, bool]: ...

    def pull(self, images: list[str]) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...
