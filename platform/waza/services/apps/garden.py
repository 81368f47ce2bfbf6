"""The garden catalog: the apps shipped with waza, plus an optional remote catalog.

The built-in catalog is ``templates/catalog.yaml``. A remote catalog (``WAZA_APPS_GARDEN_URL``)
is a URL answering a JSON (or YAML) list of garden apps; it is fetched with a short timeout and
cached for ten minutes. Offline, the remote status says so (``cache_status: "offline"`` with
the error) and the built-in apps stay available.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from waza.gateway.logging import get_logger
from waza.settings import Settings

log = get_logger("waza.apps.garden")

CATALOG = Path(__file__).parent / "templates" / "catalog.yaml"
REMOTE_TTL = 600.0
REMOTE_RETRY = 60.0  # an unreachable catalog is tried again after this long (or on a refresh)
REMOTE_TIMEOUT = 5.0
REQUIRED = ("name", "version", "description", "compose_yml")


def builtin_apps() -> list[dict[str, Any]]:
    """The garden apps shipped with waza."""
    apps: list[dict[str, Any]] = yaml.safe_load(CATALOG.read_text())
    return [{**a, "source": "builtin"} for a in apps]


def _valid(entry: Any) -> bool:
    return isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in REQUIRED)


class Garden:
    """Built-in and remote garden apps, with the remote catalog's state."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.apps_garden_url.strip()
        self._lock = threading.Lock()
        self._remote: list[dict[str, Any]] = []
        self._fetched_at: float | None = None
        self._error: str | None = None
        self._attempted_at: float | None = None

    def _fetch(self) -> None:
        self._attempted_at = time.time()
        try:
            reply = httpx.get(self.url, timeout=REMOTE_TIMEOUT, follow_redirects=True)
            reply.raise_for_status()
            data = yaml.safe_load(reply.text)  # JSON is YAML
            items = data.get("apps", data) if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise ValueError("the catalog is not a list of apps")
            self._remote = [{**a, "source": "remote"} for a in items if _valid(a)]
            skipped = len(items) - len(self._remote)
            self._error = (
                f"{skipped} entries lack name/version/description/compose_yml" if skipped else None
            )
            self._fetched_at = time.time()
        except (httpx.HTTPError, ValueError, yaml.YAMLError) as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            log.warning("remote garden catalog unreachable", url=self.url, error=self._error)

    def remote_apps(self, force_refresh: bool = False) -> list[dict[str, Any]]:
        if not self.url:
            return []
        with self._lock:
            now = time.time()
            stale = self._fetched_at is None or now - self._fetched_at > REMOTE_TTL
            retry = self._attempted_at is None or now - self._attempted_at > REMOTE_RETRY
            if force_refresh or (stale and retry):
                self._fetch()
            return list(self._remote)

    def apps(self, force_refresh: bool = False) -> list[dict[str, Any]]:
        """Built-in apps, then remote ones (a remote app with a built-in's name and version is
        left out)."""
        builtin = builtin_apps()
        seen = {(a["name"], str(a["version"])) for a in builtin}
        remote = [
            a for a in self.remote_apps(force_refresh) if (a["name"], str(a["version"])) not in seen
        ]
        return builtin + remote

    def remote_status(self) -> dict[str, Any]:
        """``cache_status``: ``builtin-only`` (no URL), ``fresh``, ``stale`` or ``offline``."""
        if not self.url:
            return {
                "cache_status": "builtin-only",
                "remote_url": None,
                "message": "No remote catalog configured (WAZA_APPS_GARDEN_URL); the built-in "
                "apps are available.",
                "remote_apps": 0,
            }
        self.remote_apps()
        with self._lock:
            if self._fetched_at is None:
                status = "offline"
            elif self._error and time.time() - self._fetched_at > REMOTE_TTL:
                status = "stale"
            else:
                status = "fresh"
            at = self._fetched_at
            fetched = datetime.fromtimestamp(at, UTC).isoformat() if at else None
            message = (
                f"The remote catalog {self.url} is unreachable: {self._error}. The built-in apps "
                "are available."
                if status == "offline"
                else None
            )
            return {
                "cache_status": status,
                "remote_url": self.url,
                "last_fetched": fetched,
                "error": self._error,
                "message": message,
                "remote_apps": len(self._remote),
            }
