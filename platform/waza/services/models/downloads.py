"""Background download jobs: one thread per request, its files one after another.

A job owns the file rows stamped with its ``download_job`` id. It writes progress at most every
half second (bytes, speed; percentage, elapsed and ETA are derived when read) and stops a file
when its cancel event is set or when the row no longer belongs to it (cancelled through another
API process, or the model deleted). A cancelled or failed file leaves no partial data:
huggingface_hub removes its temporary file.

Rows still marked downloading by a process that is gone (the API restarted) are marked failed
the next time downloads are listed or started (`reap`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from waza.db import Database
from waza.gateway.logging import get_logger
from waza.services.models.hub import DownloadCancelled, HubClient
from waza.services.models.models import DBModel, DBModelFile

log = get_logger("waza.models")

FLUSH_INTERVAL = 0.5
HOST = socket.gethostname()


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FileTask:
    file_id: uuid.UUID
    name: str


def snapshot_folder(path: Path, name: str) -> Path:
    """The snapshot folder that holds the repo file ``name`` at ``path``."""
    folder = path
    for _ in [p for p in name.split("/") if p]:
        folder = folder.parent
    return folder


class Downloader:
    """Runs download jobs in threads and lets them be cancelled."""

    def __init__(self, db: Database, hub: HubClient) -> None:
        self.db, self.hub = db, hub
        self._lock = threading.Lock()
        self._cancel: dict[uuid.UUID, threading.Event] = {}
        self._jobs: dict[str, threading.Thread] = {}
        self._closing = False

    # ---- state --------------------------------------------------------------------------------
    def active(self, job_id: str | None) -> bool:
        with self._lock:
            return job_id is not None and job_id in self._jobs

    def stale(self, row: DBModelFile) -> bool:
        """A row marked downloading whose job is gone (finished badly or the API restarted)."""
        if not row.is_downloading or row.download_node not in (None, HOST):
            return False
        if row.download_pid == os.getpid():
            return not self.active(row.download_job)
        return row.download_pid is None or not psutil.pid_exists(row.download_pid)

    def reap(self, s: Session, rows: list[DBModelFile]) -> None:
        """Mark stale rows failed (inside the caller's transaction)."""
        for row in rows:
            if self.stale(row):
                row.is_downloading = False
                row.download = False
                row.dl_requested_at = None
                row.download_job = None
                row.download_finished_at = now()
                row.download_error = "interrupted: the download stopped with the API process"

    # ---- jobs ---------------------------------------------------------------------------------
    def start(
        self, job_id: str, model_id: uuid.UUID, repo_id: str, revision: str, tasks: list[FileTask]
    ) -> None:
        """Download ``tasks`` of ``repo_id`` at ``revision`` (rows already stamped with job_id)."""
        with self._lock:
            for task in tasks:
                self._cancel[task.file_id] = threading.Event()
            thread = threading.Thread(
                target=self._run,
                args=(job_id, model_id, repo_id, revision, tasks),
                name=f"waza-download-{job_id[:8]}",
                daemon=True,
            )
            self._jobs[job_id] = thread
        thread.start()

    def cancel(self, file_id: uuid.UUID) -> None:
        with self._lock:
            event = self._cancel.get(file_id)
        if event is not None:
            event.set()

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every running download and wait a little for the threads to clean up."""
        with self._lock:
            self._closing = True
            events = list(self._cancel.values())
            threads = list(self._jobs.values())
        for event in events:
            event.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(
        self, job_id: str, model_id: uuid.UUID, repo_id: str, revision: str, tasks: list[FileTask]
    ) -> None:
        try:
            for task in tasks:
                self._one(job_id, model_id, repo_id, revision, task)
        finally:
            with self._lock:
                self._jobs.pop(job_id, None)
                for task in tasks:
                    self._cancel.pop(task.file_id, None)

    def _owned(self, s: Session, file_id: uuid.UUID, job_id: str) -> DBModelFile | None:
        row = s.get(DBModelFile, file_id)
        if row is None or row.download_job != job_id or row.download_cancelled_at is not None:
            return None
        return row

    def _one(
        self, job_id: str, model_id: uuid.UUID, repo_id: str, revision: str, task: FileTask
    ) -> None:
        with self._lock:
            event = self._cancel.get(task.file_id) or threading.Event()

        def begin(s: Session) -> bool:
            row = self._owned(s, task.file_id, job_id)
            if row is None:
                return False
            row.download_started_at, row.downloaded_bytes = now(), 0
            return True

        if event.is_set() or not self.db.transaction(begin):
            self._finish_cancelled(task.file_id, job_id)
            return
        started = time.monotonic()
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            if event.is_set():
                raise DownloadCancelled
            tick = time.monotonic()
            if tick - last[0] < FLUSH_INTERVAL and (total is None or done < total):
                return
            last[0] = tick
            elapsed = tick - started
            speed = done / elapsed if elapsed > 0 else None

            def write(s: Session) -> bool:
                row = self._owned(s, task.file_id, job_id)
                if row is None:
                    return False
                row.downloaded_bytes = done
                if total:
                    row.size = total
                row.download_speed = speed
                return True

            if not self.db.transaction(write):
                raise DownloadCancelled

        try:
            path = self.hub.download(repo_id, task.name, revision, progress)
        except DownloadCancelled:
            self._finish_cancelled(task.file_id, job_id)
            return
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else repr(exc)
            log.warning("model download failed", repo=repo_id, file=task.name, error=reason)
            self._finish_failed(task.file_id, job_id, reason)
            return
        self._finish_done(task.file_id, job_id, model_id, revision, task.name, path)

    # ---- outcomes -----------------------------------------------------------------------------
    def _finish_done(
        self,
        file_id: uuid.UUID,
        job_id: str,
        model_id: uuid.UUID,
        revision: str,
        name: str,
        path: Path,
    ) -> None:
        size = path.stat().st_size

        def work(s: Session) -> None:
            row = self._owned(s, file_id, job_id)
            if row is None:
                return
            mark_downloaded(row, path, size)
            model = s.get(DBModel, model_id)
            if model is not None:
                model.local_path = str(snapshot_folder(path, name))
                model.sha_repository = revision
                if model.source == "registered":
                    model.source = "hub"

        self.db.transaction(work)

    def _finish_failed(self, file_id: uuid.UUID, job_id: str, reason: str) -> None:
        def work(s: Session) -> None:
            row = self._owned(s, file_id, job_id)
            if row is not None:
                row.is_downloading, row.download, row.dl_requested_at = False, False, None
                row.download_job, row.download_finished_at = None, now()
                row.download_error = reason

        self.db.transaction(work)

    def _finish_cancelled(self, file_id: uuid.UUID, job_id: str) -> None:
        def work(s: Session) -> None:
            row = s.get(DBModelFile, file_id)
            if row is not None and row.download_job == job_id:
                mark_cancelled(row)

        with contextlib.suppress(Exception):  # the model may be gone: nothing left to record
            self.db.transaction(work)


def mark_downloaded(row: DBModelFile, path: Path, size: int) -> None:
    """A file now on disk: the SDK counts it downloaded (location set, nothing pending)."""
    stamp = now()
    row.storage_location, row.storage_type, row.size = str(path), "file", size
    row.is_downloading, row.download, row.dl_requested_at = False, True, None
    row.downloaded_bytes, row.download_error, row.download_job = size, None, None
    row.download_cancelled_at = None
    row.download_started_at = row.download_started_at or stamp
    row.download_finished_at = stamp


def mark_cancelled(row: DBModelFile) -> None:
    row.is_downloading, row.download, row.dl_requested_at = False, False, None
    row.download_job = None
    row.download_cancelled_at = row.download_cancelled_at or now()
    row.download_finished_at = row.download_finished_at or now()


def rows_of_models(s: Session, model_ids: list[uuid.UUID]) -> list[DBModelFile]:
    return list(s.scalars(select(DBModelFile).where(DBModelFile.m_id.in_(model_ids))))
