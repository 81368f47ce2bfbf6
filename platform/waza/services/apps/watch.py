"""Keeping deployments true to what runs: a watcher thread, and a reconcile at start-up.

Every two seconds the watcher ends ephemeral apps whose session stopped beating and marks apps
whose process died FAILED (route removed, with the failure patterns of their log). At start-up
`reconcile()` finds running apps again (Ray actors), starts again the ones that should run,
finishes interrupted stops and removes routes nobody owns.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from waza.gateway.logging import get_logger
from waza.services.apps.infra import AppsInfra
from waza.services.apps.lifecycle import AppLifecycle
from waza.services.apps.models import ACTIVE_STATUSES, AppDeployment, AppInstance
from waza.services.apps.records import DeploymentRecords

log = get_logger("waza.apps")

WATCH_INTERVAL = 2.0


class AppWatcher:
    """The watcher thread and the start-up reconcile."""

    def __init__(
        self, infra: AppsInfra, lifecycle: AppLifecycle, records: DeploymentRecords
    ) -> None:
        self.infra = infra
        self.db = infra.db
        self.lifecycle = lifecycle
        self.records = records
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="waza-apps-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            try:
                self.poll_once()
            except Exception as exc:
                log.warning("app watcher error", error=str(exc))

    def poll_once(self) -> None:
        """End expired ephemeral apps; mark apps whose process died FAILED."""
        runtime = self.infra.runtime
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
                self.lifecycle.end_ephemeral(dep_id)
                continue
            if status != "DEPLOYED" or self.lifecycle.lock(dep_id).locked():
                continue
            seen = runtime.observe(self.infra.runtime_name(dep_id))
            if seen.state == "running":
                continue
            if seen.state == "missing" and getattr(runtime, "placement", "") == "local":
                continue  # another API process (or the last run) owns it: reconcile decides
            lines = self.records.recent_lines(dep_id, 200)
            code = "APP_EXITED" if seen.state == "exited" else "APP_LOST"
            message = (
                f"the app exited with code {seen.returncode}"
                if seen.state == "exited"
                else f"the app is gone: {seen.detail}"
            )
            self.lifecycle.fail(dep_id, code, message, lines)

    def reconcile_safely(self) -> None:
        try:
            self.reconcile()
        except Exception as exc:
            log.warning("app reconcile failed", error=str(exc))

    def reconcile(self) -> None:
        """After a restart: finish stops, start what should run, drop routes nobody owns."""
        router = self.infra.router
        with self.db.session() as s:
            rows = [(d.id, d.status) for d in s.scalars(select(AppDeployment))]
        active = {dep_id for dep_id, status in rows if status in ACTIVE_STATUSES}
        for dep_id, status in rows:
            if status == "STOPPING":
                self.lifecycle.stop_now(dep_id)
            elif status in ("REQUESTED", "DEPLOYING"):
                self.lifecycle.start_safely(dep_id)
            elif status == "DEPLOYED":
                seen = self.infra.runtime.observe(self.infra.runtime_name(dep_id))
                if seen.state != "running":
                    self._kill_leftover(dep_id)
                    self.lifecycle.set(dep_id, status="REQUESTED")
                    self.lifecycle.start_safely(dep_id)
        for routed in router.routes():
            with contextlib.suppress(ValueError):
                if uuid.UUID(routed) not in active:
                    router.remove(routed)

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
