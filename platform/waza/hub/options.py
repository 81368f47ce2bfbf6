"""The stack's ports, URLs and hub settings, read from ``WAZA_*`` environment variables.

`waza up` passes them to the hub process in the environment, choosing a free loopback port for
each internal port not set explicitly; `jupyterhub -f hub_config/jupyterhub_config.py` run by
hand gets the fixed defaults below.

| variable | default | meaning |
|---|---|---|
| ``WAZA_PUBLIC_HOST``, ``WAZA_PUBLIC_PORT`` | ``127.0.0.1``, ``8000`` | where Traefik listens |
| ``WAZA_PUBLIC_URL`` | ``http://PUBLIC_HOST:PUBLIC_PORT`` | the URL people and SDKs use |
| ``WAZA_HUB_PORT`` | ``8081`` | the hub's own API (loopback) |
| ``WAZA_TRAEFIK_API_PORT`` | ``8099`` | Traefik's API entrypoint (loopback, basic auth) |
| ``WAZA_TRAEFIK_API_PASSWORD`` | generated per start | its password |
| ``WAZA_PORT`` | ``7777`` | the platform API process (loopback) |
| ``WAZA_ADMIN_PORT`` | ``7778`` | the admin dashboard service (Panel, loopback) |
| ``WAZA_HUB_DB_URL`` | SQLite in ``$WAZA_HOME/hub`` | JupyterHub's own database |
| ``WAZA_HUB_IDLE_TIMEOUT`` | ``3600`` | seconds before an idle server is stopped (0: never) |
| ``WAZA_HUB_CULL_EVERY`` | ``300`` | how often the culler looks |
| ``WAZA_HUB_STACK_TOKEN`` | — | token of the ``waza-stack`` service (`waza status`) |
| ``WAZA_ETCD_URL`` | — | Traefik reads its routes from this etcd instead of a file |
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from waza.settings import Settings

API_SERVICE = "waza"
ADMIN_SERVICE = "waza-admin"
STACK_SERVICE = "waza-stack"
CULLER_SERVICE = "idle-culler"


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass(frozen=True)
class HubOptions:
    """Everything the hub config needs besides the platform settings."""

    home: Path
    public_host: str = "127.0.0.1"
    public_port: int = 8000
    public_url: str = ""
    hub_port: int = 8081
    traefik_api_port: int = 8099
    traefik_api_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    api_port: int = 7777
    admin_port: int = 7778
    etcd_url: str = ""
    hub_db_url: str = ""
    idle_timeout: int = 3600
    cull_every: int = 300
    spawn_timeout: int = 120
    stack_token: str = ""

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> HubOptions:
        settings = settings or Settings()
        host = os.environ.get("WAZA_PUBLIC_HOST", "127.0.0.1")
        port = _int("WAZA_PUBLIC_PORT", 8000)
        return cls(
            home=settings.home,
            public_host=host,
            public_port=port,
            public_url=settings.public_url,
            hub_port=_int("WAZA_HUB_PORT", 8081),
            traefik_api_port=_int("WAZA_TRAEFIK_API_PORT", 8099),
            traefik_api_password=os.environ.get("WAZA_TRAEFIK_API_PASSWORD")
            or secrets.token_urlsafe(24),
            api_port=settings.port,
            admin_port=_int("WAZA_ADMIN_PORT", 7778),
            etcd_url=settings.etcd_url,
            hub_db_url=os.environ.get("WAZA_HUB_DB_URL", ""),
            idle_timeout=_int("WAZA_HUB_IDLE_TIMEOUT", 3600),
            cull_every=_int("WAZA_HUB_CULL_EVERY", 300),
            spawn_timeout=_int("WAZA_HUB_SPAWN_TIMEOUT", 120),
            stack_token=os.environ.get("WAZA_HUB_STACK_TOKEN", ""),
        )

    # ---- derived ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The public URL (Traefik), without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.public_host in {"0.0.0.0", "::", ""} else self.public_host  # noqa: S104
        return f"http://{host}:{self.public_port}"

    @property
    def bind_url(self) -> str:
        return f"http://{self.public_host}:{self.public_port}"

    @property
    def api_url(self) -> str:
        """The platform API process, straight (loopback, no proxy)."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def admin_url(self) -> str:
        """The admin dashboard service (Panel), straight (loopback, no proxy)."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def traefik_api_url(self) -> str:
        return f"http://127.0.0.1:{self.traefik_api_port}"

    @property
    def runtime_dir(self) -> Path:
        """Hub database, cookie secret, Traefik files, config for single-user servers."""
        return self.home / "hub"

    @property
    def users_dir(self) -> Path:
        return self.home / "users"

    @property
    def proxy_flavour(self) -> str:
        return "etcd" if self.etcd_url else "file"

    def env(self) -> dict[str, str]:
        """These options as the environment variables `from_env` reads back."""
        values = {
            "WAZA_HOME": str(self.home),
            "WAZA_PUBLIC_HOST": self.public_host,
            "WAZA_PUBLIC_PORT": str(self.public_port),
            "WAZA_HUB_PORT": str(self.hub_port),
            "WAZA_TRAEFIK_API_PORT": str(self.traefik_api_port),
            "WAZA_TRAEFIK_API_PASSWORD": self.traefik_api_password,
            "WAZA_PORT": str(self.api_port),
            "WAZA_ADMIN_PORT": str(self.admin_port),
            "WAZA_HUB_IDLE_TIMEOUT": str(self.idle_timeout),
            "WAZA_HUB_CULL_EVERY": str(self.cull_every),
            "WAZA_HUB_SPAWN_TIMEOUT": str(self.spawn_timeout),
            "WAZA_HUB_STACK_TOKEN": self.stack_token,
        }
        if self.public_url:
            values["WAZA_PUBLIC_URL"] = self.public_url
        if self.etcd_url:
            values["WAZA_ETCD_URL"] = self.etcd_url
        if self.hub_db_url:
            values["WAZA_HUB_DB_URL"] = self.hub_db_url
        return values
