"""What every part of the apps service shares: the database, the settings, the auth and serving
services, the runtime apps run on, the route provider, and the names and addresses of apps."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waza.db import Database
from waza.gateway.logging import get_logger
from waza.services.apps.models import ACTIVE_STATUSES, AppDeployment
from waza.services.apps.routing import NoRouter, Router, open_router
from waza.services.apps.runtimes.base import Runtime
from waza.services.apps.runtimes.process import ProcessRuntime
from waza.settings import Settings

if TYPE_CHECKING:
    from waza.services.auth.service import AuthService
    from waza.services.serving.service import ServingService

log = get_logger("waza.apps")

LOG_TYPE = "app_garden"  # the logger service's deployment type of app logs


class AppsInfra:
    """The shared plumbing of `AppsService`'s parts (one per API process)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        auth: AuthService,
        serving: ServingService,
        runtime: Runtime | None = None,
        router: Router | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.auth = auth
        self.serving = serving
        self.runtime: Runtime = runtime or self._make_runtime()
        self._router = router
        digest = hashlib.sha1(settings.effective_database_url.encode()).hexdigest()[:8]  # noqa: S324
        self.install = digest
        self._log_source: Any = None

    def _make_runtime(self) -> Runtime:
        if self.settings.apps_runtime == "swarm":
            from waza.services.apps.runtimes.swarm import SwarmRuntime

            return SwarmRuntime(self.settings.apps_docker_url, self.settings.apps_swarm_network)
        cluster = self.serving.cluster
        return ProcessRuntime(
            self.settings.apps_placement, connect_ray=lambda start: cluster.connect(start=start)
        )

    @property
    def router(self) -> Router:
        if self._router is None:
            try:
                self._router = open_router(self.settings)
            except Exception as exc:  # e.g. etcd down: apps still run, without routes
                log.warning("app routes unavailable", error=str(exc))
                return NoRouter()
        return self._router

    def close(self) -> None:
        """Close the runtime and the route provider (when one was opened)."""
        with contextlib.suppress(Exception):
            self.runtime.close()
        if self._router is not None:
            self._router.close()

    def attach_logger(self, logger: Any) -> None:
        """Serve app logs through the logger service (type ``app_garden``): each app writes
        its output to ``<logs>/app_garden/<id>.log`` there."""
        from waza.services.logger.sources import DeploymentRef

        def resolve(deployment_id: str) -> DeploymentRef | None:
            try:
                dep_id = uuid.UUID(deployment_id)
            except ValueError:
                return None
            with self.db.session() as s:
                dep = s.get(AppDeployment, dep_id)
                if dep is None:
                    return None
                return DeploymentRef(dep.owner_id, dep.status in ACTIVE_STATUSES)

        self._log_source = logger.file_source(LOG_TYPE, resolve)

    def log_path(self, dep_id: uuid.UUID) -> Path:
        """Where the app's output goes (the logger's folder when attached)."""
        if self._log_source is not None:
            return Path(self._log_source.path_for(str(dep_id)))
        return self.settings.home / "apps" / str(dep_id) / "app.log"

    def runtime_name(self, dep_id: uuid.UUID) -> str:
        return f"waza-app-{self.install}-{dep_id.hex}"

    @property
    def internal_url(self) -> str:
        """The API as apps (and Traefik's forward-auth) reach it, without a trailing slash."""
        if self.settings.apps_internal_url:
            return self.settings.apps_internal_url.rstrip("/")
        host = self.settings.host
        host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
        return f"http://{host}:{self.settings.port}"

    @property
    def public_url(self) -> str:
        return self.settings.effective_public_url
