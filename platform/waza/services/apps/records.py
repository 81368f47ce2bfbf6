"""Reading app deployments and their instances: who may see which, their API views, their logs.

A deployment is its owner's; admins see all. Another user's deployment is 403 when named, and
absent from lists.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from waza.errors import Forbidden, NotFound
from waza.gateway.principal import Principal
from waza.services.apps import logs as app_logs
from waza.services.apps import schemas
from waza.services.apps.infra import AppsInfra
from waza.services.apps.models import AppDeployment, AppInstance
from waza.services.apps.routing import app_path


def owned(s: Session, principal: Principal, dep_id: uuid.UUID) -> AppDeployment:
    """The deployment, when this caller may use it: 404 unknown, 403 another user's."""
    dep = s.get(AppDeployment, dep_id)
    if dep is None:
        raise NotFound(f"App deployment {dep_id} not found")
    if not principal.can_access(dep.owner_id):
        raise Forbidden("This app deployment belongs to another user")
    return dep


def instances_of(s: Session, dep_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[AppInstance]]:
    out: dict[uuid.UUID, list[AppInstance]] = {d: [] for d in dep_ids}
    if dep_ids:
        query = select(AppInstance).where(AppInstance.deployment_id.in_(dep_ids))
        for inst in s.scalars(query):
            out[inst.deployment_id].append(inst)
    return out


def instance_view(inst: AppInstance) -> schemas.AppInstance:
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


def deployment_view(
    dep: AppDeployment, instances: list[AppInstance], public_url: str
) -> schemas.AppDeployment:
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
        url=public_url + path,
        model_deployment_id=dep.model_deployment_id,
        owner_id=dep.owner_id,
        error_code=dep.error_code,
        error_message=dep.error_message,
        ephemeral=dep.ephemeral,
        session_expires_at=dep.session_expires_at,
        instances=[instance_view(i) for i in instances],
    )


class DeploymentRecords:
    """The read routes: deployments, their status, instances and logs."""

    def __init__(self, infra: AppsInfra) -> None:
        self.infra = infra
        self.db = infra.db

    def view(self, dep: AppDeployment, instances: list[AppInstance]) -> schemas.AppDeployment:
        return deployment_view(dep, instances, self.infra.public_url)

    def list_deployments(self, principal: Principal) -> list[schemas.AppDeployment]:
        with self.db.session() as s:
            query = select(AppDeployment).order_by(AppDeployment.requested_at.desc())
            if not principal.is_admin:
                query = query.where(AppDeployment.owner_id == principal.user_id)
            deps = list(s.scalars(query))
            instances = instances_of(s, [d.id for d in deps])
            return [self.view(d, instances[d.id]) for d in deps]

    def get(self, principal: Principal, dep_id: uuid.UUID) -> schemas.AppDeployment:
        with self.db.session() as s:
            dep = owned(s, principal, dep_id)
            return self.view(dep, instances_of(s, [dep_id])[dep_id])

    def status(self, principal: Principal, dep_id: uuid.UUID) -> str:
        with self.db.session() as s:
            return owned(s, principal, dep_id).status

    def check(self, principal: Principal, dep_id: uuid.UUID) -> None:
        """404/403 unless the caller may use this deployment."""
        with self.db.session() as s:
            owned(s, principal, dep_id)

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
                instance_view(inst)
                for inst, owner in s.execute(query)
                if principal.can_access(owner)
            ]

    def instance(self, principal: Principal, inst_id: uuid.UUID) -> schemas.AppInstance:
        with self.db.session() as s:
            inst = s.get(AppInstance, inst_id)
            dep = s.get(AppDeployment, inst.deployment_id) if inst else None
            if inst is None or dep is None or not principal.can_access(dep.owner_id):
                raise NotFound(f"App instance {inst_id} not found")
            return instance_view(inst)

    def logs(self, principal: Principal, dep_id: uuid.UUID, lines: int = 200) -> schemas.AppLogs:
        """The app's recent output (from the runtime, else the log file it left)."""
        with self.db.session() as s:
            dep = owned(s, principal, dep_id)
            status = dep.status
            paths = [i.log_path for i in instances_of(s, [dep_id])[dep_id] if i.log_path]
        found = self.infra.runtime.logs(self.infra.runtime_name(dep_id), lines)
        if not found:
            path = Path(paths[0]) if paths else self.infra.log_path(dep_id)
            found = app_logs.tail_file(path, lines)
        return schemas.AppLogs(
            deployment_id=dep_id,
            status=status,
            lines=found,
            patterns_detected=app_logs.detect(found),
        )

    def recent_lines(self, dep_id: uuid.UUID, lines: int = 200) -> list[str]:
        """The app's last lines from the runtime, else from its log file (no access check)."""
        name = self.infra.runtime_name(dep_id)
        found: list[str] = self.infra.runtime.logs(name, lines)
        return found or app_logs.tail_file(self.infra.log_path(dep_id), lines)
