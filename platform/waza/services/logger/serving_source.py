"""The log source of model deployments: serving's lifecycle events plus the replicas' lines.

Serving keeps each deployment's log in SQL (`deployment_events`) and, while it runs, in its
replicas' memory; `ServingService.deployment_log` joins the two, and this source reads that.
Sizes count the characters of the rendered event lines. Deleting a log deletes the event rows
(the deployment row stays). The deployment type is the engine name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select

from waza.db import Database
from waza.services.logger.sources import LogEntry, LogText
from waza.services.serving.engines import ENGINES
from waza.services.serving.models import ACTIVE_STATUSES, Deployment, DeploymentEvent
from waza.services.serving.service import ServingService

_LINE_OVERHEAD = 31  # "<29-char ISO time> <level> " around each message


class ServingLogSource:
    """Logs of Ray Serve deployments (types: the engine names)."""

    types = frozenset(ENGINES)

    def __init__(self, db: Database, serving: ServingService) -> None:
        self.db = db
        self.serving = serving

    def _query(self, dep_id: uuid.UUID | None = None) -> Iterable[LogEntry]:
        agg = (
            select(
                DeploymentEvent.deployment_id.label("dep"),
                func.count().label("n"),
                func.sum(func.length(DeploymentEvent.message) + func.length(DeploymentEvent.level))
                .label("chars"),
                func.min(DeploymentEvent.at).label("first"),
                func.max(DeploymentEvent.at).label("last"),
            )
            .group_by(DeploymentEvent.deployment_id)
            .subquery()
        )  # fmt: skip
        query = select(Deployment, agg.c.n, agg.c.chars, agg.c.first, agg.c.last).join(
            agg, agg.c.dep == Deployment.id
        )
        if dep_id is not None:
            query = query.where(Deployment.id == dep_id)
        with self.db.session() as s:
            rows = s.execute(query).all()
        for dep, count, chars, first, last in rows:
            yield self._entry(dep, int(count), int(chars or 0), first, last)

    def _entry(
        self, dep: Deployment, count: int, chars: int, first: datetime | None, last: datetime | None
    ) -> LogEntry:
        engine = dep.engine_name if dep.engine_name in ENGINES else "unknown"
        return LogEntry(
            deployment_id=str(dep.id),
            deployment_type=engine,
            location=f"ray-serve://{self.serving.supervisor.app_name(dep.id)}/{dep.engine_name}",
            size=chars + count * (_LINE_OVERHEAD + 1),
            created_at=first or dep.created_at,
            modified_at=last or dep.updated_at,
            owner_id=dep.owner_id,
            orphaned=False,  # events cascade with their deployment
            active=dep.status in ACTIVE_STATUSES,
        )

    def entries(self) -> Iterable[LogEntry]:
        return list(self._query())

    def find(self, deployment_id: str) -> LogEntry | None:
        try:
            dep_id = uuid.UUID(deployment_id)
        except ValueError:
            return None
        found = list(self._query(dep_id))
        return found[0] if found else None

    def read(self, entry: LogEntry, tail: int | None = None) -> LogText:
        log = self.serving.deployment_log(uuid.UUID(entry.deployment_id))
        lines = log.logs[-tail:] if tail else log.logs
        return LogText(lines, len(log.logs), capture_active=log.capture_active)

    def delete(self, entry: LogEntry) -> list[str]:
        dep_id = uuid.UUID(entry.deployment_id)
        self.db.transaction(
            lambda s: s.execute(
                delete(DeploymentEvent).where(DeploymentEvent.deployment_id == dep_id)
            )
        )
        return [entry.location]
