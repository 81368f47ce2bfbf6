"""What happens to a deployment inside Ray: submit, watch, fail, stop, reconcile.

One `Supervisor` per API process. Deploy jobs run on a small thread pool (starting the local Ray
head can take ~10 s); a watcher thread reads Serve's status about once a second while any
deployment is active and moves each one along REQUESTED → DEPLOYING → INITIALIZING → DEPLOYED,
or to FAILED/ERROR with an error code. All Ray calls happen on these threads, never on the event
loop. After a restart `reconcile()` re-attaches running applications, redeploys recorded ones Ray
lost, and deletes ``waza-*`` applications nobody owns.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from waza.db import Database
from waza.db.base import utcnow
from waza.gateway.logging import get_logger
from waza.services.serving.models import (
    ACTIVE_STATUSES,
    Deployment,
    DeploymentEvent,
    DeploymentInstance,
)
from waza.services.serving.ray_cluster import RayCluster
from waza.settings import Settings

log = get_logger("waza.serving")

APP_PREFIX = "waza-"
ENGINE_DEPLOYMENT = "engine"
ERROR_CODES = (
    "MODEL_LOADING_FAILURE",
    "OOM",
    "STARTUP_TIMEOUT",
    "INSUFFICIENT_RESOURCES",
    "UNSUPPORTED_OPERATION",
    "RUNTIME_ERROR",
    "RAY_UNAVAILABLE",
)
_CODE_RE = re.compile(r"\[(" + "|".join(ERROR_CODES) + r")\]\s*([^\n]*)")
PENDING_RESOURCES_GRACE = 20.0  # seconds a replica may wait for resources before we give up
APP_APPEAR_GRACE = 15.0  # seconds a just-submitted application may be missing from Serve
RAY_LOST_AFTER = 5.0  # seconds the joined cluster may not answer before its deployments fail
RAY_LOST = "RAY_UNAVAILABLE"


def error_from_message(message: str) -> tuple[str, str]:
    """(code, short message) from a Serve failure message."""
    match = _CODE_RE.search(message or "")
    if match:
        return match.group(1), match.group(2).strip()
    lowered = (message or "").lower()
    if "outofmemory" in lowered or "out of memory" in lowered:
        return "OOM", _last_line(message)
    return "RUNTIME_ERROR", _last_line(message)


def _last_line(message: str) -> str:
    lines = [ln.strip() for ln in (message or "").splitlines() if ln.strip()]
    return (lines[-1] if lines else "unknown error")[:2000]


def instance_id(replica_name: str) -> uuid.UUID:
    """A stable instance id for a Serve replica actor name."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"waza-replica:{replica_name}")


