"""An app deployment's life: deploy, start, fail, stop, purge, and ephemeral sessions.

A deploy is validated up front (template visible, its compose document usable by the runtime,
environment keys allowed and the required ones given, the model deployment and server paths it
names usable by the caller; otherwise 400/403 with the reason), stored as REQUESTED and
answered at once. A worker then issues the app its own token (a `read` PAT of the owner,
revoked at stop), builds the environment, starts the app on the runtime (DEPLOYING), writes its
Traefik route and marks it DEPLOYED — or FAILED with a code and the failure patterns of its log.
Stopping twice is harmless; an ephemeral app is stopped and deleted when its session ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from waza.db.base import utcnow
from waza.errors import BadRequest, NotFound, Unauthorized
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.apps import logs as app_logs
from waza.services.apps import schemas
from waza.services.apps.access import AppAccess
from waza.services.apps.catalog import visible
from waza.services.apps.infra import AppsInfra
from waza.services.apps.launch import build_launch, check_paths, resolve_model
from waza.services.apps.models import ACTIVE_STATUSES, AppDeployment, AppInstance, AppTemplate
from waza.services.apps.records import DeploymentRecords
from waza.services.apps.routing import dynamic_config
from waza.services.apps.runtimes.base import AppStartError
from waza.services.apps.spec import parse_template
from waza.services.apps.variables import MODEL_SELECTOR, check_env, uses_model

log = get_logger("waza.apps")

SESSION_HEADER = "X-App-Session-Token"
INVALID_SESSION = "Invalid session token"  # an error message the SDK knows
APP_TOKEN_SCOPE = "read"  # noqa: S105 (a PAT scope)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AppLifecycle:
    """Deploy, start, fail, stop and purge app deployments; ephemeral sessions."""

    def __init__(self, infra: AppsInfra, records: DeploymentRecords, access: AppAccess) -> None:
        self.infra = infra
        self.db = infra.db
        self.settings = infra.settings
        self.records = records
        self.access = access
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="waza-apps")
        self._locks: dict[uuid.UUID, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock(self, dep_id: uuid.UUID) -> threading.Lock:
        """The lock held while this deployment starts or stops."""
        with self._locks_guard:
            return self._locks.setdefault(dep_id, threading.Lock())

    # --- deploy --------------------------------------------------------------------------------
    def deploy(
        self, principal: Principal, body: schemas.CreateAppDeployment
    ) -> schemas.AppDeployment:
        """Validate, store as REQUESTED and start in the background."""
        runtime = self.infra.runtime
        if body.template_id is None:
            raise BadRequest("template_id is required: the id of an app template to deploy")
        with self.db.session() as s:
            tpl = s.get(AppTemplate, body.template_id)
            if tpl is None or not visible(principal, tpl):
                raise BadRequest(f"Unknown app template {body.template_id}")
            compose, env_defaults = tpl.compose_yml, dict(tpl.env_defaults or {})
            strip, tpl_id = tpl.strip_path_prefix, tpl.id
        spec = parse_template(compose)
        if runtime.name == "process" and spec.process is None:
            raise BadRequest(
                "This template has no x-waza.process entry: the process runtime cannot run it "
                "(it needs the swarm runtime)"
            )
        if runtime.name == "swarm" and not spec.images:
            raise BadRequest("This template names no image: the swarm runtime cannot run it")
        user_env = dict(body.env_vars or {})
        check_env(user_env)
        env = {**spec.environment, **env_defaults, **user_env}
        for key in spec.required:
            if not env.get(key, "").strip():
                raise BadRequest(f"{key} is required by this template: pass it in env_vars")
        texts = [compose, *env.values()]
        selector = (user_env.get(MODEL_SELECTOR) or body.preferred_model_name or "").strip()
        model_id = (
            resolve_model(self.infra, principal, selector or None)
            if selector or uses_model(texts)
            else None
        )
        if spec.process is not None and runtime.name == "process":
            check_paths(self.infra, principal, spec.process.paths, env)
        ephemeral = body.ephemeral or self.settings.apps_ephemeral_forced
        session_token = secrets.token_urlsafe(32) if ephemeral else None
        dep_id = uuid.uuid4()
        row = AppDeployment(
            id=dep_id,
            owner_id=principal.user_id,
            template_id=tpl_id,
            name=body.name,
            status="REQUESTED",
            runtime=runtime.name,
            min_copies=body.min_copies,
            starting_copies=body.starting_copies,
            max_copies=body.max_copies,
            env_vars=user_env,
            compose_yml=compose,
            spec={
                "env_defaults": env_defaults,
                "strip_path_prefix": bool(
                    strip if strip is not None else spec.strip_path_prefix or False
                ),
            },
            model_deployment_id=model_id,
            ephemeral=ephemeral,
            session_token_hash=_hash(session_token) if session_token else None,
            session_expires_at=(
                utcnow() + timedelta(seconds=self.settings.apps_session_ttl) if ephemeral else None
            ),
        )

        def work(s: Session) -> schemas.AppDeployment:
            s.add(row)
            s.flush()
            return self.records.view(row, [])

        view = self.db.transaction(work)
        self.pool.submit(self.start_safely, dep_id)
        view.session_token = session_token
        return view

    # --- start ---------------------------------------------------------------------------------
    def start_safely(self, dep_id: uuid.UUID) -> None:
        try:
            self._start(dep_id)
        except Exception as exc:  # never leave a deployment DEPLOYING without a reason
            log.exception("app start crashed", deployment=str(dep_id))
            self.fail(dep_id, "APP_START_FAILED", str(exc), [])

    def _start(self, dep_id: uuid.UUID) -> None:
        infra = self.infra
        with self.lock(dep_id):
            with self.db.session() as s:
                dep = s.get(AppDeployment, dep_id)
                if dep is None or dep.status not in ("REQUESTED", "DEPLOYING", "DEPLOYED"):
                    return
                s.expunge(dep)
            self.set(dep_id, status="DEPLOYING", error_code=None, error_message=None)
            self._revoke_token(dep.token_jti, dep.owner_id)
            issued = infra.auth.issue_pat(
                dep.owner_id,
                f"app {dep.name} ({dep_id})",
                self.settings.pat_max_ttl,
                APP_TOKEN_SCOPE,
                self.settings.jwt_audience,
            )
            self.set(dep_id, token_jti=issued.pat.jti)
            launch = build_launch(infra, dep, issued.token)
            try:
                started = infra.runtime.start(launch)
            except AppStartError as exc:
                self.fail(dep_id, exc.code, exc.message, exc.log_tail)
                return
            config = dynamic_config(
                str(dep_id),
                started.target_url,
                f"{infra.internal_url}/api/apps/auth/{dep_id}",
                launch.strip_path_prefix,
            )
            infra.router.add(str(dep_id), config)

            def work(s: Session) -> bool:
                row = s.get(AppDeployment, dep_id)
                if row is None or row.status != "DEPLOYING":
                    return False  # stopped or purged meanwhile
                query = select(AppInstance).where(AppInstance.deployment_id == dep_id)
                for old in s.scalars(query):
                    s.delete(old)
                s.add(
                    AppInstance(
                        deployment_id=dep_id,
                        status="RUNNING",
                        host_name=started.host,
                        node_id=started.node_id,
                        listen_port=started.port,
                        container_id=started.container_id,
                        log_path=started.log_path,
                        port_mappings=[
                            {
                                "container_port": started.port,
                                "host_port": started.port,
                                "port_name": "http",
                                "is_primary": True,
                            }
                        ],
                    )
                )
                row.status, row.deployed_at = "DEPLOYED", utcnow()
                return True

            if not self.db.transaction(work):
                infra.runtime.stop(launch.name)
                infra.router.remove(str(dep_id))
            self.access.forget(dep_id)
            log.info("app deployed", deployment=str(dep_id), target=started.target_url)

    def set(self, dep_id: uuid.UUID, **fields: Any) -> None:
        """Change these columns of the deployment (when it still exists)."""

        def work(s: Session) -> None:
            row = s.get(AppDeployment, dep_id)
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)

        self.db.transaction(work)
        self.access.forget(dep_id)

    def fail(self, dep_id: uuid.UUID, code: str, message: str, lines: list[str]) -> None:
        """FAILED with a code and the log's failure patterns; route, token and app removed."""
        patterns = app_logs.found(lines)
        detail = message + (f" (log patterns: {', '.join(patterns)})" if patterns else "")
        last = [ln for ln in app_logs.app_output(lines) if ln.strip()][-1:]
        if last:
            detail += f"; last log line: {last[0][:300]}"
        with contextlib.suppress(Exception):
            self.infra.runtime.stop(self.infra.runtime_name(dep_id))
        self.infra.router.remove(str(dep_id))

        def work(s: Session) -> tuple[str | None, uuid.UUID] | None:
            row = s.get(AppDeployment, dep_id)
            if row is None:
                return None
            row.status, row.error_code, row.error_message = "FAILED", code, detail
            row.stopped_at = utcnow()
            for inst in s.scalars(select(AppInstance).where(AppInstance.deployment_id == dep_id)):
                inst.status = "FAILED"
            jti, owner = row.token_jti, row.owner_id
            row.token_jti = None
            return jti, owner

        token = self.db.transaction(work)
        if token is not None:
            self._revoke_token(*token)
        self.access.forget(dep_id)
        log.warning("app failed", deployment=str(dep_id), code=code, detail=detail)

    def _revoke_token(self, jti: str | None, owner: uuid.UUID) -> None:
        if not jti:
            return
        system = Principal(user_id=owner, username="apps", roles=("admin",), method="session")
        with contextlib.suppress(NotFound):
            self.infra.auth.revoke_pat(system, jti)

    # --- stop, purge ---------------------------------------------------------------------------
    def stop(self, principal: Principal, dep_id: uuid.UUID) -> bool:
        """Stop the app; stopping a stopped (or failed) app again is harmless."""
        self.records.check(principal, dep_id)
        self._set_if_active(dep_id, "STOPPING")
        self.stop_now(dep_id)
        return True

    def _set_if_active(self, dep_id: uuid.UUID, status: str) -> None:
        def work(s: Session) -> None:
            row = s.get(AppDeployment, dep_id)
            if row is not None and row.status in ACTIVE_STATUSES:
                row.status = status

        self.db.transaction(work)
        self.access.forget(dep_id)

    def stop_now(self, dep_id: uuid.UUID) -> None:
        """End the app, remove its route, revoke its token; STOPPED unless it FAILED."""
        with self.lock(dep_id):
            self.infra.runtime.stop(self.infra.runtime_name(dep_id))
            self.infra.router.remove(str(dep_id))

            def work(s: Session) -> tuple[str | None, uuid.UUID] | None:
                row = s.get(AppDeployment, dep_id)
                if row is None:
                    return None
                if row.status != "FAILED":
                    row.status = "STOPPED"
                if row.stopped_at is None or row.status == "STOPPED":
                    row.stopped_at = row.stopped_at or utcnow()
                for inst in s.scalars(
                    select(AppInstance).where(AppInstance.deployment_id == dep_id)
                ):
                    inst.status = "STOPPED" if inst.status != "FAILED" else inst.status
                jti, row.token_jti = row.token_jti, None
                return jti, row.owner_id

            token = self.db.transaction(work)
            if token is not None:
                self._revoke_token(*token)
            self.access.forget(dep_id)

    def purge(self, principal: Principal, dep_id: uuid.UUID) -> dict[str, Any]:
        """Stop (when needed) and delete the deployment and its instances."""
        self.stop(principal, dep_id)
        self._delete(dep_id)
        return {"purged": True, "id": str(dep_id)}

    def _delete(self, dep_id: uuid.UUID) -> None:
        def work(s: Session) -> None:
            s.execute(delete(AppInstance).where(AppInstance.deployment_id == dep_id))
            s.execute(delete(AppDeployment).where(AppDeployment.id == dep_id))

        self.db.transaction(work)
        self.access.forget(dep_id)

    # --- ephemeral sessions --------------------------------------------------------------------
    def _session_row(self, token: str | None) -> AppDeployment:
        if not token:
            raise Unauthorized(INVALID_SESSION)
        with self.db.session() as s:
            row = s.scalar(
                select(AppDeployment).where(AppDeployment.session_token_hash == _hash(token))
            )
            if row is None or row.status not in ACTIVE_STATUSES:
                raise Unauthorized(INVALID_SESSION)
            s.expunge(row)
            return row

    def heartbeat(self, token: str | None) -> schemas.SessionState:
        row = self._session_row(token)
        expires = utcnow() + timedelta(seconds=self.settings.apps_session_ttl)
        self.set(row.id, session_expires_at=expires)
        return schemas.SessionState(deployment_id=row.id, status=row.status, expires_at=expires)

    def end_session(self, token: str | None) -> schemas.SessionState:
        row = self._session_row(token)
        self.end_ephemeral(row.id)
        return schemas.SessionState(deployment_id=row.id, status="STOPPED", ended=True)

    def end_ephemeral(self, dep_id: uuid.UUID) -> None:
        """Stop the ephemeral app and delete its records."""
        self._set_if_active(dep_id, "STOPPING")
        self.stop_now(dep_id)
        self._delete(dep_id)
        log.info("ephemeral app ended", deployment=str(dep_id))
