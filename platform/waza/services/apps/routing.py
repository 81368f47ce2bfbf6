"""Traefik routes of deployed apps, in the provider the hub's Traefik reads.

Each app gets a router on ``/apps/<id>/`` (``/apps/<id>`` redirects there) with a
``forwardAuth`` middleware calling ``<API>/api/apps/auth/<id>``: Traefik asks the API before
every request, and only a 2xx lets it through. The API's answer replaces the request's
``Authorization`` and ``Cookie`` headers (so the app never sees the caller's platform
credentials) and adds ``X-Waza-User``, ``X-Waza-User-Id`` and ``X-Waza-Roles``.

Providers (``WAZA_APPS_ROUTER``): ``file`` writes one ``app-<id>.yaml`` per app into the folder
Traefik's file provider watches (`waza up` points it at ``$WAZA_HOME/hub/routes``, next to the
hub's own rules file); ``etcd`` writes the same configuration as ``traefik/http/...`` keys in
the etcd Traefik reads (`waza up` with ``WAZA_ETCD_URL``); ``none`` keeps no routes (an API
without the hub stack: apps are reached on their own ports). ``auto`` = etcd when an etcd URL
is set, else file. Both providers survive the hub's route checks (they are not the hub's keys).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

import yaml

from waza.settings import Settings

APP_ROUTE_PREFIX = "/apps/"
AUTH_RESPONSE_HEADERS = ["X-Waza-User", "X-Waza-User-Id", "X-Waza-Roles", "Authorization", "Cookie"]
ETCD_ROOT = "traefik/http/"


def app_path(deployment_id: str) -> str:
    return f"{APP_ROUTE_PREFIX}{deployment_id}/"


def route_name(deployment_id: str) -> str:
    return f"waza-app-{deployment_id.replace('-', '')}"


def dynamic_config(
    deployment_id: str, target_url: str, auth_url: str, strip_prefix: bool
) -> dict[str, Any]:
    """Traefik dynamic configuration of one app's route."""
    name = route_name(deployment_id)
    path = app_path(deployment_id)
    bare = path.rstrip("/")
    middlewares = [f"{name}-slash", f"{name}-auth"]
    config: dict[str, Any] = {
        "routers": {
            name: {
                "rule": f"Path(`{bare}`) || PathPrefix(`{path}`)",
                "entryPoints": ["http"],
                "service": name,
                "middlewares": middlewares,
                "priority": 1000,
            }
        },
        "middlewares": {
            f"{name}-slash": {
                "redirectRegex": {
                    "regex": f"^(https?://[^/]+){bare}$",
                    "replacement": f"${{1}}{path}",
                }
            },
            f"{name}-auth": {
                "forwardAuth": {
                    "address": auth_url,
                    "trustForwardHeader": False,
                    "authResponseHeaders": AUTH_RESPONSE_HEADERS,
                }
            },
        },
        "services": {
            name: {"loadBalancer": {"servers": [{"url": target_url}], "passHostHeader": True}}
        },
    }
    if strip_prefix:
        config["middlewares"][f"{name}-strip"] = {"stripPrefix": {"prefixes": [bare]}}
        middlewares.append(f"{name}-strip")
    return {"http": config}


class Router(Protocol):
    kind: str

    def add(self, deployment_id: str, config: dict[str, Any]) -> None: ...

    def remove(self, deployment_id: str) -> None: ...

    def routes(self) -> list[str]:
        """Deployment ids that have a route now."""

    def close(self) -> None: ...


class NoRouter:
    """No proxy: nothing to write."""

    kind = "none"

    def add(self, deployment_id: str, config: dict[str, Any]) -> None:
        return None

    def remove(self, deployment_id: str) -> None:
        return None

    def routes(self) -> list[str]:
        return []

    def close(self) -> None:
        return None


class FileRouter:
    """One YAML file per app in the folder Traefik's file provider watches."""

    kind = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, deployment_id: str) -> Path:
        return self.folder / f"app-{deployment_id}.yaml"

    def add(self, deployment_id: str, config: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self._path(deployment_id)
        tmp = self.folder / f".{final.name}.tmp"  # no .yaml suffix: Traefik ignores it
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        os.replace(tmp, final)

    def remove(self, deployment_id: str) -> None:
        self._path(deployment_id).unlink(missing_ok=True)

    def routes(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return [p.stem.removeprefix("app-") for p in self.folder.glob("app-*.yaml")]

    def close(self) -> None:
        return None


def flatten(config: dict[str, Any], prefix: str = "traefik/") -> dict[str, str]:
    """Traefik's KV layout: nested keys joined by ``/``, list items by their index."""
    out: dict[str, str] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}/{k}" if key else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{key}/{i}")
        else:
            out[prefix + key] = json.dumps(value) if isinstance(value, bool) else str(value)

    walk(config, "")
    return {k: v.lower() if v in ("true", "false") else v for k, v in out.items()}


class EtcdRouter:
    """The same configuration as ``traefik/http/...`` keys in etcd."""

    kind = "etcd"

    def __init__(self, etcd_url: str) -> None:
        from waza.kv.etcd import EtcdKV

        self.store = EtcdKV(etcd_url, "")

    def add(self, deployment_id: str, config: dict[str, Any]) -> None:
        self.remove(deployment_id)
        for key, value in flatten(config).items():
            self.store.put(key, value)

    def remove(self, deployment_id: str) -> None:
        name = route_name(deployment_id)
        for kind in ("routers", "services", "middlewares"):
            # the name ends at "/" or "-" (middlewares are "<name>-auth", "<name>-slash", …)
            self.store.delete_prefix(f"{ETCD_ROOT}{kind}/{name}/")
            for suffix in ("slash", "auth", "strip"):
                self.store.delete_prefix(f"{ETCD_ROOT}{kind}/{name}-{suffix}/")

    def routes(self) -> list[str]:
        keys = self.store.get_prefix(f"{ETCD_ROOT}routers/waza-app-")
        names = {k.split("/")[3] for k in keys}
        return [_uuid_from_hex(n.removeprefix("waza-app-")) for n in names]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.store.close()


def _uuid_from_hex(hex_id: str) -> str:
    h = hex_id
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if len(h) == 32 else h


def open_router(settings: Settings) -> Router:
    kind = settings.apps_router
    if kind == "auto":
        kind = "etcd" if settings.etcd_url else "file"
    if kind == "etcd":
        if not settings.etcd_url:
            raise ValueError("WAZA_APPS_ROUTER=etcd needs WAZA_ETCD_URL")
        return EtcdRouter(settings.etcd_url)
    if kind == "file":
        return FileRouter(settings.apps_routes_dir or settings.home / "hub" / "routes")
    return NoRouter()