class Supervisor:
    """Drives deployments in Ray Serve and mirrors what Serve reports into the database."""

    def __init__(self, db: Database, settings: Settings, cluster: RayCluster) -> None:
        self.db = db
        self.settings = settings
        self.cluster = cluster
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="waza-deploy")
        self._serve_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._pending_since: dict[uuid.UUID, float] = {}
        self._unreachable_since: float | None = None
        self._reachable_since: float | None = None
        self.on_stopped: Callable[[uuid.UUID], None] | None = None
        # Serve applications of this installation share a prefix, so several waza installs can
        # use one Ray cluster without touching each other's deployments (reconcile, orphans).
        digest = hashlib.sha1(settings.effective_database_url.encode()).hexdigest()[:8]  # noqa: S324
        self.app_prefix = f"{APP_PREFIX}{digest}-"

    def app_name(self, dep_id: uuid.UUID) -> str:
        """The Ray Serve application of a deployment."""
        return f"{self.app_prefix}{dep_id.hex}"

    # --- events --------------------------------------------------------------------------------
    def event(self, s: Session, dep_id: uuid.UUID, message: str, level: str = "INFO") -> None:
        s.add(DeploymentEvent(deployment_id=dep_id, message=message, level=level))

    def _update(self, dep_id: uuid.UUID, change: Callable[[Session, Deployment], None]) -> None:
        def work(s: Session) -> None:
            dep = s.get(Deployment, dep_id)
            if dep is not None:
                change(s, dep)

        self.db.transaction(work)

    def set_status(
        self,
        dep_id: uuid.UUID,
        status: str,
        message: str | None = None,
        *,
        code: str | None = None,
        only_if_active: bool = True,
    ) -> None:
        def change(s: Session, dep: Deployment) -> None:
            if only_if_active and dep.status not in ACTIVE_STATUSES:
                return
            if dep.status == status and code is None:
                return
            dep.status = status
            if status == "DEPLOYED" and dep.deployed_at is None:
                dep.deployed_at = utcnow()
            if code is not None:
                dep.last_error_code = code
                dep.last_error_message = message
            level = "ERROR" if status in {"FAILED", "ERROR"} else "INFO"
            text = (
                f"status {status}"
                + (f" [{code}]" if code else "")
                + (f": {message}" if message else "")
            )
            self.event(s, dep.id, text, level)
            log.info("deployment status", deployment=str(dep_id), status=status, code=code)

        self._update(dep_id, change)

    # --- deploy --------------------------------------------------------------------------------
    def submit(self, dep_id: uuid.UUID) -> None:
        """Run the deploy of a REQUESTED deployment in the background."""
        self._pool.submit(self._deploy, dep_id)

    def _deploy(self, dep_id: uuid.UUID) -> None:
        try:
            self._deploy_now(dep_id)
        except Exception as exc:  # never leave a deployment stuck in DEPLOYING
            log.exception("deploy failed", deployment=str(dep_id))
            self.set_status(dep_id, "FAILED", f"{type(exc).__name__}: {exc}", code="RUNTIME_ERROR")
            self._delete_app(self.app_name(dep_id))

    def _deploy_now(self, dep_id: uuid.UUID) -> None:
        with self.db.session() as s:
            dep = s.get(Deployment, dep_id)
            if dep is None or dep.status not in ACTIVE_STATUSES:
                return
            spec, options, app_name = dict(dep.spec), dict(dep.options), self.app_name(dep.id)
        self.set_status(
            dep_id, "DEPLOYING", "starting Ray" if not self.cluster.running_address() else None
        )
        path = spec.get("model_path")
        if not path or not Path(path).exists():
            self.set_status(
                dep_id,
                "FAILED",
                f"model files not found at {path or '(no local files)'}",
                code="MODEL_LOADING_FAILURE",
            )
            return
        self.cluster.ensure_serve()
        shortfall = self._shortfall(options)
        if shortfall:
            self.set_status(dep_id, "FAILED", shortfall, code="INSUFFICIENT_RESOURCES")
            return
        from ray import serve

        # Building a deployment is not thread-safe in Ray Serve either: its configs register and
        # unregister modules with cloudpickle, so two deploys at once could unregister each
        # other's ("... is not registered for pickle by value"). Serve's own threads do the same
        # when they decode configs; `pickling.make_registry_thread_safe` covers those.
        with self._serve_lock:
            app = self._build_app(dep_id, spec, options)
            serve._run(app, _blocking=False, name=app_name, route_prefix=None)
        self.set_status(dep_id, "INITIALIZING", f"application {app_name} submitted to Ray Serve")
        self._ensure_watcher()

    def _shortfall(self, options: dict[str, Any]) -> str | None:
        """Why the replicas cannot be placed now (None when they fit)."""
        res = self.cluster.resources()
        copies = max(1, int(options.get("num_replicas") or options.get("min_replicas") or 1))
        need = dict(options.get("resources") or {})
        need["CPU"] = float(options.get("num_cpus", 0)) * copies
        need["GPU"] = float(options.get("num_gpus", 0)) * copies
        for key, amount in need.items():
            if amount <= 0:
                continue
            free = res.available.get(key, 0.0)
            if amount > free + 1e-9:
                return (
                    f"not enough {key} free: the replicas need {amount:g}, {free:g} of "
                    f"{res.total.get(key, 0.0):g} are free now"
                )
        return None

    def _build_app(self, dep_id: uuid.UUID, spec: dict[str, Any], options: dict[str, Any]) -> Any:
        from ray import serve

        from waza.services.serving.replica import EngineReplica

        actor: dict[str, Any] = {
            "num_cpus": float(options.get("num_cpus", 1.0)),
            "num_gpus": float(options.get("num_gpus", 0.0)),
        }
        if options.get("resources"):
            actor["resources"] = dict(options["resources"])
        kwargs: dict[str, Any] = {
            "name": ENGINE_DEPLOYMENT,
            "ray_actor_options": actor,
            "max_ongoing_requests": int(options.get("max_ongoing_requests") or 16),
            "health_check_period_s": 5,
            "graceful_shutdown_timeout_s": float(options.get("graceful_shutdown_s", 10)),
            "max_constructor_retry_count": 1,
        }
        if options.get("autoscaling"):
            kwargs["autoscaling_config"] = {
                "min_replicas": int(options.get("min_replicas", 1)),
                "initial_replicas": int(options.get("num_replicas", 1)),
                "max_replicas": int(options.get("max_replicas", 1)),
                **dict(options.get("autoscaling_config") or {}),
            }
        else:
            kwargs["num_replicas"] = int(options.get("num_replicas", 1))
        deployment: Any = serve.deployment(EngineReplica, **kwargs)
        return deployment.bind(spec, str(dep_id))

    # --- stop ----------------------------------------------------------------------------------
    def stop(self, dep_id: uuid.UUID, force: bool) -> None:
        """Delete the Serve application (force: kill replicas first) and mark STOPPED."""
        app_name = self.app_name(dep_id)

        def stopping(s: Session, dep: Deployment) -> None:
            if dep.status != "STOPPED":
                dep.status = "STOPPING"  # not active: the watcher leaves it alone from now on

        self._update(dep_id, stopping)
        if self.cluster.running_address() and self.cluster.connect(start=False):
            if force:
                self._kill_replicas(app_name)
            self._delete_app(app_name, blocking=not force)

        def change(s: Session, dep: Deployment) -> None:
            if dep.status != "STOPPED":
                dep.status = "STOPPED"
                dep.stopped_at = utcnow()
                self.event(s, dep.id, "stopped" + (" (force)" if force else ""))
            for inst in s.scalars(
                select(DeploymentInstance).where(DeploymentInstance.deployment_id == dep.id)
            ):
                inst.status = "STOPPED"

        self._update(dep_id, change)
        if self.on_stopped:
            self.on_stopped(dep_id)

    def _delete_app(self, app_name: str, blocking: bool = False) -> None:
        from ray import serve

        if not self.cluster.running_address():
            return
        try:
            with self._serve_lock:
                serve.delete(app_name, _blocking=blocking)
        except Exception as exc:
            log.warning("serve.delete failed", app=app_name, error=str(exc))

    def _kill_replicas(self, app_name: str) -> None:
        import ray

        for actor in self._replica_actors(app_name):
            if actor.get("State") == "DEAD":
                continue
            try:
                ray.kill(ray.get_actor(actor["Name"], namespace="serve"), no_restart=True)
            except Exception as exc:
                log.warning("replica kill failed", actor=actor.get("Name"), error=str(exc))

    # --- watch ---------------------------------------------------------------------------------
    def _ensure_watcher(self) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._stop.clear()
            self._watcher = threading.Thread(
                target=self._watch, name="waza-serve-watch", daemon=True
            )
            self._watcher.start()
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                active = self.poll_once() if self.check_ray() else True
            except Exception as exc:
                log.warning("serve status poll failed", error=str(exc))
                active = True
            self._wake.wait(1.0 if active else 5.0)
            self._wake.clear()

    # --- losing Ray and getting it back ---------------------------------------------------------
    def check_ray(self) -> bool:
        """Handle the joined cluster going away or coming back; False while it is away.

        When the cluster's GCS stops answering for `RAY_LOST_AFTER` s, this process lets go of
        Ray (so Ray's own driver timeout cannot end the API) and fails the active deployments
        with code RAY_UNAVAILABLE. Once the cluster answers again, those deployments are
        deployed again.
        """
        address = self.cluster.connected_to
        if address is not None:
            if self.cluster.reachable(address):
                self._unreachable_since = None
                return True
            now = time.monotonic()
            self._unreachable_since = self._unreachable_since or now
            if now - self._unreachable_since >= RAY_LOST_AFTER:
                self._ray_lost(address)
            return False
        lost = self._lost_to_ray()
        if not (lost and self.cluster.running_address() and self.cluster.reachable()):
            self._reachable_since = None
            return True
        # a head that is still starting accepts connections before it can take a driver:
        # wait until it has answered for a while
        now = time.monotonic()
        self._reachable_since = self._reachable_since or now
        if now - self._reachable_since >= RAY_LOST_AFTER:
            self._reachable_since = None
            for dep_id in lost:
                self._note(dep_id, "the Ray cluster answers again: redeploying")
                self._update(dep_id, _reset_for_redeploy)
                self.submit(dep_id)
        return True

    def _ray_lost(self, address: str) -> None:
        reason = f"the Ray cluster at {address} stopped answering; redeployed when it is back"
        log.warning("lost the Ray cluster", address=address)
        self._unreachable_since = None
        try:
            self.cluster.disconnect()
        except Exception as exc:  # a dead GCS may make shutdown complain
            log.warning("leaving the lost Ray cluster failed", error=str(exc))
        for dep in self._active():
            self.set_status(dep.id, "FAILED", reason, code=RAY_LOST)
            if self.on_stopped is not None:
                self.on_stopped(dep.id)

    def _lost_to_ray(self) -> list[uuid.UUID]:
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(Deployment.id).where(
                        Deployment.status == "FAILED", Deployment.last_error_code == RAY_LOST
                    )
                )
            )

    def _active(self) -> list[Deployment]:
        with self.db.session() as s:
            rows = s.scalars(select(Deployment).where(Deployment.status.in_(ACTIVE_STATUSES)))
            return list(rows)

    def poll_once(self) -> bool:
        """Mirror Serve's status of every active deployment; False when none is active."""
        deps = [d for d in self._active() if d.status != "REQUESTED"]
        if not deps:
            return False
        if not self.cluster.running_address() or not self.cluster.connect(start=False):
            return True
        from ray import serve

        apps = serve.status().applications
        for dep in deps:
            if dep.status == "DEPLOYING":
                continue  # the deploy job owns it until it submits the application
            self._observe(dep, apps.get(self.app_name(dep.id)))
        return True

    def _observe(self, dep: Deployment, app: Any) -> None:
        now = time.monotonic()
        running = app is not None and str(getattr(app.status, "value", app.status)) == "RUNNING"
        self._sync_instances(dep, running)
        if app is None:
            # a new application can be missing from serve.status() for a moment after it was
            # submitted: only a deployment that ran, or one missing for a while, has lost it
            started = self._pending_since.setdefault(dep.id, now)
            if dep.status == "INITIALIZING" and now - started < APP_APPEAR_GRACE:
                return
            self.set_status(
                dep.id, "FAILED", "the Ray Serve application is gone", code="RUNTIME_ERROR"
            )
            return
        status = str(getattr(app.status, "value", app.status))
        engine = app.deployments.get(ENGINE_DEPLOYMENT)
        # the deployment's message carries the replica's exception; the app's is a summary
        message = "\n".join(m for m in ((engine.message if engine else ""), app.message) if m)
        if status == "RUNNING":
            self._pending_since.pop(dep.id, None)
            self.set_status(dep.id, "DEPLOYED")
        elif status == "DEPLOY_FAILED":
            code, text = error_from_message(message)
            final = "ERROR" if dep.status in {"DEPLOYED", "UNHEALTHY"} else "FAILED"
            self.set_status(dep.id, final, text, code=code)
            self._delete_app(self.app_name(dep.id))
        elif status == "UNHEALTHY":
            self.set_status(dep.id, "UNHEALTHY", _last_line(message))
        elif status == "DEPLOYING":
            if dep.status in {"DEPLOYED", "UNHEALTHY"}:
                self.set_status(dep.id, "UNHEALTHY", "a replica is being replaced")
            waiting = "resources required for each replica" in message.lower()
            started = self._pending_since.setdefault(dep.id, now)
            if waiting and now - started > PENDING_RESOURCES_GRACE:
                self.set_status(
                    dep.id, "FAILED", _last_line(message), code="INSUFFICIENT_RESOURCES"
                )
                self._delete_app(self.app_name(dep.id))
            elif now - started > self.settings.deploy_timeout and dep.status != "UNHEALTHY":
                self.set_status(
                    dep.id,
                    "FAILED",
                    f"not ready after {self.settings.deploy_timeout:g} s",
                    code="STARTUP_TIMEOUT",
                )
                self._delete_app(self.app_name(dep.id))

    def applications(self) -> list[str]:
        """Names of this installation's applications that Serve runs now."""
        from ray import serve

        if not self.cluster.connect(start=False):
            return []
        return sorted(a for a in serve.status().applications if a.startswith(self.app_prefix))

    def _replica_actors(self, app_name: str) -> list[dict[str, Any]]:
        import ray._private.state as ray_state

        prefix = f"SERVE_REPLICA::{app_name}#"
        table = ray_state.actors()
        return [a for a in table.values() if str(a.get("Name", "")).startswith(prefix)]

    def _sync_instances(self, dep: Deployment, app_running: bool) -> None:
        actors = self._replica_actors(self.app_name(dep.id))

        def work(s: Session) -> None:
            known = {
                i.replica_name: i
                for i in s.scalars(
                    select(DeploymentInstance).where(DeploymentInstance.deployment_id == dep.id)
                )
            }
            for actor in actors:
                name = str(actor["Name"])
                state = str(actor.get("State"))
                status = {
                    "ALIVE": "DEPLOYED" if app_running else "INITIALIZING",
                    "PENDING_CREATION": "DEPLOYING",
                    "DEPENDENCIES_UNREADY": "DEPLOYING",
                    "RESTARTING": "RESTARTING",
                    "DEAD": "STOPPED",
                }.get(state, state)
                inst = known.get(name)
                if inst is None:
                    if state == "DEAD":
                        continue
                    inst = DeploymentInstance(
                        id=instance_id(name), deployment_id=dep.id, replica_name=name
                    )
                    s.add(inst)
                    self.event(s, dep.id, f"replica {name.split('#')[-1]} created")
                elif inst.status != status and status == "STOPPED":
                    self.event(s, dep.id, f"replica {name.split('#')[-1]} died", "WARNING")
                address = actor.get("Address") or {}
                inst.node_id = address.get("NodeID") or inst.node_id
                inst.node_ip = address.get("IPAddress") or inst.node_ip
                inst.pid = actor.get("Pid") or inst.pid
                if inst.status != status:
                    inst.status = status

        self.db.transaction(work)

    # --- reconcile -----------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Match recorded deployments with what Ray runs after a platform restart."""
        active = self._active()
        address = self.cluster.running_address()
        if not active and not address:
            return
        apps: dict[str, Any] = {}
        if address:
            try:
                self.cluster.ensure_serve()
                from ray import serve

                apps = dict(serve.status().applications)
            except Exception as exc:
                log.warning("cannot reach Ray to reconcile", error=str(exc))
                if not active:
                    return
        names = {self.app_name(d.id) for d in active}
        for name in apps:
            if name.startswith(self.app_prefix) and name not in names:
                log.info("deleting an orphan Serve application", app=name)
                self._delete_app(name)
        for dep in active:
            if self.app_name(dep.id) in apps:
                self._note(dep.id, "re-attached to the running Serve application after restart")
            else:
                self._note(dep.id, "Ray no longer runs it: redeploying after restart")
                self._update(dep.id, _reset_for_redeploy)
                self.submit(dep.id)
        if active:
            self._ensure_watcher()

    def _note(self, dep_id: uuid.UUID, message: str) -> None:
        self.db.transaction(lambda s: self.event(s, dep_id, message))


def _reset_for_redeploy(s: Session, dep: Deployment) -> None:
    dep.status = "REQUESTED"
    dep.attempts += 1
