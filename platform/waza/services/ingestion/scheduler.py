"""Runs stored ingestion jobs (`POST /ingestion/ingest/jobs`) when their cron schedule is due.

A daemon thread in each API process looks every `WAZA_INGEST_SCHEDULE_INTERVAL` seconds for jobs
whose next fire time (from `croniter`, counted from the last run, or from when the job was
stored) has passed. A process *claims* a due job with one conditional UPDATE (status not
``running`` and ``last_run`` still what it read), so with several API processes on one database
each fire runs once. Missed fires (the platform was down) are caught up with one run, not one
per missed fire. A claim that a dead process left ``running`` is taken over after `STALE_AFTER`.
Times are UTC.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from croniter import croniter
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from waza.db.base import utcnow
from waza.errors import Unprocessable
from waza.gateway.logging import get_logger
from waza.services.ingestion.models import IngestJob

if TYPE_CHECKING:
    from waza.services.ingestion.service import IngestionService

log = get_logger("waza.ingestion.scheduler")

STALE_AFTER = timedelta(hours=1)
RUNNING = "running"


def check_schedule(schedule: str) -> str:
    """A cron expression croniter understands (5 fields, a 6th for seconds, or a macro such as
    ``@daily``), normalised; 422 otherwise."""
    value = " ".join(schedule.split())
    if value.startswith("@"):
        value = value.lower()
    if not value or not croniter.is_valid(value):
        raise Unprocessable(
            f"schedule {schedule!r} is not a cron expression (e.g. '0 * * * *' for hourly, "
            "'*/15 * * * *', or @hourly/@daily/@weekly/@monthly/@yearly)"
        )
    return value


def next_run(schedule: str, after: datetime) -> datetime:
    """The first fire time of `schedule` strictly after `after` (an aware UTC time)."""
    return croniter(schedule, after).get_next(datetime)


def _base(row: IngestJob) -> datetime:
    return row.last_run or row.created_at


class IngestScheduler:
    """The scheduler thread of one API process; `start` and `stop` are idempotent."""

    def __init__(self, service: IngestionService, interval: float) -> None:
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._loop, name="waza-ingest-scheduler", daemon=True
        )
        self._thread.start()

    def describe(self) -> str:
        if self._thread is None:
            return "off in this process (jobs run by hand only)"
        return f"running: checks for due jobs every {self.interval:g} s"

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_due()
            except Exception:  # a database outage must not end the thread
                log.exception("scheduled ingestion check failed")

    def run_due(self, now: datetime | None = None) -> list[str]:
        """Run every job due at `now` that this process manages to claim; their job ids."""
        now = now or utcnow()
        with self.service.db.session() as s:
            rows = s.scalars(select(IngestJob).order_by(IngestJob.created_at)).all()
            due = [
                (row.id, row.job_id, row.last_run)
                for row in rows
                if next_run(row.schedule, _base(row)) <= now
                and (row.status != RUNNING or (row.last_run or now) < now - STALE_AFTER)
            ]
        ran = []
        for row_id, job_id, last_run in due:
            if self._stop.is_set():
                break
            if self._claim(row_id, last_run, now):
                log.info("running scheduled ingestion", job_id=job_id)
                self.service.execute_job(row_id, started=now)
                ran.append(job_id)
        return ran

    def _claim(self, row_id: object, last_run: datetime | None, now: datetime) -> bool:
        same_run = (
            IngestJob.last_run.is_(None) if last_run is None else IngestJob.last_run == last_run
        )
        stmt = (
            update(IngestJob)
            .where(
                IngestJob.id == row_id,
                same_run,
                or_(IngestJob.status != RUNNING, IngestJob.last_run < now - STALE_AFTER),
            )
            .values(status=RUNNING, last_run=now)
        )

        def work(s: Session) -> bool:
            result = s.execute(stmt)
            return cast(CursorResult[Any], result).rowcount == 1

        return self.service.db.transaction(work)
