"""App Garden logic: templates, the garden catalog, deployments on a runtime, routes, sessions.

A deploy is validated up front (template visible, its compose document usable by the runtime,
environment keys allowed, the model deployment and server paths it names usable by the caller;
otherwise 400/403 with the reason), stored as REQUESTED and answered at once. A worker then
issues the app its own token (a `read` PAT of the owner, revoked at stop), builds the
environment, starts the app on the runtime (DEPLOYING), writes its Traefik route and marks it
DEPLOYED — or FAILED with a code and the failure patterns of its log. A watcher thread marks
apps whose process died FAILED (route removed) and ends ephemeral apps whose session stopped
beating. At start-up `reconcile()` finds running apps again (Ray actors), starts again the ones
that should run, and removes routes nobody owns.

Who may do what: templates are code that runs on the platform's nodes, so only admins create,
change or delete them; everyone deploys the templates they can see (public and team ones, and
their own). A deployment is its owner's (admins see and stop all); its route lets only them in.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from waza.db import Database
from waza.db.base import utcnow
from waza.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.apps import logs as app_logs
from waza.services.apps import schemas
from waza.services.apps.garden import Garden
from waza.services.apps.models import ACTIVE_STATUSES, AppDeployment, AppInstance, AppTemplate
from waza.services.apps.routing import NoRouter, Router, app_path, dynamic_config, open_router
from waza.services.apps.runtimes.base import AppStartError, Launch, Runtime
from waza.services.apps.runtimes.process import ProcessRuntime
from waza.services.apps.spec import TemplateSpec, parse_template
from waza.services.apps.variables import (
    MODEL_SELECTOR,
    check_env,
    substitute,
    uses_model,
)
from waza.settings import Settings

if TYPE_CHECKING:
    from waza.services.auth.service import AuthService
    from waza.services.serving.service import ServingService

log = get_logger("waza.apps")

WATCH_INTERVAL = 2.0
LOG_TYPE = "app_garden"  # the logger service's deployment type of app logs
GATE_CACHE_SECONDS = 2.0
SESSION_HEADER = "X-App-Session-Token"
INVALID_SESSION = "Invalid session token"  # an error message the SDK knows
COOKIE_PREFIX = "waza_app_"
COOKIE_TTL = 12 * 3600
APP_TOKEN_SCOPE = "read"  # noqa: S105 (a PAT scope)
VISIBLE_TO_ALL = ("public", "team")  # waza has no teams yet: team = every signed-in user
PROCESS_ENV_PASSTHROUGH = ("LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        self.db = db
        self.settings = settings
        self.auth = auth
        self.serving = serving
        self.garden = Garden(settings)
        self.runtime: Runtime = runtime or self._make_runtime()
        self._router = router
        digest = hashlib.sha1(settings.effective_database_url.encode()).hexdigest()[:8]  # noqa: S324
        self.install = digest
        self._cookie_key = hmac.new(
            settings.key_encryption_key(), b"waza-apps-cookie", hashlib.sha256
        ).digest()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="waza-apps")
        self._locks: dict[uuid.UUID, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._gate_cache: dict[uuid.UUID, tuple[uuid.UUID, str, float]] = {}
        self._log_source: Any = None

    # --- set-up --------------------------------------------------------------------------------
    def _make_runtime(self) -> Runtime:
        if self.settings.apps_runtime == "swarm":
            from waza.services.apps.runtimes.swarm import SwarmRuntime

            return SwarmRuntime(self.settings.apps_docker_url, self.settings.apps_swarm_network)
        cluster = self.serving.cluster
        return ProcessRuntime(
            self.settings.apps_placement, connect_ray=lambda: cluster.connect(start=True)
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

    def start(self) -> None:
        """Register the built-in templates, reconcile in the background, start the watcher."""
        if self._watcher is not None:
            return  # started already
        try:
            self.ensure_builtins()
        except Exception as exc:
            log.warning("built-in app templates not registered", error=str(exc))
        self._pool.submit(self._reconcile_safely)
        self._watcher = threading.Thread(target=self._watch, name="waza-apps-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
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

    def _lock(self, dep_id: uuid.UUID) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(dep_id, threading.Lock())

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

    # --- templates -----------------------------------------------------------------------------
    def _visible(self, principal: Principal, tpl: AppTemplate) -> bool:
        return (
            tpl.visibility in VISIBLE_TO_ALL
            or principal.is_admin
            or (tpl.owner_id is not None and principal.owns(tpl.owner_id))
        )

    @staticmethod
    def _template_view(tpl: AppTemplate) -> schemas.AppTemplate:
        meta = tpl.meta or {}
        return schemas.AppTemplate(
            id=tpl.id,
            name=tpl.name,
            version=tpl.version,
            display_name=tpl.display_name,
            source_type=tpl.source_type,
            visibility=tpl.visibility,
            compose_yml=tpl.compose_yml,
            risk_tier=tpl.risk_tier,
            template_type=tpl.template_type,
            verified=tpl.verified,
            builtin=tpl.builtin,
            strip_path_prefix=tpl.strip_path_prefix,
            description=tpl.description,
            owner_id=tpl.owner_id,
            env_defaults=dict(tpl.env_defaults or {}),
            created_at=tpl.created_at,
            updated_at=tpl.updated_at,
            **{k: meta.get(k) for k in schemas.META_FIELDS},
        )

    def list_templates(
        self, principal: Principal, template_type: str | None = None
    ) -> list[schemas.AppTemplate]:
        with self.db.session() as s:
            query = select(AppTemplate).order_by(AppTemplate.name, AppTemplate.version)
            if template_type:
                query = query.where(AppTemplate.template_type == template_type)
            rows = [t for t in s.scalars(query) if self._visible(principal, t)]
            return [self._template_view(t) for t in rows]

    def _template(self, s: Session, principal: Principal, tpl_id: uuid.UUID) -> AppTemplate:
        tpl = s.get(AppTemplate, tpl_id)
        if tpl is None or not self._visible(principal, tpl):
            raise NotFound(f"App template {tpl_id} not found")
        return tpl

    def get_template(self, principal: Principal, tpl_id: uuid.UUID) -> schemas.AppTemplate:
        with self.db.session() as s:
            return self._template_view(self._template(s, principal, tpl_id))

    @staticmethod
    def _check_template(compose_yml: str, env_defaults: dict[str, str] | None) -> TemplateSpec:
        spec = parse_template(compose_yml)
        check_env(env_defaults or {}, "env_defaults")
        return spec

    def create_template(
        self, principal: Principal, body: schemas.CreateAppTemplate, builtin: bool = False
    ) -> schemas.AppTemplate:
        self._require_admin(principal, "create app templates")
        spec = self._check_template(body.compose_yml, body.env_defaults)

        def work(s: Session) -> schemas.AppTemplate:
            clash = s.scalar(
                select(AppTemplate).where(
                    AppTemplate.name == body.name, AppTemplate.version == body.version
                )
            )
            if clash is not None:
                raise Conflict(f"App template {body.name} {body.version} exists (id {clash.id})")
            tpl = AppTemplate(
                name=body.name,
                version=body.version,
                display_name=body.display_name,
                source_type=body.source_type,
                visibility=body.visibility,
                risk_tier=body.risk_tier,
                template_type=body.template_type,
                compose_yml=body.compose_yml,
                description=body.description,
                owner_id=principal.user_id,
                verified=builtin,
                builtin=builtin,
                strip_path_prefix=(
                    body.strip_path_prefix
                    if body.strip_path_prefix is not None
                    else spec.strip_path_prefix
                ),
                env_defaults=dict(body.env_defaults or {}),
                meta={k: getattr(body, k) for k in schemas.META_FIELDS if getattr(body, k)},
            )
            s.add(tpl)
            s.flush()
            return self._template_view(tpl)

        return self.db.transaction(work)

    def update_template(
        self, principal: Principal, tpl_id: uuid.UUID, body: schemas.UpdateAppTemplate
    ) -> schemas.AppTemplate:
        self._require_admin(principal, "change app templates")
        changes = body.model_dump(exclude_unset=True)

        def work(s: Session) -> schemas.AppTemplate:
            tpl = self._template(s, principal, tpl_id)
            compose = changes.get("compose_yml") or tpl.compose_yml
            env = changes.get("env_defaults", tpl.env_defaults)
            self._check_template(compose, env)
            meta = dict(tpl.meta or {})
            for key, value in changes.items():
                if key in schemas.META_FIELDS:
                    meta[key] = value
                elif value is not None or key in ("description", "display_name"):
                    setattr(tpl, key, value if key != "env_defaults" else dict(value or {}))
            tpl.meta = meta
            return self._template_view(tpl)

        return self.db.transaction(work)

    def delete_template(self, principal: Principal, tpl_id: uuid.UUID) -> dict[str, Any]:
        self._require_admin(principal, "delete app templates")

        def work(s: Session) -> dict[str, Any]:
            tpl = self._template(s, principal, tpl_id)
            s.delete(tpl)
            return {"deleted": True, "id": str(tpl_id), "name": tpl.name}

        return self.db.transaction(work)

    @staticmethod
    def _require_admin(principal: Principal, what: str) -> None:
        if not principal.is_admin:
            raise Forbidden(
                f"Only admins may {what}: a template is code that runs on the platform's nodes"
            )

    # --- garden --------------------------------------------------------------------------------
    def _upsert_garden_app(self, s: Session, app: dict[str, Any]) -> str:
        """Insert or refresh one garden app as a public template: created|updated|same."""
        builtin = app.get("source") == "builtin"
        version = str(app["version"])
        spec = self._check_template(str(app["compose_yml"]), app.get("env_defaults"))
        tpl = s.scalar(
            select(AppTemplate).where(
                AppTemplate.name == app["name"], AppTemplate.version == version
            )
        )
        fields: dict[str, Any] = {
            "display_name": app.get("display_name"),
            "description": app.get("description"),
            "compose_yml": app["compose_yml"],
            "env_defaults": dict(app.get("env_defaults") or {}),
            "strip_path_prefix": app.get("strip_path_prefix", spec.strip_path_prefix),
            "meta": {k: app[k] for k in schemas.META_FIELDS if app.get(k)},
        }
        if tpl is None:
            s.add(
                AppTemplate(
                    name=app["name"],
                    version=version,
                    source_type="kamiwaza" if builtin else "public",
                    visibility="public",
                    risk_tier=0 if builtin else 1,
                    template_type=app.get("template_type", "app"),
                    verified=builtin,
                    builtin=builtin,
                    **fields,
                )
            )
            return "created"
        if all(getattr(tpl, k) == v for k, v in fields.items()):
            return "same"
        for key, value in fields.items():
            setattr(tpl, key, value)
        return "updated"

    def ensure_builtins(self) -> None:
        """Register (or refresh) the apps shipped with waza as public templates."""
        from waza.services.apps.garden import builtin_apps

        def work(s: Session) -> None:
            for app in builtin_apps():
                self._upsert_garden_app(s, app)

        self.db.transaction(work)

    def garden_apps(self, force_refresh: bool = False) -> list[dict[str, Any]]:
        return self.garden.apps(force_refresh)

    def _imported(self) -> set[tuple[str, str]]:
        with self.db.session() as s:
            return {(t.name, t.version) for t in s.scalars(select(AppTemplate))}

    def garden_status(self) -> dict[str, Any]:
        apps = self.garden.apps()
        imported = self._imported()
        missing = [a["name"] for a in apps if (a["name"], str(a["version"])) not in imported]
        return {
            "garden_apps_available": bool(apps),
            "total_apps": len(apps),
            "imported_apps": len(apps) - len(missing),
            "missing_apps": missing,
            "remote": self.garden.remote_status(),
        }

    def remote_status(self) -> dict[str, Any]:
        status = self.garden.remote_status()
        imported = self._imported()
        status["new_available"] = [
            a["name"]
            for a in self.garden.remote_apps()
            if (a["name"], str(a["version"])) not in imported
        ]
        return status

    def import_garden(
        self, principal: Principal, names: list[str] | None = None
    ) -> schemas.ImportResult:
        """Import the garden apps not yet templates (or only ``names``); admins only."""
        self._require_admin(principal, "import garden apps")
        apps = [a for a in self.garden.apps() if names is None or a["name"] in names]
        errors: list[str] = []
        counts = {"created": 0, "updated": 0, "same": 0}
        for app in apps:

            def work(s: Session, app: dict[str, Any] = app) -> str:
                return self._upsert_garden_app(s, app)

            try:
                counts[self.db.transaction(work)] += 1
            except Exception as exc:
                detail = getattr(exc, "detail", None) or str(exc)
                errors.append(f"{app.get('name')}: {detail}")
        return schemas.ImportResult(
            imported_count=counts["created"],
            updated_count=counts["updated"],
            total_apps=len(apps),
            errors=errors,
            success=not errors,
        )

    # --- images --------------------------------------------------------------------------------
    def _images(self, principal: Principal, tpl_id: uuid.UUID) -> list[str]:
        with self.db.session() as s:
            tpl = self._template(s, principal, tpl_id)
            compose = tpl.compose_yml
        if self.runtime.name != "swarm":
            return []
        return parse_template(compose).images

    def image_status(self, principal: Principal, tpl_id: uuid.UUID) -> schemas.ImageStatus:
        images = self._images(principal, tpl_id)
        status = self.runtime.image_status(images) if images else {}
        message = None
        if self.runtime.name != "swarm":
            message = "The process runtime runs Python apps on the nodes: there are no images."
        elif not images:
            message = "This template names no image."
        return schemas.ImageStatus(
            template_id=tpl_id,
            images=images,
            image_status=status,
            all_images_pulled=all(status.values()),
            runtime=self.runtime.name,
            message=message,
        )

    def pull_images(self, principal: Principal, tpl_id: uuid.UUID) -> dict[str, Any]:
        images = self._images(principal, tpl_id)
        if not images:
            return {"message": "No images to pull", "images": []}
        results = self.runtime.pull(images)
        ok = sum(1 for r in results if r.get("success"))
        return schemas.ImagePullResult(
            template_id=tpl_id,
            total_images=len(images),
            successful_pulls=ok,
            results=results,
            all_successful=ok == len(images),
        ).model_dump(mode="json")

    # --- deploy --------------------------------------------------------------------------------
    def _resolve_model(self, principal: Principal, selector: str | None) -> uuid.UUID:
        """The DEPLOYED model deployment an app talks to: by id, by model name, or the
        caller's newest chat deployment."""
        deployments = [
            d
            for d in self.serving.list_deployments(principal)
            if d.status == "DEPLOYED" and d.engine_name != "embedding"
        ]
        if selector:
            with contextlib.suppress(ValueError):
                wanted = uuid.UUID(selector)
                for dep in self.serving.list_deployments(principal):
                    if dep.id == wanted:
                        if dep.status != "DEPLOYED":
                            raise BadRequest(
                                f"Model deployment {selector} is {dep.status}, not DEPLOYED"
                            )
                        return dep.id
                raise BadRequest(f"No model deployment {selector} that you can use")
            for dep in deployments:
                if dep.m_name == selector or selector.lower() in dep.m_name.lower():
                    return dep.id
            raise BadRequest(f"No DEPLOYED model deployment of a model named {selector!r}")
        if not deployments:
            raise BadRequest(
                "This app needs a deployed chat model and none is DEPLOYED: deploy one, or pass "
                f"env_vars {{'{MODEL_SELECTOR}': '<deployment id or model name>'}}"
            )
        return deployments[0].id

    def _check_paths(self, principal: Principal, keys: list[str], env: dict[str, str]) -> None:
        from waza.services.ingestion.paths import resolve_path

        for key in keys:
            value = env.get(key, "").strip()
            if not value:
                raise BadRequest(f"{key} is required: an absolute path on the server")
            path = resolve_path(self.settings, principal, value)
            if not path.is_file():
                raise BadRequest(f"{key}={value} is not a file")

    def deploy(
        self, principal: Principal, body: schemas.CreateAppDeployment
    ) -> schemas.AppDeployment:
        """Validate, store as REQUESTED and start in the background."""
        if body.template_id is None:
            raise BadRequest("template_id is required: the id of an app template to deploy")
        with self.db.session() as s:
            tpl = s.get(AppTemplate, body.template_id)
            if tpl is None or not self._visible(principal, tpl):
                raise BadRequest(f"Unknown app template {body.template_id}")
            compose, env_defaults = tpl.compose_yml, dict(tpl.env_defaults or {})
            strip, tpl_id = tpl.strip_path_prefix, tpl.id
        spec = parse_template(compose)
        if self.runtime.name == "process" and spec.process is None:
            raise BadRequest(
                "This template has no x-waza.process entry: the process runtime cannot run it "
                "(it needs the swarm runtime)"
            )
        if self.runtime.name == "swarm" and not spec.images:
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
            self._resolve_model(principal, selector or None)
            if selector or uses_model(texts)
            else None
        )
        if spec.process is not None and self.runtime.name == "process":
            self._check_paths(principal, spec.process.paths, env)
        ephemeral = body.ephemeral or self.settings.apps_ephemeral_forced
        session_token = secrets.token_urlsafe(32) if ephemeral else None
        dep_id = uuid.uuid4()
        row = AppDeployment(
            id=dep_id,
            owner_id=principal.user_id,
            template_id=tpl_id,
            name=body.name,
            status="REQUESTED",
            runtime=self.runtime.name,
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
            return self._view(row, [])

        view = self.db.transaction(work)
        self._pool.submit(self._start_safely, dep_id)
        view.session_token = session_token
        return view

    def _start_safely(self, dep_id: uuid.UUID) -> None:
        try:
            self._start(dep_id)
        except Exception as exc:  # never leave a deployment DEPLOYING without a reason
            log.exception("app start crashed", deployment=str(dep_id))
            self._fail(dep_id, "APP_START_FAILED", str(exc), [])

    def _launch(self, dep: AppDeployment, token: str) -> Launch:
        spec = parse_template(dep.compose_yml)
        path = app_path(str(dep.id))
        values = {"app_path": path, "app_path_url": self.public_url + path}
        if dep.model_deployment_id is not None:
            runtime_path = f"/runtime/models/{dep.model_deployment_id}"
            values.update(
                openai_base_url=f"{self.internal_url}{runtime_path}/v1",
                openai_path_base_url=f"{self.public_url}{runtime_path}/v1",
                model_path_url=f"{self.public_url}{runtime_path}",
            )
        declared = {**spec.environment, **dep.spec.get("env_defaults", {}), **dep.env_vars}
        env = {k: substitute(v, values) for k, v in declared.items()}
        workdir = self.settings.home / "apps" / str(dep.id)
        venv_bin = str(Path(sys.executable).parent)
        base = {k: os.environ[k] for k in PROCESS_ENV_PASSTHROUGH if k in os.environ}
        base.update(
            PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            HOME=str(workdir),
            PYTHONUNBUFFERED="1",
        )
        platform = {
            "WAZA_APP_ID": str(dep.id),
            "WAZA_APP_NAME": dep.name,
            "WAZA_APP_PATH": path,
            "WAZA_APP_URL": values["app_path_url"],
            "APP_PATH": path,
            "APP_URL": values["app_path_url"],
            "WAZA_API_URL": self.internal_url + "/api",
            "WAZA_API_KEY": token,
            "OPENAI_API_KEY": token,
        }
        if dep.model_deployment_id is not None:
            platform["OPENAI_BASE_URL"] = values["openai_base_url"]
            platform["WAZA_MODEL_DEPLOYMENT_ID"] = str(dep.model_deployment_id)
        if spec.process is not None:
            for key in ("app", "file", "health_path"):
                raw = getattr(spec.process, key)
                if raw:
                    setattr(spec.process, key, substitute(raw, values))
            spec.process.command = [substitute(a, values) for a in spec.process.command]
        return Launch(
            deployment_id=str(dep.id),
            name=self.runtime_name(dep.id),
            env={**base, **env, **platform},
            app_path=path,
            public_origin=self.public_url,
            workdir=workdir,
            log_path=self.log_path(dep.id),
            start_timeout=self.settings.apps_start_timeout,
            process=spec.process,
            services=spec.services,
            strip_path_prefix=bool(dep.spec.get("strip_path_prefix")),
        )

    def _start(self, dep_id: uuid.UUID) -> None:
        with self._lock(dep_id):
            with self.db.session() as s:
                dep = s.get(AppDeployment, dep_id)
                if dep is None or dep.status not in ("REQUESTED", "DEPLOYING", "DEPLOYED"):
                    return
                s.expunge(dep)
            self._set(dep_id, status="DEPLOYING", error_code=None, error_message=None)
            self._revoke_token(dep.token_jti, dep.owner_id)
            issued = self.auth.issue_pat(
                dep.owner_id,
                f"app {dep.name} ({dep_id})",
                self.settings.pat_max_ttl,
                APP_TOKEN_SCOPE,
                self.settings.jwt_audience,
            )
            self._set(dep_id, token_jti=issued.pat.jti)
            launch = self._launch(dep, issued.token)
            try:
                started = self.runtime.start(launch)
            except AppStartError as exc:
                self._fail(dep_id, exc.code, exc.message, exc.log_tail)
                return
            config = dynamic_config(
                str(dep_id),
                started.target_url,
                f"{self.internal_url}/api/apps/auth/{dep_id}",
                launch.strip_path_prefix,
            )
            self.router.add(str(dep_id), config)

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
                self.runtime.stop(launch.name)
                self.router.remove(str(dep_id))
            self._gate_cache.pop(dep_id, None)
            log.info("app deployed", deployment=str(dep_id), target=started.target_url)

    def _set(self, dep_id: uuid.UUID, **fields: Any) -> None:
        def work(s: Session) -> None:
            row = s.get(AppDeployment, dep_id)
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)

        self.db.transaction(work)
        self._gate_cache.pop(dep_id, None)

    def _fail(self, dep_id: uuid.UUID, code: str, message: str, lines: list[str]) -> None:
        """FAILED with a code and the log's failure patterns; route, token and app removed."""
        patterns = app_logs.found(lines)
        detail = message + (f" (log patterns: {', '.join(patterns)})" if patterns else "")
        last = [ln for ln in app_logs.app_output(lines) if ln.strip()][-1:]
        if last:
            detail += f"; last log line: {last[0][:300]}"
        with contextlib.suppress(Exception):
            self.runtime.stop(self.runtime_name(dep_id))
        self.router.remove(str(dep_id))

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
        self._gate_cache.pop(dep_id, None)
        log.warning("app failed", deployment=str(dep_id), code=code, detail=detail)

    def _revoke_token(self, jti: str | None, owner: uuid.UUID) -> None:
        if not jti:
            return
        system = Principal(user_id=owner, username="apps", roles=("admin",), method="session")
        with contextlib.suppress(NotFound):
            self.auth.revoke_pat(system, jti)

    # --- read ----------------------------------------------------------------------------------
    def _view(self, dep: AppDeployment, instances: list[AppInstance]) -> schemas.AppDeployment:
        path = app_path(str(dep.id))
        return schemas.AppDeployment(
            id=dep.id,
            name=dep.name,
            template_id=dep.template_id,
            requested_at=dep.requested_at,
            created_at=dep.created_at,
            deployed_at=dep.deployed_at,
            stopped_at=dep.stopped_at,
            status=dep.status,
            runtime=dep.runtime,
            min_copies=dep.min_copies,
            starting_copies=dep.starting_copies,
            max_copies=dep.max_copies,
            env_vars=dict(dep.env_vars or {}),
            compose_yml=dep.compose_yml,
            access_path=path,
            serve_path=path,
            url=self.public_url + path,
            model_deployment_id=dep.model_deployment_id,
            owner_id=dep.owner_id,
            error_code=dep.error_code,
            error_message=dep.error_message,
            ephemeral=dep.ephemeral,
            session_expires_at=dep.session_expires_at,
            instances=[self._instance_view(i) for i in instances],
        )

    @staticmethod
    def _instance_view(inst: AppInstance) -> schemas.AppInstance:
        node = inst.node_id
        return schemas.AppInstance(
            id=inst.id,
            deployment_id=inst.deployment_id,
            deployed_at=inst.deployed_at,
            container_id=inst.container_id,
            # the SDK wants a UUID: a stable one derived from the Ray node id (kept as is too)
            node_id=uuid.uuid5(uuid.NAMESPACE_URL, f"ray-node:{node}") if node else None,
            runtime_node_id=node,
            host_name=inst.host_name,
            listen_port=inst.listen_port,
            status=inst.status,
            port_mappings=list(inst.port_mappings or []),
        )

    def _get(self, s: Session, principal: Principal, dep_id: uuid.UUID) -> AppDeployment:
        dep = s.get(AppDeployment, dep_id)
        if dep is None:
            raise NotFound(f"App deployment {dep_id} not found")
        if not principal.can_access(dep.owner_id):
            raise Forbidden("This app deployment belongs to another user")
        return dep

    def _instances_of(self, s: Session, dep_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
        out: dict[uuid.UUID, list[AppInstance]] = {d: [] for d in dep_ids}
        if dep_ids:
            query = select(AppInstance).where(AppInstance.deployment_id.in_(dep_ids))
            for inst in s.scalars(query):
                out[inst.deployment_id].append(inst)
        return out

    def list_deployments(self, principal: Principal) -> list[schemas.AppDeployment]:
        with self.db.session() as s:
            query = select(AppDeployment).order_by(AppDeployment.requested_at.desc())
            if not principal.is_admin:
                query = query.where(AppDeployment.owner_id == principal.user_id)
            deps = list(s.scalars(query))
            instances = self._instances_of(s, [d.id for d in deps])
            return [self._view(d, instances[d.id]) for d in deps]

    def get(self, principal: Principal, dep_id: uuid.UUID) -> schemas.AppDeployment:
        with self.db.session() as s:
            dep = self._get(s, principal, dep_id)
            return self._view(dep, self._instances_of(s, [dep_id])[dep_id])

    def status(self, principal: Principal, dep_id: uuid.UUID) -> str:
        with self.db.session() as s:
            return self._get(s, principal, dep_id).status

    def instances(
        self, principal: Principal, dep_id: uuid.UUID | None = None
    ) -> list[schemas.AppInstance]:
        with self.db.session() as s:
            query = select(AppInstance, AppDeployment.owner_id).join(
                AppDeployment, AppDeployment.id == AppInstance.deployment_id
            )
            if dep_id is not None:
                query = query.where(AppInstance.deployment_id == dep_id)
            return [
                self._instance_view(inst)
                for inst, owner in s.execute(query)
                if principal.can_access(owner)
            ]

    def instance(self, principal: Principal, inst_id: uuid.UUID) -> schemas.AppInstance:
        with self.db.session() as s:
            inst = s.get(AppInstance, inst_id)
            dep = s.get(AppDeployment, inst.deployment_id) if inst else None
            if inst is None or dep is None or not principal.can_access(dep.owner_id):
                raise NotFound(f"App instance {inst_id} not found")
            return self._instance_view(inst)

    def logs(self, principal: Principal, dep_id: uuid.UUID, lines: int = 200) -> schemas.AppLogs:
        """The app's recent output (from the runtime, else the log file it left)."""
        with self.db.session() as s:
            dep = self._get(s, principal, dep_id)
            status = dep.status
            paths = [i.log_path for i in self._instances_of(s, [dep_id])[dep_id] if i.log_path]
        found = self.runtime.logs(self.runtime_name(dep_id), lines)
        if not found:
            found = app_logs.tail_file(Path(paths[0]) if paths else self.log_path(dep_id), lines)
        return schemas.AppLogs(
            deployment_id=dep_id,
            status=status,
            lines=found,
            patterns_detected=app_logs.detect(found),
        )

    # --- stop, purge ---------------------------------------------------------------------------
    def stop(self, principal: Principal, dep_id: uuid.UUID) -> bool:
        """Stop the app; stopping a stopped (or failed) app again is harmless."""
        with self.db.session() as s:
            self._get(s, principal, dep_id)
        self._set_if_active(dep_id, "STOPPING")
        self._stop_now(dep_id)
        return True

    def _set_if_active(self, dep_id: uuid.UUID, status: str) -> None:
        def work(s: Session) -> None:
            row = s.get(AppDeployment, dep_id)
            if row is not None and row.status in ACTIVE_STATUSES:
                row.status = status

        self.db.transaction(work)
        self._gate_cache.pop(dep_id, None)

    def _stop_now(self, dep_id: uuid.UUID) -> None:
        with self._lock(dep_id):
            self.runtime.stop(self.runtime_name(dep_id))
            self.router.remove(str(dep_id))

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
            self._gate_cache.pop(dep_id, None)

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
        self._gate_cache.pop(dep_id, None)

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
        self._set(row.id, session_expires_at=expires)
        return schemas.SessionState(deployment_id=row.id, status=row.status, expires_at=expires)

    def end_session(self, token: str | None) -> schemas.SessionState:
        row = self._session_row(token)
        self._end_ephemeral(row.id)
        return schemas.SessionState(deployment_id=row.id, status="STOPPED", ended=True)

    def _end_ephemeral(self, dep_id: uuid.UUID) -> None:
        self._set_if_active(dep_id, "STOPPING")
        self._stop_now(dep_id)
        self._delete(dep_id)
        log.info("ephemeral app ended", deployment=str(dep_id))

    # --- forward auth (Traefik) ----------------------------------------------------------------
    def cookie_name(self, dep_id: uuid.UUID) -> str:
        return f"{COOKIE_PREFIX}{dep_id.hex[:12]}"

    def issue_cookie(self, principal: Principal, dep_id: uuid.UUID) -> str:
        """A signed, short-lived pass for one app, kept in a cookie scoped to its path."""
        with self.db.session() as s:
            dep = self._get(s, principal, dep_id)
            if dep.status != "DEPLOYED":
                raise BadRequest(f"App {dep_id} is {dep.status}, not DEPLOYED")
        now = int(time.time())
        claims = {"sub": str(principal.user_id), "app": str(dep_id), "iat": now,
                  "exp": now + COOKIE_TTL}  # fmt: skip
        return jwt.encode(claims, self._cookie_key, algorithm="HS256")

    def principal_from_cookie(self, value: str, dep_id: uuid.UUID) -> Principal | None:
        try:
            claims = jwt.decode(value, self._cookie_key, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        if claims.get("app") != str(dep_id):
            return None
        key = "app-cookie:" + value
        cached = self.auth.cached(key)
        if cached is not None:
            return cached
        from waza.services.auth.models import User
        from waza.services.auth.tokens import hash_token

        generation = self.auth.cache.generation
        with self.db.session() as s:
            user = s.get(User, uuid.UUID(str(claims["sub"])))
            if user is None or not user.active or user.deleted:
                return None
            principal = Principal(
                user_id=user.id,
                username=user.username,
                roles=tuple(user.roles or ()),
                method="session",
                email=user.email,
            )
        expires = time.time() + self.settings.auth_cache_ttl
        self.auth.cache.put(hash_token(key), principal, expires, generation)
        return principal

    def gate_cached(self, principal: Principal, dep_id: uuid.UUID) -> bool:
        """`gate` from the 2-second cache (no database): False when the cache cannot say."""
        cached = self._gate_cache.get(dep_id)
        if cached is None or time.monotonic() - cached[2] > GATE_CACHE_SECONDS:
            return False
        self._check_gate(principal, cached[0], cached[1])
        return True

    def gate(self, principal: Principal, dep_id: uuid.UUID) -> None:
        """May this caller use the app now? (owner or admin, app DEPLOYED)"""
        with self.db.session() as s:
            dep = s.get(AppDeployment, dep_id)
            if dep is None:
                raise NotFound(f"App deployment {dep_id} not found")
            owner, status = dep.owner_id, dep.status
        self._gate_cache[dep_id] = (owner, status, time.monotonic())
        self._check_gate(principal, owner, status)

    @staticmethod
    def _check_gate(principal: Principal, owner: uuid.UUID, status: str) -> None:
        if not principal.can_access(owner):
            raise Forbidden("This app belongs to another user")
        if status != "DEPLOYED":
            raise ServiceUnavailable(f"This app is {status}, not DEPLOYED")

    # --- watcher, reconcile --------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            try:
                self.poll_once()
            except Exception as exc:
                log.warning("app watcher error", error=str(exc))

    def poll_once(self) -> None:
        """End expired ephemeral apps; mark apps whose process died FAILED."""
        now = datetime.now(UTC)
        with self.db.session() as s:
            active = [
                (d.id, d.status, d.ephemeral, d.session_expires_at)
                for d in s.scalars(
                    select(AppDeployment).where(AppDeployment.status.in_(ACTIVE_STATUSES))
                )
            ]
        for dep_id, status, ephemeral, expires in active:
            if ephemeral and expires is not None and expires < now:
                log.info("ephemeral app session timed out", deployment=str(dep_id))
                self._end_ephemeral(dep_id)
                continue
            if status != "DEPLOYED" or self._lock(dep_id).locked():
                continue
            seen = self.runtime.observe(self.runtime_name(dep_id))
            if seen.state == "running":
                continue
            if seen.state == "missing" and getattr(self.runtime, "placement", "") == "local":
                continue  # another API process (or the last run) owns it: reconcile decides
            lines = self.runtime.logs(self.runtime_name(dep_id), 200) or app_logs.tail_file(
                self.log_path(dep_id), 200
            )
            code = "APP_EXITED" if seen.state == "exited" else "APP_LOST"
            message = (
                f"the app exited with code {seen.returncode}"
                if seen.state == "exited"
                else f"the app is gone: {seen.detail}"
            )
            self._fail(dep_id, code, message, lines)

    def _reconcile_safely(self) -> None:
        try:
            self.reconcile()
        except Exception as exc:
            log.warning("app reconcile failed", error=str(exc))

    def reconcile(self) -> None:
        """After a restart: finish stops, start what should run, drop routes nobody owns."""
        with self.db.session() as s:
            rows = [(d.id, d.status) for d in s.scalars(select(AppDeployment))]
        active = {dep_id for dep_id, status in rows if status in ACTIVE_STATUSES}
        for dep_id, status in rows:
            if status == "STOPPING":
                self._stop_now(dep_id)
            elif status in ("REQUESTED", "DEPLOYING"):
                self._start_safely(dep_id)
            elif status == "DEPLOYED":
                seen = self.runtime.observe(self.runtime_name(dep_id))
                if seen.state != "running":
                    self._kill_leftover(dep_id)
                    self._set(dep_id, status="REQUESTED")
                    self._start_safely(dep_id)
        for routed in self.router.routes():
            with contextlib.suppress(ValueError):
                if uuid.UUID(routed) not in active:
                    self.router.remove(routed)

    def _kill_leftover(self, dep_id: uuid.UUID) -> None:
        """A process of this app left by an API that died (local placement)."""
        import psutil

        with self.db.session() as s:
            pids = [
                int(i.container_id.removeprefix("pid:"))
                for i in s.scalars(select(AppInstance).where(AppInstance.deployment_id == dep_id))
                if i.container_id and i.container_id.startswith("pid:")
            ]
        for pid in pids:
            with contextlib.suppress(psutil.Error, OSError):
                proc = psutil.Process(pid)
                if proc.environ().get("WAZA_APP_ID") == str(dep_id):
                    proc.kill()
