"""`client.apps`: the App Garden — templates, the garden catalog, app deployments, sessions.

    chat = client.apps.find_template("waza-chat")
    app = client.apps.deploy(chat.id, "my chat", env_vars={"MODEL_DEPLOYMENT": str(dep_id)})
    app = client.apps.wait(app.id)                 # DEPLOYED, or AppFailed with the reason
    print(app.url)                                 # open it in a browser (behind the login)
    client.apps.logs(app.id).lines
    client.apps.stop(app.id)

Statuses: REQUESTED → DEPLOYING → DEPLOYED, or FAILED (``error_code`` APP_EXITED, PORT_IN_USE,
STARTUP_TIMEOUT, APP_LOST …, ``error_message`` with the log's failure patterns); STOPPED.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from waza.client.base import Transport, drop_none
from waza.client.errors import WazaAPIError
from waza.services.apps import schemas

Id = uuid.UUID | str
Templates = list[schemas.AppTemplate]
Deployments = list[schemas.AppDeployment]
Instances = list[schemas.AppInstance]
SESSION_HEADER = "X-App-Session-Token"


class AppFailed(WazaAPIError):
    """An app ended FAILED (or was stopped) instead of becoming DEPLOYED."""

    def __init__(self, app: schemas.AppDeployment) -> None:
        self.app = app
        self.code = app.error_code or app.status
        self.reason = app.error_message or f"the app is {app.status}"
        summary = f"app {app.id} ({app.name}) is {app.status}: [{self.code}] {self.reason}"
        super().__init__(422, summary)


class AppsAPI:
    """`/api/apps/...`."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    # ---- templates ------------------------------------------------------------------------------
    def templates(self, template_type: str | None = None) -> Templates:
        """Templates you can deploy (public, team and your own)."""
        params = drop_none(template_type=template_type)
        return self._t.parse(Templates, "GET", "apps/app_templates", params=params)

    def template(self, template_id: Id) -> schemas.AppTemplate:
        return self._t.parse(schemas.AppTemplate, "GET", f"apps/app_templates/{template_id}")

    def find_template(self, name: str, version: str | None = None) -> schemas.AppTemplate | None:
        """The template with this name (and version), or None."""
        for tpl in self.templates():
            if tpl.name == name and (version is None or tpl.version == version):
                return tpl
        return None

    def create_template(self, name: str, compose_yml: str, **fields: Any) -> schemas.AppTemplate:
        """Create a template (admins). ``fields``: `CreateAppTemplate` fields."""
        body = schemas.CreateAppTemplate(name=name, compose_yml=compose_yml, **fields)
        payload = body.model_dump(mode="json", exclude_none=True)
        return self._t.parse(schemas.AppTemplate, "POST", "apps/app_templates", json=payload)

    def update_template(self, template_id: Id, **fields: Any) -> schemas.AppTemplate:
        body = schemas.UpdateAppTemplate(**fields).model_dump(mode="json", exclude_unset=True)
        return self._t.parse(
            schemas.AppTemplate, "PUT", f"apps/app_templates/{template_id}", json=body
        )

    def delete_template(self, template_id: Id) -> dict[str, Any]:
        result: dict[str, Any] = self._t.json("DELETE", f"apps/app_templates/{template_id}")
        return result

    # ---- garden ---------------------------------------------------------------------------------
    def garden(self, force_refresh: bool = False) -> list[schemas.GardenApp]:
        """The garden catalog: built-in apps, then the remote catalog's."""
        params = {"force_refresh": "true"} if force_refresh else None
        return self._t.parse(list[schemas.GardenApp], "GET", "apps/remote/apps", params=params)

    def garden_status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._t.json("GET", "apps/garden/status")
        return result

    def remote_status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._t.json("GET", "apps/remote/status")
        return result

    def import_garden(self, names: list[str] | None = None) -> schemas.ImportResult:
        """Import garden apps as templates (admins); only ``names`` when given."""
        if names is None:
            return self._t.parse(schemas.ImportResult, "POST", "apps/garden/import")
        return self._t.parse(
            schemas.ImportResult, "POST", "apps/remote/sync", json={"names": names}
        )

    def image_status(self, template_id: Id) -> schemas.ImageStatus:
        return self._t.parse(schemas.ImageStatus, "GET", f"apps/images/status/{template_id}")

    def pull_images(self, template_id: Id) -> dict[str, Any]:
        result: dict[str, Any] = self._t.json(
            "POST", f"apps/images/pull/{template_id}", timeout=600
        )
        return result

    # ---- deployments ----------------------------------------------------------------------------
    def deploy(
        self,
        template_id: Id,
        name: str,
        env_vars: dict[str, str] | None = None,
        *,
        ephemeral: bool = False,
        model: str | None = None,
    ) -> schemas.AppDeployment:
        """Deploy a template; answers at once (follow it with `wait`). ``model``: the model
        deployment the app uses (id or model name). An ephemeral deploy's answer carries its
        ``session_token`` (see `heartbeat`)."""
        body = schemas.CreateAppDeployment(
            name=name,
            template_id=uuid.UUID(str(template_id)),
            env_vars=env_vars or {},
            ephemeral=ephemeral,
            preferred_model_name=model,
        ).model_dump(mode="json", exclude_none=True)
        return self._t.parse(schemas.AppDeployment, "POST", "apps/deploy_app", json=body)

    def list(self) -> Deployments:
        """Your app deployments (admins: everyone's), newest first."""
        return self._t.parse(Deployments, "GET", "apps/deployments")

    def get(self, deployment_id: Id) -> schemas.AppDeployment:
        return self._t.parse(schemas.AppDeployment, "GET", f"apps/deployment/{deployment_id}")

    def status(self, deployment_id: Id) -> str:
        return str(self._t.json("GET", f"apps/deployment/{deployment_id}/status"))

    def wait(
        self, deployment_id: Id, timeout: float = 120.0, *, poll: float = 0.3
    ) -> schemas.AppDeployment:
        """Poll until DEPLOYED; raises `AppFailed` (FAILED/STOPPED) or `TimeoutError`."""
        deadline = time.monotonic() + timeout
        while True:
            app = self.get(deployment_id)
            if app.status == "DEPLOYED":
                return app
            if app.status in ("FAILED", "STOPPED", "STOPPING"):
                raise AppFailed(app)
            if time.monotonic() > deadline:
                raise TimeoutError(f"app {deployment_id} is still {app.status} after {timeout} s")
            time.sleep(poll)

    def stop(self, deployment_id: Id) -> bool:
        """Stop the app and remove its route (again: harmless)."""
        return bool(self._t.json("DELETE", f"apps/deployment/{deployment_id}", timeout=120))

    def purge(self, deployment_id: Id) -> dict[str, Any]:
        """Stop if needed and delete the deployment's records."""
        result: dict[str, Any] = self._t.json(
            "DELETE", f"apps/deployment/{deployment_id}/purge", timeout=120
        )
        return result

    def logs(self, deployment_id: Id, lines: int = 200) -> schemas.AppLogs:
        return self._t.parse(
            schemas.AppLogs,
            "GET",
            f"apps/deployment/{deployment_id}/logs",
            params={"lines": lines},
        )

    def instances(self, deployment_id: Id | None = None) -> Instances:
        params = drop_none(deployment_id=str(deployment_id) if deployment_id else None)
        return self._t.parse(Instances, "GET", "apps/instances", params=params)

    # ---- ephemeral sessions ---------------------------------------------------------------------
    def heartbeat(self, session_token: str) -> schemas.SessionState:
        """Keep an ephemeral app alive (its session token is the credential)."""
        return self._t.parse(
            schemas.SessionState,
            "POST",
            "apps/sessions/heartbeat",
            headers={SESSION_HEADER: session_token},
        )

    def end_session(self, session_token: str) -> schemas.SessionState:
        """End an ephemeral app's session: the app is stopped and removed."""
        return self._t.parse(
            schemas.SessionState,
            "POST",
            "apps/sessions/end",
            headers={SESSION_HEADER: session_token},
        )
