"""Serving: deploy models as Ray Serve applications, report their state, route runtime calls.

A deploy is validated up front (model and config exist and are readable, the engine exists and
can run here, the cluster can ever hold the replicas; otherwise 400/404 with the reason), stored
as REQUESTED, and carried out in the background by the `Supervisor`, so
``POST /serving/deploy_model`` answers at once with the id the SDK then polls.

Access: the owner and admins see and stop a deployment; a deployment of a non-private model is
visible to and callable by every user; a private one is a 403 to others.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from waza.db import Database
from waza.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.logger.patterns import analyze
from waza.services.models.service import ModelService, ModelSource
from waza.services.serving import schemas
from waza.services.serving.engines import select_engine
from waza.services.serving.engines.base import Engine, EngineSpec
from waza.services.serving.lifecycle import Supervisor
from waza.services.serving.models import (
    ACTIVE_STATUSES,
    Deployment,
    DeploymentEvent,
    DeploymentInstance,
)
from waza.services.serving.ray_cluster import ClusterResources, RayCluster
from waza.services.serving.usage import UsageRecorder
from waza.settings import Settings

log = get_logger("waza.serving")

RUNTIME_PREFIX = "/runtime/models"
TARGET_CACHE_SECONDS = 2.0


class RuntimeTarget:
    """What the runtime routes need to call a deployment."""

    def __init__(self, dep_id: uuid.UUID, name: str, engine: str, handle: Any) -> None:
        self.id = dep_id
        self.name = name
        self.engine = engine
        self.handle = handle


class ServingService:
    """Deployments: create, inspect, stop, logs, usage; owns the Ray connection."""

    def __init__(self, db: Database, settings: Settings, models: ModelService) -> None:
        self.db = db
        self.settings = settings
        self.models = models
        self.cluster = RayCluster(settings)
        self.supervisor = Supervisor(db, settings, self.cluster)
        self.supervisor.on_stopped = self.forget
        self.usage = UsageRecorder(db, settings.usage_flush_interval)
        self._targets: dict[uuid.UUID, tuple[float, Deployment, Any]] = {}
        self._targets_lock = threading.Lock()

    # --- process lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Reconcile recorded deployments with Ray, in the background."""
        threading.Thread(target=self._reconcile, name="waza-reconcile", daemon=True).start()

    def _reconcile(self) -> None:
        try:
            self.supervisor.reconcile()
        except Exception as exc:
            log.warning("reconcile failed", error=str(exc))

    def close(self) -> None:
        self.supervisor.close()
        self.usage.close()
        self.cluster.disconnect()

    # --- planning ------------------------------------------------------------------------------
    def _cluster_resources(self) -> ClusterResources:
        planned = self.cluster.planned_resources()
        if planned is not None:
            return planned
        try:
            return self.cluster.resources()
        except Exception as exc:
            raise ServiceUnavailable(f"Ray cluster unreachable: {exc}") from None

    def plan(
        self, principal: Principal, body: schemas.CreateModelDeployment
    ) -> tuple[ModelSource, type[Engine], EngineSpec, dict[str, Any]]:
        """Resolve model, config, engine and resources; 4xx with the reason when impossible."""
        source = self.models.deploy_source(principal, body.m_id, body.m_config_id, body.m_file_id)
        config = dict(source.config or {})
        res = self._cluster_resources()
        gpus_total = res.total.get("GPU", 0.0)
        wants_gpu = body.gpu_allocation is not None and body.gpu_allocation > 0
        if wants_gpu and body.force_cpu:
            raise BadRequest(
                {
                    "reason": "conflicting_options",
                    "message": "force_cpu and gpu_allocation > 0 contradict each other",
                }
            )
        if wants_gpu and gpus_total <= 0:
            raise BadRequest(
                {
                    "reason": "insufficient_gpus",
                    "message": f"gpu_allocation={body.gpu_allocation:g} but the cluster has no GPU",
                    "requested": {"GPU": body.gpu_allocation},
                    "cluster": res.total,
                }
            )
        use_gpu = not body.force_cpu and gpus_total > 0 and body.gpu_allocation != 0
        device = "cuda" if use_gpu else "cpu"
        requested_engine = body.engine_name or config.get("engine")
        path = source.path
        try:
            engine = select_engine(path, source.purpose, device, requested_engine)
        except ValueError as exc:
            if device != "cuda" or wants_gpu:
                raise BadRequest({"reason": "bad_engine", "message": str(exc)}) from None
            device = "cpu"  # e.g. a llama.cpp build without GPU support: run it on CPUs
            try:
                engine = select_engine(path, source.purpose, device, requested_engine)
            except ValueError as exc2:
                raise BadRequest({"reason": "bad_engine", "message": str(exc2)}) from None
        defaults = engine.default_resources(device, config)
        num_cpus = float(body.cpu_allocation or config.get("num_cpus") or defaults.num_cpus)
        num_gpus = (
            float(body.gpu_allocation or config.get("num_gpus") or defaults.num_gpus)
            if device == "cuda"
            else 0.0
        )
        custom: dict[str, float] = {}
        if body.node_resource_type:
            custom[body.node_resource_type] = 0.001
        self._check_fit(res, num_cpus, num_gpus, custom)
        if not body.autoscaling and body.starting_copies < 1:
            raise BadRequest("starting_copies must be at least 1 unless autoscaling is on")
        max_copies = body.max_copies or max(body.starting_copies, body.min_copies, 1)
        if body.autoscaling and max_copies < max(body.min_copies, 1):
            raise BadRequest("max_copies must be at least min_copies")
        spec = EngineSpec(
            engine=engine.name,
            model_path=str(path) if path else "",
            model_name=source.name,
            device=device,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            options={k: v for k, v in config.items() if k not in {"engine"}},
        )
        options: dict[str, Any] = {
            "num_cpus": num_cpus,
            "num_gpus": num_gpus,
            "resources": custom,
            "num_replicas": max(body.starting_copies, body.min_copies, 1),
            "min_replicas": body.min_copies,
            "max_replicas": max_copies,
            "autoscaling": body.autoscaling,
            "autoscaling_config": dict(config.get("autoscaling_config") or {}),
            "max_ongoing_requests": body.max_concurrent_requests or 16,
        }
        return source, engine, spec, options

    @staticmethod
    def _check_fit(
        res: ClusterResources, num_cpus: float, num_gpus: float, custom: dict[str, float]
    ) -> None:
        need = {"CPU": num_cpus, "GPU": num_gpus, **custom}
        for key, amount in need.items():
            have = res.total.get(key, 0.0)
            if amount > 0 and amount > have + 1e-9:
                noun = {"CPU": "CPUs", "GPU": "GPUs"}.get(key, f"resource '{key}'")
                raise BadRequest(
                    {
                        "reason": f"insufficient_{key.lower()}"
                        if key in {"CPU", "GPU"}
                        else "unknown_resource",
                        "message": f"not enough {noun}: one replica needs {amount:g}, "
                        f"the cluster has {have:g}",
                        "requested": need,
                        "cluster": res.total,
                    }
                )

    # --- deploy / stop -------------------------------------------------------------------------
    def deploy(self, principal: Principal, body: schemas.CreateModelDeployment) -> uuid.UUID:
        source, engine, spec, options = self.plan(principal, body)
        options["graceful_shutdown_s"] = 10
        dep = Deployment(
            id=uuid.uuid4(),
            owner_id=principal.user_id,
            m_id=source.model_id,
            m_config_id=source.config_id,
            m_file_id=source.file_id,
            m_name=source.name,
            private=source.private,
            engine_name=engine.name,
            status="REQUESTED",
            request=body.model_dump(mode="json", by_alias=True),
            spec=spec.__dict__ | {"options": dict(spec.options)},
            options=options,
        )

        def work(s: Any) -> None:
            s.add(dep)
            s.flush()
            s.add(
                DeploymentEvent(
                    deployment_id=dep.id,
                    message=f"requested by {principal.username}: {source.name} with engine "
                    f"{engine.name} on {spec.device} (CPUs {spec.num_cpus:g}, GPUs "
                    f"{spec.num_gpus:g}, replicas {options['num_replicas']})",
                )
            )

        self.db.transaction(work)
        self.supervisor.submit(dep.id)
        return dep.id

    def stop(self, principal: Principal, dep_id: uuid.UUID, force: bool) -> bool:
        dep = self._get(principal, dep_id)
        if not principal.can_access(dep.owner_id):
            raise Forbidden("Only the owner or an admin can stop this deployment")
        self.supervisor.stop(dep_id, force)
        return True

    def forget(self, dep_id: uuid.UUID) -> None:
        with self._targets_lock:
            self._targets.pop(dep_id, None)

    # --- reads ---------------------------------------------------------------------------------
    def _readable(self, principal: Principal, dep: Deployment) -> bool:
        return principal.can_access(dep.owner_id) or not dep.private

    def _get(self, principal: Principal, dep_id: uuid.UUID) -> Deployment:
        with self.db.session() as s:
            dep = s.get(Deployment, dep_id)
        if dep is None:
            raise NotFound(f"Deployment {dep_id} not found")
        if not self._readable(principal, dep):
            raise Forbidden("This deployment is private to its owner")
        return dep

    def _view(
        self, dep: Deployment, instances: list[DeploymentInstance]
    ) -> schemas.UIModelDeployment:
        req = dep.request or {}
        path = f"{RUNTIME_PREFIX}/{dep.id}"
        live = [i for i in instances if i.status != "STOPPED"] or instances
        return schemas.UIModelDeployment(
            id=dep.id,
            m_id=dep.m_id,
            m_config_id=dep.m_config_id,
            m_file_id=dep.m_file_id,
            m_name=dep.m_name,
            status=dep.status,
            requested_at=dep.requested_at,
            deployed_at=dep.deployed_at,
            stopped_at=dep.stopped_at,
            engine_name=dep.engine_name,
            duration=req.get("duration"),
            min_copies=int(req.get("min_copies") or 1),
            starting_copies=int(req.get("starting_copies") or 1),
            max_copies=req.get("max_copies"),
            location=req.get("location"),
            lb_port=0,
            autoscaling=bool(req.get("autoscaling")),
            force_cpu=bool(req.get("force_cpu")),
            node_resource_type=req.get("node_resource_type"),
            max_concurrent_requests=req.get("max_concurrent_requests"),
            vram_allocation=req.get("vram_allocation"),
            gpu_allocation=dep.options.get("num_gpus"),
            serve_path=path,
            access_path=path,
            last_error_code=dep.last_error_code,
            last_error_message=dep.last_error_message,
            instances=[_instance_view(i) for i in live],
            canonical_model_id=dep.m_name,
            host_ip=next((i.node_ip for i in live if i.node_ip), None),
            owner_id=dep.owner_id,
            private=dep.private,
            resources={
                "num_cpus": dep.options.get("num_cpus"),
                "num_gpus": dep.options.get("num_gpus"),
                "device": dep.spec.get("device"),
                **{k: v for k, v in (dep.options.get("resources") or {}).items()},
            },
        )

    def _instances(self, dep_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[DeploymentInstance]]:
        out: dict[uuid.UUID, list[DeploymentInstance]] = {d: [] for d in dep_ids}
        if not dep_ids:
            return out
        with self.db.session() as s:
            rows = s.scalars(
                select(DeploymentInstance)
                .where(DeploymentInstance.deployment_id.in_(dep_ids))
                .order_by(DeploymentInstance.deployed_at)
            )
            for inst in rows:
                out[inst.deployment_id].append(inst)
        return out

    def list_deployments(
        self, principal: Principal, model_id: uuid.UUID | None = None
    ) -> list[schemas.UIModelDeployment]:
        with self.db.session() as s:
            query = select(Deployment).order_by(Deployment.requested_at.desc())
            if model_id is not None:
                query = query.where(Deployment.m_id == model_id)
            deps = [d for d in s.scalars(query) if self._readable(principal, d)]
        instances = self._instances([d.id for d in deps])
        return [self._view(d, instances[d.id]) for d in deps]

    def deployments_of_model(self, model_id: uuid.UUID) -> list[dict[str, Any]]:
        """Active deployments of a model (for `GET /api/models/{id}/deployment_info`)."""
        with self.db.session() as s:
            rows = s.scalars(
                select(Deployment).where(
                    Deployment.m_id == model_id, Deployment.status.in_(ACTIVE_STATUSES)
                )
            )
            return [
                {"id": str(d.id), "status": d.status, "engine_name": d.engine_name,
                 "access_path": f"{RUNTIME_PREFIX}/{d.id}"}
                for d in rows
            ]  # fmt: skip

    def get(self, principal: Principal, dep_id: uuid.UUID) -> schemas.UIModelDeployment:
        dep = self._get(principal, dep_id)
        return self._view(dep, self._instances([dep.id])[dep.id])

    def status(self, principal: Principal, dep_id: uuid.UUID) -> str:
        return self._get(principal, dep_id).status

    def instances(
        self, principal: Principal, dep_id: uuid.UUID | None
    ) -> list[schemas.ModelInstance]:
        if dep_id is not None:
            dep_ids = [self._get(principal, dep_id).id]
        else:
            dep_ids = [d.id for d in self.list_deployments(principal)]
        found = self._instances(dep_ids)
        return [_instance_view(i) for ids in dep_ids for i in found[ids]]

    def instance(self, principal: Principal, inst_id: uuid.UUID) -> schemas.ModelInstance:
        with self.db.session() as s:
            inst = s.get(DeploymentInstance, inst_id)
        if inst is None:
            raise NotFound(f"Model instance {inst_id} not found")
        self._get(principal, inst.deployment_id)
        return _instance_view(inst)

    # --- logs ----------------------------------------------------------------------------------
    def _events(self, dep_id: uuid.UUID) -> list[str]:
        with self.db.session() as s:
            rows = s.scalars(
                select(DeploymentEvent)
                .where(DeploymentEvent.deployment_id == dep_id)
                .order_by(DeploymentEvent.at)
            )
            return [
                f"{e.at.isoformat(timespec='milliseconds')} {e.level} {e.message}" for e in rows
            ]

    def _replica_lines(self, dep: Deployment) -> tuple[list[str], int]:
        if dep.status not in {"DEPLOYED", "UNHEALTHY"}:
            return [], 0
        try:
            handle = self._handle(dep)
            result = handle.logs.remote().result(timeout_s=5)
            return list(result["lines"]), int(result["seen"])
        except Exception as exc:
            return [f"(replica logs unavailable: {exc})"], 0

    def logs(self, principal: Principal, dep_id: uuid.UUID) -> schemas.DeploymentLogs:
        return self._logs(self._get(principal, dep_id))

    def deployment_log(self, dep_id: uuid.UUID) -> schemas.DeploymentLogs:
        """A deployment's log without an access check (for the logger, which checks itself)."""
        with self.db.session() as s:
            dep = s.get(Deployment, dep_id)
        if dep is None:
            raise NotFound(f"Deployment {dep_id} not found")
        return self._logs(dep)

    def _logs(self, dep: Deployment) -> schemas.DeploymentLogs:
        events = self._events(dep.id)
        lines, seen = self._replica_lines(dep)
        all_lines = events + lines
        return schemas.DeploymentLogs(
            deployment_id=dep.id,
            engine_type=dep.engine_name,
            log_file_path=f"ray-serve://{self.supervisor.app_name(dep.id)}/{dep.engine_name}",
            logs=all_lines,
            total_lines_seen=len(events) + max(seen, len(lines)),
            current_lines_stored=len(all_lines),
            capture_active=dep.status in ACTIVE_STATUSES,
        )

    def patterns(self, principal: Principal, dep_id: uuid.UUID) -> schemas.LogPatterns:
        """Failure patterns in the logs (the logger's analysis, `waza.services.logger`)."""
        found = analyze(self.logs(principal, dep_id).logs)
        return schemas.LogPatterns(
            deployment_id=dep_id,
            patterns_detected=found.patterns_detected,
            analysis_timestamp=datetime.now(UTC),
            failure_lines=[f.line for f in found.failure_lines],
        )

    def engine_logs(self, principal: Principal, engine: str) -> schemas.EngineLogs:
        with self.db.session() as s:
            deps = [
                d
                for d in s.scalars(select(Deployment).where(Deployment.engine_name == engine))
                if self._readable(principal, d)
            ]
        return schemas.EngineLogs(
            engine_type=engine,
            logs=[
                {"deployment_id": str(d.id), "status": d.status, "lines": self._events(d.id)[-20:]}
                for d in deps
            ],
        )

    # --- estimates, cluster --------------------------------------------------------------------
    def estimate(self, principal: Principal, body: dict[str, Any]) -> schemas.VramEstimate:
        """VRAM a deployment would need; a best effort that answers even for unknown ids."""
        try:
            m_id = uuid.UUID(str(body.get("m_id")))
            size = self.models.memory_usage(principal, m_id)
        except Exception as exc:
            return schemas.VramEstimate(
                computed_vram_estimate=None, estimation_source="unavailable", detail=str(exc)
            )
        engine = body.get("engine_name")
        # weights + ~20% for activations and the KV cache of a small context
        return schemas.VramEstimate(
            computed_vram_estimate=int(size * 1.2),
            estimation_source="model_file_size",
            model_size_bytes=size,
            engine_name=engine,
        )

    def serving_status(self) -> schemas.ServingStatus:
        address = self.cluster.running_address()
        with self.db.session() as s:
            active = len(
                list(s.scalars(select(Deployment.id).where(Deployment.status.in_(ACTIVE_STATUSES))))
            )
        if not address:
            return schemas.ServingStatus(
                status="not running",
                managed=not self.cluster.external_address,
                deployments_active=active,
            )
        try:
            res = self.cluster.resources()
        except Exception:
            return schemas.ServingStatus(
                status="not running",
                address=address,
                managed=not self.cluster.external_address,
                deployments_active=active,
            )
        return schemas.ServingStatus(
            status="running",
            address=address,
            applications=self.supervisor.applications(),
            managed=not self.cluster.external_address,
            resources=res.total,
            available=res.available,
            deployments_active=active,
        )

    def health(self) -> list[dict[str, Any]]:
        nodes = self.cluster.nodes() if self.cluster.running_address() else []
        return [
            {
                "node_id": n.get("NodeID"),
                "address": n.get("NodeManagerAddress"),
                "alive": bool(n.get("Alive")),
                "resources": n.get("Resources", {}),
            }
            for n in nodes
        ]

    def start_ray(self, body: schemas.StartRay) -> dict[str, Any]:
        if body.address and body.address != self.cluster.running_address():
            raise BadRequest(
                "waza joins the cluster named by WAZA_RAY_ADDRESS/RAY_ADDRESS; set it and restart"
            )
        try:
            self.cluster.ensure_serve()
        except Exception as exc:
            raise ServiceUnavailable(f"Ray could not start: {exc}") from None
        return {"status": "running", "address": self.cluster.running_address()}

    # --- runtime -------------------------------------------------------------------------------
    def _handle(self, dep: Deployment) -> Any:
        from ray import serve

        self.cluster.connect(start=False)
        return serve.get_app_handle(self.supervisor.app_name(dep.id))

    def cached_target(self, principal: Principal, dep_id: uuid.UUID) -> RuntimeTarget | None:
        """The target from the cache when fresh and the caller may use it (never blocks)."""
        with self._targets_lock:
            cached = self._targets.get(dep_id)
        if cached is None or time.monotonic() - cached[0] >= TARGET_CACHE_SECONDS:
            return None
        dep, handle = cached[1], cached[2]
        if not self._readable(principal, dep):
            return None
        return RuntimeTarget(dep.id, dep.m_name, dep.engine_name, handle)

    def runtime_target(self, principal: Principal, dep_id: uuid.UUID) -> RuntimeTarget:
        """The handle of a DEPLOYED deployment the caller may use (cached for ~2 s)."""
        now = time.monotonic()
        with self._targets_lock:
            cached = self._targets.get(dep_id)
        if cached is not None and now - cached[0] < TARGET_CACHE_SECONDS:
            dep, handle = cached[1], cached[2]
        else:
            dep = self._get(principal, dep_id)
            if dep.status not in {"DEPLOYED", "UNHEALTHY"}:
                self.forget(dep_id)
                raise Conflict(f"Deployment {dep_id} is {dep.status}, not DEPLOYED")
            handle = cached[2] if cached is not None else self._handle(dep)
            with self._targets_lock:
                self._targets[dep_id] = (now, dep, handle)
        if not self._readable(principal, dep):
            raise Forbidden("This deployment is private to its owner")
        return RuntimeTarget(dep.id, dep.m_name, dep.engine_name, handle)

    def runtime_models(self, principal: Principal, dep_id: uuid.UUID) -> list[dict[str, Any]]:
        dep = self._get(principal, dep_id)
        created = int(dep.requested_at.timestamp())
        return [
            {"id": dep.m_name, "object": "model", "created": created, "owned_by": "waza"},
        ]

    def usage_summary(
        self, principal: Principal, deployment_id: uuid.UUID | None, all_users: bool
    ) -> list[schemas.UsageSummary]:
        user = None if (all_users and principal.is_admin) else principal.user_id
        return [
            schemas.UsageSummary.model_validate(r) for r in self.usage.summary(user, deployment_id)
        ]


def _instance_view(inst: DeploymentInstance) -> schemas.ModelInstance:
    return schemas.ModelInstance(
        id=inst.id,
        deployment_id=inst.deployment_id,
        deployed_at=inst.deployed_at,
        container_id=inst.replica_name,
        node_id=uuid.uuid5(uuid.NAMESPACE_URL, f"ray-node:{inst.node_id}")
        if inst.node_id
        else None,
        ray_node_id=inst.node_id,
        host_name=inst.node_ip,
        status=inst.status,
        pid=inst.pid,
    )
