"""What a template's ``compose_yml`` asks for, read into typed pieces (400 on anything unclear).

A template is a docker-compose document. The swarm runtime reads its ``services`` (image,
command, environment, ports). The process runtime reads the top-level ``x-waza`` block::

    x-waza:
      process:
        kind: fastapi            # fastapi | panel | voila | command
        app: pkg.module:app      # fastapi: the ASGI app
        file: ${NOTEBOOK}        # panel: the script; voila: the notebook (env interpolated)
        command: ["{python}", "-m", "http.server", "{port}"]   # kind command
        health_path: /healthz    # optional: readiness is an HTTP answer (< 500) on this path
        port: 8501               # optional preferred port (another free one when it is taken)
        paths: [NOTEBOOK]        # env values that name server files: checked like ingestion
      strip_path_prefix: false   # true: the app sees / instead of /apps/<id>/
      required: [COLLECTION]     # env keys a deploy must give a value (else 400)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from waza.errors import BadRequest

ProcessKind = Literal["fastapi", "panel", "voila", "command"]
PROCESS_KINDS: tuple[str, ...] = ("fastapi", "panel", "voila", "command")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class ProcessSpec:
    """How the process runtime starts the app."""

    kind: ProcessKind
    app: str | None = None
    file: str | None = None
    command: list[str] = field(default_factory=list)
    health_path: str | None = None
    port: int | None = None
    paths: list[str] = field(default_factory=list)


@dataclass
class ServiceSpec:
    """One compose service (what the swarm runtime starts)."""

    name: str
    image: str | None = None
    command: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)


@dataclass
class TemplateSpec:
    services: list[ServiceSpec]
    process: ProcessSpec | None
    strip_path_prefix: bool | None = None
    required: list[str] = field(default_factory=list)

    @property
    def images(self) -> list[str]:
        return sorted({s.image for s in self.services if s.image})

    @property
    def environment(self) -> dict[str, str]:
        """Every service's environment merged (the first service wins on a clash)."""
        merged: dict[str, str] = {}
        for svc in reversed(self.services):
            merged.update(svc.environment)
        return merged


def _environment(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        items = [(str(k), "" if v is None else str(v)) for k, v in raw.items()]
    elif isinstance(raw, list):
        items = []
        for entry in raw:
            key, _, value = str(entry).partition("=")
            items.append((key, value))
    else:
        raise BadRequest(f"{where}.environment must be a mapping or a list of KEY=VALUE")
    for key, _ in items:
        if not ENV_KEY.match(key):
            raise BadRequest(f"{where}.environment: {key!r} is not a valid variable name")
    return dict(items)


def _port(raw: Any, where: str) -> int:
    if isinstance(raw, dict):
        raw = raw.get("target")
    text = str(raw).split("/")[0].rsplit(":", 1)[-1]
    try:
        port = int(text)
    except ValueError:
        raise BadRequest(f"{where}: {raw!r} is not a port") from None
    if not 0 < port < 65536:
        raise BadRequest(f"{where}: port {port} is out of range")
    return port


def _command(raw: Any, where: str) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list) and all(isinstance(a, (str, int, float)) for a in raw):
        return [str(a) for a in raw]
    raise BadRequest(f"{where} must be a string or a list of strings")


def _process(raw: Any) -> ProcessSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest("x-waza.process must be a mapping")
    kind = raw.get("kind", "command")
    if kind not in PROCESS_KINDS:
        raise BadRequest(f"x-waza.process.kind must be one of {', '.join(PROCESS_KINDS)}")
    spec = ProcessSpec(
        kind=kind,
        app=str(raw["app"]) if raw.get("app") else None,
        file=str(raw["file"]) if raw.get("file") else None,
        command=_command(raw.get("command"), "x-waza.process.command") or [],
        health_path=str(raw["health_path"]) if raw.get("health_path") else None,
        port=_port(raw["port"], "x-waza.process.port") if raw.get("port") else None,
        paths=[str(p) for p in raw.get("paths") or []],
    )
    if kind == "fastapi" and not (spec.app and ":" in spec.app):
        raise BadRequest("x-waza.process.app must be 'module:attribute' for a fastapi app")
    if kind in ("panel", "voila") and not spec.file:
        raise BadRequest(f"x-waza.process.file is required for a {kind} app")
    if kind == "command" and not spec.command:
        raise BadRequest("x-waza.process.command is required for a command app")
    return spec


def parse_template(compose_yml: str) -> TemplateSpec:
    """Read a template's compose document; raises `BadRequest` with what is wrong."""
    try:
        doc = yaml.safe_load(compose_yml or "")
    except yaml.YAMLError as exc:
        raise BadRequest(f"compose_yml is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("compose_yml must be a YAML mapping with 'services' or 'x-waza'")
    raw_services = doc.get("services") or {}
    if not isinstance(raw_services, dict):
        raise BadRequest("compose_yml 'services' must be a mapping of name to service")
    services = []
    for name, raw in raw_services.items():
        raw = raw or {}
        if not isinstance(raw, dict):
            raise BadRequest(f"service {name!r} must be a mapping")
        where = f"services.{name}"
        services.append(
            ServiceSpec(
                name=str(name),
                image=str(raw["image"]) if raw.get("image") else None,
                command=_command(raw.get("command"), f"{where}.command"),
                environment=_environment(raw.get("environment"), where),
                ports=[_port(p, f"{where}.ports") for p in raw.get("ports") or []],
            )
        )
    extension = doc.get("x-waza") or {}
    if not isinstance(extension, dict):
        raise BadRequest("x-waza must be a mapping")
    process = _process(extension.get("process"))
    if not services and process is None:
        raise BadRequest("compose_yml defines no service and no x-waza.process: nothing to run")
    required = extension.get("required") or []
    if not isinstance(required, list) or not all(
        isinstance(k, str) and ENV_KEY.match(k) for k in required
    ):
        raise BadRequest("x-waza.required must be a list of environment variable names")
    strip = extension.get("strip_path_prefix")
    return TemplateSpec(services, process, None if strip is None else bool(strip), required)
