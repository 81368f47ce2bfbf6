"""App templates, the garden catalog imported as templates, and the templates' images.

Templates are code that runs on the platform's nodes, so only admins create, change, delete or
import them; everyone sees (and deploys) the public and team ones, and their own.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from waza.errors import Conflict, Forbidden, NotFound
from waza.gateway.principal import Principal
from waza.services.apps import schemas
from waza.services.apps.garden import Garden, builtin_apps
from waza.services.apps.infra import AppsInfra
from waza.services.apps.models import AppTemplate
from waza.services.apps.spec import TemplateSpec, parse_template
from waza.services.apps.variables import check_env

VISIBLE_TO_ALL = ("public", "team")  # waza has no teams yet: team = every signed-in user


def visible(principal: Principal, tpl: AppTemplate) -> bool:
    """May this caller see (and deploy) the template?"""
    return (
        tpl.visibility in VISIBLE_TO_ALL
        or principal.is_admin
        or (tpl.owner_id is not None and principal.owns(tpl.owner_id))
    )


def require_admin(principal: Principal, what: str) -> None:
    if not principal.is_admin:
        raise Forbidden(
            f"Only admins may {what}: a template is code that runs on the platform's nodes"
        )


def check_template(compose_yml: str, env_defaults: dict[str, str] | None) -> TemplateSpec:
    """The template's parsed compose document; 400 when it or its env defaults are unusable."""
    spec = parse_template(compose_yml)
    check_env(env_defaults or {}, "env_defaults")
    return spec


def template_view(tpl: AppTemplate) -> schemas.AppTemplate:
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


class TemplateCatalog:
    """Template CRUD, the garden (built-in and remote) and image status/pull."""

    def __init__(self, infra: AppsInfra) -> None:
        self.infra = infra
        self.db = infra.db
        self.garden = Garden(infra.settings)

    # --- templates -----------------------------------------------------------------------------
    def list_templates(
        self, principal: Principal, template_type: str | None = None
    ) -> list[schemas.AppTemplate]:
        with self.db.session() as s:
            query = select(AppTemplate).order_by(AppTemplate.name, AppTemplate.version)
            if template_type:
                query = query.where(AppTemplate.template_type == template_type)
            rows = [t for t in s.scalars(query) if visible(principal, t)]
            return [template_view(t) for t in rows]

    def _template(self, s: Session, principal: Principal, tpl_id: uuid.UUID) -> AppTemplate:
        tpl = s.get(AppTemplate, tpl_id)
        if tpl is None or not visible(principal, tpl):
            raise NotFound(f"App template {tpl_id} not found")
        return tpl

    def get_template(self, principal: Principal, tpl_id: uuid.UUID) -> schemas.AppTemplate:
        with self.db.session() as s:
            return template_view(self._template(s, principal, tpl_id))

    def create_template(
        self, principal: Principal, body: schemas.CreateAppTemplate, builtin: bool = False
    ) -> schemas.AppTemplate:
        require_admin(principal, "create app templates")
        spec = check_template(body.compose_yml, body.env_defaults)

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
            return template_view(tpl)

        return self.db.transaction(work)

    def update_template(
        self, principal: Principal, tpl_id: uuid.UUID, body: schemas.UpdateAppTemplate
    ) -> schemas.AppTemplate:
        require_admin(principal, "change app templates")
        changes = body.model_dump(exclude_unset=True)

        def work(s: Session) -> schemas.AppTemplate:
            tpl = self._template(s, principal, tpl_id)
            compose = changes.get("compose_yml") or tpl.compose_yml
            env = changes.get("env_defaults", tpl.env_defaults)
            check_template(compose, env)
            meta = dict(tpl.meta or {})
            for key, value in changes.items():
                if key in schemas.META_FIELDS:
                    meta[key] = value
                elif value is not None or key in ("description", "display_name"):
                    setattr(tpl, key, value if key != "env_defaults" else dict(value or {}))
            tpl.meta = meta
            return template_view(tpl)

        return self.db.transaction(work)

    def delete_template(self, principal: Principal, tpl_id: uuid.UUID) -> dict[str, Any]:
        require_admin(principal, "delete app templates")

        def work(s: Session) -> dict[str, Any]:
            tpl = self._template(s, principal, tpl_id)
            s.delete(tpl)
            return {"deleted": True, "id": str(tpl_id), "name": tpl.name}

        return self.db.transaction(work)

    # --- garden --------------------------------------------------------------------------------
    def _upsert_garden_app(self, s: Session, app: dict[str, Any]) -> str:
        """Insert or refresh one garden app as a public template: created|updated|same."""
        builtin = app.get("source") == "builtin"
        version = str(app["version"])
        spec = check_template(str(app["compose_yml"]), app.get("env_defaults"))
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
        require_admin(principal, "import garden apps")
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
        if self.infra.runtime.name != "swarm":
            return []
        return parse_template(compose).images

    def image_status(self, principal: Principal, tpl_id: uuid.UUID) -> schemas.ImageStatus:
        runtime = self.infra.runtime
        images = self._images(principal, tpl_id)
        status = runtime.image_status(images) if images else {}
        message = None
        if runtime.name != "swarm":
            message = "The process runtime runs Python apps on the nodes: there are no images."
        elif not images:
            message = "This template names no image."
        return schemas.ImageStatus(
            template_id=tpl_id,
            images=images,
            image_status=status,
            all_images_pulled=all(status.values()),
            runtime=runtime.name,
            message=message,
        )

    def pull_images(self, principal: Principal, tpl_id: uuid.UUID) -> dict[str, Any]:
        images = self._images(principal, tpl_id)
        if not images:
            return {"message": "No images to pull", "images": []}
        results = self.infra.runtime.pull(images)
        ok = sum(1 for r in results if r.get("success"))
        return schemas.ImagePullResult(
            template_id=tpl_id,
            total_images=len(images),
            successful_pulls=ok,
            results=results,
            all_successful=ok == len(images),
        ).model_dump(mode="json")
