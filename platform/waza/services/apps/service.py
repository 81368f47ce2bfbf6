"""App Garden: templates, the garden catalog, deployments on a runtime, routes, sessions.

`AppsService` is the facade the routes use; the work is done by its parts:

- `infra.AppsInfra`: what they share (database, settings, runtime, route provider, app names,
  log files, the API's addresses);
- `catalog.TemplateCatalog`: templates (admins write them), the garden, images;
- `records.DeploymentRecords`: reading deployments, instances and logs (owners and admins);
- `lifecycle.AppLifecycle`: deploy, start, fail, stop, purge, ephemeral sessions
  (`launch` builds what the runtime starts);
- `access.AppAccess`: the browser pass and the forward-auth gate of app routes;
- `watch.AppWatcher`: the watcher thread and the start-up reconcile.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waza.db import Database
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.apps import schemas
from waza.services.apps.access import AppAccess
from waza.services.apps.catalog import TemplateCatalog
from waza.services.apps.infra import AppsInfra
from waza.services.apps.lifecycle import AppLifecycle
from waza.services.apps.records import DeploymentRecords
from waza.services.apps.routing import Router
from waza.services.apps.runtimes.base import Runtime
from waza.services.apps.watch import AppWatcher
from waza.settings import Settings

if TYPE_CHECKING:
    from waza.services.auth.service import AuthService
    from waza.services.serving.service import ServingService

log = get_logger("waza.apps")


class AppsService:
    """Templates, garden, deployments and their routes (one per API process)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        auth: AuthService,
        serving: ServingService,
        runtime: Runtime | None = None,
        router: Router | None = None,
    ) -> None:
        self.infra = AppsInfra(db, settings, auth, serving, runtime, router)
        self.catalog = TemplateCatalog(self.infra)
        self.records = DeploymentRecords(self.infra)
        self.access = AppAccess(self.infra)
        self.lifecycle = AppLifecycle(self.infra, self.records, self.access)
        self.watcher = AppWatcher(self.infra, self.lifecycle, self.records)

    # --- set-up --------------------------------------------------------------------------------
    @property
    def runtime(self) -> Runtime:
        return self.infra.runtime

    @property
    def router(self) -> Router:
        return self.infra.router

    def start(self) -> None:
        """Register the built-in templates, reconcile in the background, start the watcher."""
        if self.watcher.started:
            return  # started already
        try:
            self.catalog.ensure_builtins()
        except Exception as exc:
            log.warning("built-in app templates not registered", error=str(exc))
        self.lifecycle.pool.submit(self.watcher.reconcile_safely)
        self.watcher.start()

    def close(self) -> None:
        self.watcher.close()
        self.lifecycle.pool.shutdown(wait=False, cancel_futures=True)
        self.infra.close()

    def attach_logger(self, logger: Any) -> None:
        """Serve app logs through the logger service (type ``app_garden``)."""
        self.infra.attach_logger(logger)

    def log_path(self, dep_id: uuid.UUID) -> Path:
        return self.infra.log_path(dep_id)

    # --- templates, garden, images -------------------------------------------------------------
    def list_templates(
        self, principal: Principal, template_type: str | None = None
    ) -> list[schemas.AppTemplate]:
        return self.catalog.list_templates(principal, template_type)

    def get_template(self, principal: Principal, tpl_id: uuid.UUID) -> schemas.AppTemplate:
        return self.catalog.get_template(principal, tpl_id)

    def create_template(
        self, principal: Principal, body: schemas.CreateAppTemplate, builtin: bool = False
    ) -> schemas.AppTemplate:
        return self.catalog.create_template(principal, body, builtin)

    def update_template(
        self, principal: Principal, tpl_id: uuid.UUID, body: schemas.UpdateAppTemplate
    ) -> schemas.AppTemplate:
        return self.catalog.update_template(principal, tpl_id, body)

    def delete_template(self, principal: Principal, tpl_id: uuid.UUID) -> dict[str, Any]:
        return self.catalog.delete_template(principal, tpl_id)

    def ensure_builtins(self) -> None:
        self.catalog.ensure_builtins()

    def garden_apps(self, force_refresh: bool = False) -> list[dict[str, Any]]:
        return self.catalog.garden_apps(force_refresh)

    def garden_status(self) -> dict[str, Any]:
        return self.catalog.garden_status()

    def remote_status(self) -> dict[str, Any]:
        return self.catalog.remote_status()

    def import_garden(
        self, principal: Principal, names: list[str] | None = None
    ) -> schemas.ImportResult:
        return self.catalog.import_garden(principal, names)

    def image_status(self, principal: Principal, tpl_id: uuid.UUID) -> schemas.ImageStatus:
        return self.catalog.image_status(principal, tpl_id)

    def pull_images(self, principal: Principal, tpl_id: uuid.UUID) -> dict[str, Any]:
        return self.catalog.pull_images(principal, tpl_id)

    # --- deployments ---------------------------------------------------------------------------
    def deploy(
        self, principal: Principal, body: schemas.CreateAppDeployment
    ) -> schemas.AppDeployment:
        return self.lifecycle.deploy(principal, body)

    def list_deployments(self, principal: Principal) -> list[schemas.AppDeployment]:
        return self.records.list_deployments(principal)

    def get(self, principal: Principal, dep_id: uuid.UUID) -> schemas.AppDeployment:
        return self.records.get(principal, dep_id)

    def status(self, principal: Principal, dep_id: uuid.UUID) -> str:
        return self.records.status(principal, dep_id)

    def instances(
        self, principal: Principal, dep_id: uuid.UUID | None = None
    ) -> list[schemas.AppInstance]:
        return self.records.instances(principal, dep_id)

    def instance(self, principal: Principal, inst_id: uuid.UUID) -> schemas.AppInstance:
        return self.records.instance(principal, inst_id)

    def logs(self, principal: Principal, dep_id: uuid.UUID, lines: int = 200) -> schemas.AppLogs:
        return self.records.logs(principal, dep_id, lines)

    def stop(self, principal: Principal, dep_id: uuid.UUID) -> bool:
        return self.lifecycle.stop(principal, dep_id)

    def purge(self, principal: Principal, dep_id: uuid.UUID) -> dict[str, Any]:
        return self.lifecycle.purge(principal, dep_id)

    # --- ephemeral sessions --------------------------------------------------------------------
    def heartbeat(self, token: str | None) -> schemas.SessionState:
        return self.lifecycle.heartbeat(token)

    def end_session(self, token: str | None) -> schemas.SessionState:
        return self.lifecycle.end_session(token)

    # --- app routes: browser pass and forward-auth ---------------------------------------------
    def cookie_name(self, dep_id: uuid.UUID) -> str:
        return self.access.cookie_name(dep_id)

    def issue_cookie(self, principal: Principal, dep_id: uuid.UUID) -> str:
        return self.access.issue_cookie(principal, dep_id)

    def principal_from_cookie(self, value: str, dep_id: uuid.UUID) -> Principal | None:
        return self.access.principal_from_cookie(value, dep_id)

    def gate_cached(self, principal: Principal, dep_id: uuid.UUID) -> bool:
        return self.access.gate_cached(principal, dep_id)

    def gate(self, principal: Principal, dep_id: uuid.UUID) -> None:
        self.access.gate(principal, dep_id)

    # --- watcher, reconcile --------------------------------------------------------------------
    def poll_once(self) -> None:
        self.watcher.poll_once()

    def reconcile(self) -> None:
        self.watcher.reconcile()
