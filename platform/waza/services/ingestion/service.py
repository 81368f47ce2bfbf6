"""Ingestion: register files and S3 objects in the catalog, scheduled jobs, emitted MCPs, the
RAG pipeline (folder → catalog → chunks → embeddings → collection) and text search.

Access: every object (scheduled job, RAG job) belongs to its creator; admins reach all, others
get 403. File paths are limited to the caller's data roots (see `paths`).

Scheduled jobs are stored with their cron expression (connection arguments encrypted) and run
by `scheduler.IngestScheduler` when due, as their owner; `run_scheduled` runs one now
(`POST /ingestion/ingest/jobs/{job_id}/run`).

RAG jobs run on a background thread of this process (`rag.RagRunner`); `close` cancels them
and waits, so they undo their work. A job left RUNNING by a process that died is failed and
undone by `recover_stale` the next time any process serves the RAG routes.

With the serving service attached (`attach_serving`), a RAG query can name a chat deployment
that answers from the retrieved chunks (see `search`), and RAG ingest and queries can embed with
a deployed embedding model (provider `deployment`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from waza.db import Database
from waza.db.base import utcnow
from waza.errors import Conflict, Forbidden, NotFound, Unprocessable, WazaError
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.catalog.service import CatalogService
from waza.services.embedding.service import EmbeddingService
from waza.services.ingestion import formats, mcp, paths, rag, schemas, search, sources
from waza.services.ingestion.models import IngestJob, IngestMCP, RagJob
from waza.services.ingestion.scheduler import IngestScheduler, check_schedule, next_run
from waza.services.vectordb.backends import check_collection_name
from waza.services.vectordb.service import VectorService
from waza.settings import Settings

if TYPE_CHECKING:
    from waza.services.serving.service import ServingService

log = get_logger("waza.ingestion")

STALE_AFTER = timedelta(minutes=10)
RECOVER_EVERY = 60.0  # seconds between looks for interrupted jobs


def _job_status(row: IngestJob) -> schemas.IngestJobStatus:
    return schemas.IngestJobStatus(
        next_run=next_run(row.schedule, row.last_run or row.created_at).isoformat(),
        job_id=row.job_id,
        last_run=row.last_run.isoformat() if row.last_run else None,
        status=row.status,
        error_count=row.error_count,
        created_urns=list(row.created_urns or []),
        schedule=row.schedule,
        source_type=row.source_type,
        errors=list(row.errors or []),
    )


def _rag_out(row: RagJob) -> schemas.RagJob:
    status = row.status
    if status == "RUNNING" and row.cancel_requested:
        status = "CANCELLING"
    return schemas.RagJob(
        id=row.id,
        job_id=str(row.id),
        status=status,
        cancel_requested=row.cancel_requested,
        path=row.path,
        collection=row.collection,
        vectordb_id=row.vectordb_id,
        options=dict(row.options or {}),
        progress=schemas.RagProgress.model_validate(row.progress or {}),
        errors=list(row.errors or []),
        error=row.error,
        dataset_urns=list(row.dataset_urns or []),
        created_collection=row.created_collection,
        owner=row.owner_username,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class IngestionService:
    """Ingestion, RAG and text search; routes in `api.py` wrap these methods."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        catalog: CatalogService,
        embedding: EmbeddingService,
        vectors: VectorService,
    ) -> None:
        self.db, self.settings = db, settings
        self.catalog, self.embedding, self.vectors = catalog, embedding, vectors
        self.serving: ServingService | None = None
        self.worker_id = uuid.uuid4().hex
        self.runner = rag.RagRunner(self)
        self.scheduler = IngestScheduler(self, settings.ingest_schedule_interval)
        self._recovered_at = -RECOVER_EVERY
        self._recover_lock = threading.Lock()

    def attach_serving(self, serving: ServingService) -> None:
        """Let RAG queries answer with a chat deployment of `serving`."""
        self.serving = serving

    def start(self) -> None:
        """Start running scheduled jobs when they are due (unless the interval is 0)."""
        self.scheduler.start()

    def close(self) -> None:
        """Stop the scheduler, cancel running RAG jobs (they undo their work), stop the worker."""
        self.scheduler.stop()
        self.runner.close()

    def health(self) -> schemas.IngestionHealth:
        return schemas.IngestionHealth(
            sources=list(sources.SOURCE_TYPES),
            formats=formats.supported_extensions(),
            scheduler=self.scheduler.describe(),
        )

    # ---- active ingestion ---------------------------------------------------------------------
    def run(
        self, principal: Principal, source_type: str, kwargs: dict[str, Any]
    ) -> schemas.IngestResponse:
        """Register what a source holds in the catalog now."""
        kind = source_type.strip().lower()
        if kind == "file":
            return sources.ingest_files(self.settings, self.catalog, principal, kwargs)
        if kind == "s3":
            return sources.ingest_s3(self.catalog, principal, kwargs, self.settings.s3_endpoints)
        raise Unprocessable(
            f"Unsupported source_type {source_type!r}; this platform ingests: "
            + ", ".join(sources.SOURCE_TYPES)
        )

    # ---- scheduled jobs -------------------------------------------------------------------------
    def _job_row(self, s: Session, principal: Principal, job_id: str) -> IngestJob:
        row = s.scalar(select(IngestJob).where(IngestJob.job_id == job_id))
        if row is None:
            raise NotFound(f"Ingestion job {job_id!r} not found")
        if not principal.can_access(row.owner_id):
            raise Forbidden(f"Ingestion job {job_id!r} belongs to another user")
        return row

    def schedule_job(
        self, principal: Principal, body: schemas.IngestJobCreate
    ) -> schemas.OperationStatus:
        """Store a job and its schedule (an existing job of the caller's is replaced)."""
        kind = body.source_type.strip().lower()
        if kind not in sources.SOURCE_TYPES:
            raise Unprocessable(
                f"Unsupported source_type {body.source_type!r}; use one of "
                + ", ".join(sources.SOURCE_TYPES)
            )
        schedule = check_schedule(body.schedule)
        if kind == "file":
            paths.resolve_path(self.settings, principal, str(body.conn_args.get("path") or ""))
        sealed = self.catalog.envelope.encrypt(json.dumps(body.conn_args))

        def work(s: Session) -> None:
            row = s.scalar(select(IngestJob).where(IngestJob.job_id == body.job_id))
            if row is not None and not principal.can_access(row.owner_id):
                raise Conflict(f"Ingestion job id {body.job_id!r} is taken by another user")
            if row is None:
                row = IngestJob(
                    job_id=body.job_id, owner_id=principal.user_id, errors=[], created_urns=[]
                )
                s.add(row)
            row.owner_username = row.owner_username or principal.username
            row.schedule, row.source_type = schedule, kind
            row.conn_args_encrypted = sealed
            row.status = "pending"

        self.db.transaction(work)
        return schemas.OperationStatus(
            status="scheduled",
            job_id=body.job_id,
            schedule=schedule,
            message=f"Stored; it runs as you on schedule {schedule!r} (UTC). Run it now with "
            f"POST /api/ingestion/ingest/jobs/{body.job_id}/run",
        )

    def job_status(self, principal: Principal, job_id: str) -> schemas.IngestJobStatus:
        with self.db.session() as s:
            return _job_status(self._job_row(s, principal, job_id))

    def list_jobs(self, principal: Principal) -> list[schemas.IngestJobStatus]:
        stmt = select(IngestJob).order_by(IngestJob.created_at)
        if not principal.is_admin:
            stmt = stmt.where(IngestJob.owner_id == principal.user_id)
        with self.db.session() as s:
            return [_job_status(r) for r in s.scalars(stmt)]

    def delete_job(self, principal: Principal, job_id: str) -> None:
        self.db.transaction(lambda s: s.delete(self._job_row(s, principal, job_id)))

    def run_scheduled(self, principal: Principal, job_id: str) -> schemas.IngestJobStatus:
        """Run a stored job now and record the outcome (403/404 as for reading it)."""
        with self.db.session() as s:
            row_id = self._job_row(s, principal, job_id).id
        return self.execute_job(row_id)

    def execute_job(
        self, row_id: uuid.UUID, started: datetime | None = None
    ) -> schemas.IngestJobStatus:
        """Run a stored job with its owner's rights and record the outcome; `last_run` becomes
        `started` (default: now; the scheduler passes the time it claimed the run at).

        The job runs as its owner without admin rights (their data roots and secrets), whoever
        triggered it: the scheduler, the owner, or an admin.
        """
        started = started or utcnow()
        with self.db.session() as s:
            row = s.get(IngestJob, row_id)
            if row is None:
                raise NotFound("Ingestion job not found")
            kind, sealed = row.source_type, row.conn_args_encrypted
            runner = Principal(
                user_id=row.owner_id, username=row.owner_username, roles=("user",), method="session"
            )
        try:
            args = json.loads(self.catalog.envelope.decrypt(sealed))
            result = self.run(runner, kind, args)
            status, errors, urns = result.status, result.errors, result.urns
        except WazaError as exc:
            status, errors, urns = "failed", [str(exc.detail)], []
        except Exception as exc:  # never leave a job marked running
            log.exception("ingestion job failed", job=str(row_id))
            status, errors, urns = "failed", [f"{type(exc).__name__}: {exc}"], []

        def work(s: Session) -> schemas.IngestJobStatus:
            found = s.get(IngestJob, row_id)
            if found is None:  # deleted while it ran
                raise NotFound("Ingestion job not found")
            found.last_run, found.status = started, status
            found.error_count, found.errors, found.created_urns = len(errors), errors, urns
            s.flush()
            return _job_status(found)

        return self.db.transaction(work)

    # ---- MCPs -----------------------------------------------------------------------------------
    def emit_mcp(self, principal: Principal, payload: dict[str, Any]) -> schemas.MCPEmitResponse:
        """Check and store an MCP; forward it to DataHub when the catalog syncs there.

        An MCP about a dataset of the local catalog needs access to that dataset (403 else).
        """
        parsed = mcp.parse(payload)
        if parsed.entity_type == "dataset":
            with contextlib.suppress(NotFound):  # an entity only DataHub knows: fine
                self.catalog.get_dataset(principal, parsed.entity_urn)
        forwarded = self.catalog.sync is not None
        row = IngestMCP(
            owner_id=principal.user_id,
            entity_urn=parsed.entity_urn,
            entity_type=parsed.entity_type,
            aspect_name=parsed.aspect_name,
            change_type=parsed.change_type,
            payload=parsed.payload,
            forwarded=forwarded,
        )

        def work(s: Session) -> uuid.UUID:
            s.add(row)
            s.flush()
            return row.id

        mcp_id = self.db.transaction(work)
        if self.catalog.sync is not None:
            self.catalog.sync.submit([parsed.proposal])
        return schemas.MCPEmitResponse(
            id=mcp_id,
            entity_urn=parsed.entity_urn,
            entity_type=parsed.entity_type,
            aspect_name=parsed.aspect_name,
            change_type=parsed.change_type,
            forwarded=forwarded,
        )

    # ---- RAG ----------------------------------------------------------------------------------
    def rag_ingest(self, principal: Principal, body: schemas.RagIngestRequest) -> schemas.RagJob:
        """Check the request, then queue the job; progress via `rag_job`."""
        self.recover_stale()
        check_collection_name(body.collection)
        root = paths.resolve_path(self.settings, principal, body.path)
        listing = paths.list_files(self.settings, principal, root, recursive=body.recursive)
        if listing.errors and body.fail_fast:
            raise Forbidden(listing.errors[0])
        if not listing.files:
            raise Unprocessable(
                f"No supported files under {body.path} (supported: "
                + ", ".join(formats.supported_extensions())
                + ")"
            )
        # an unknown model (400) or an unusable deployment (403/404/409) fails before queueing
        self.embedding.model(body.model, body.provider_type, principal)
        db_row = self.vectors.resolve(principal, body.vectordb_id, write=True)
        assert db_row is not None
        progress = schemas.RagProgress(
            files_total=len(listing.files),
            files_skipped=len(listing.skipped),
            bytes_total=listing.total_bytes,
        )
        row = RagJob(
            owner_id=principal.user_id,
            owner_username=principal.username,
            owner_roles=list(principal.roles),
            worker=self.worker_id,
            status="PENDING",
            path=str(root),
            collection=body.collection,
            vectordb_id=db_row.id,
            options=body.model_dump(mode="json", exclude={"path", "collection", "vectordb_id"}),
            progress=progress.model_dump(),
            errors=list(listing.errors),
            dataset_urns=[],
            created_urns=[],
        )

        def work(s: Session) -> schemas.RagJob:
            s.add(row)
            s.flush()
            return _rag_out(row)

        job = self.db.transaction(work)
        task = rag.RagTask(
            job_id=row.id,
            principal=principal,
            request=body,
            files=listing.files,
            vectordb_id=db_row.id,
        )
        try:
            self.runner.submit(task)
        except WazaError as exc:  # shutting down: the job never starts
            reason = str(exc.detail)

            def fail(s: Session) -> None:
                found = s.get(RagJob, row.id)
                if found is not None:
                    found.status, found.error, found.finished_at = "FAILED", reason, utcnow()

            self.db.transaction(fail)
            raise
        return job

    def _rag_row(self, s: Session, principal: Principal, job_id: uuid.UUID) -> RagJob:
        row = s.get(RagJob, job_id)
        if row is None:
            raise NotFound(f"RAG job {job_id} not found")
        if not principal.can_access(row.owner_id):
            raise Forbidden(f"RAG job {job_id} belongs to another user")
        return row

    def rag_job(self, principal: Principal, job_id: uuid.UUID) -> schemas.RagJob:
        self.recover_stale()
        with self.db.session() as s:
            return _rag_out(self._rag_row(s, principal, job_id))

    def rag_jobs(
        self, principal: Principal, limit: int = 100, offset: int = 0, status: str | None = None
    ) -> list[schemas.RagJob]:
        """Newest first; the caller's own (admins: all)."""
        self.recover_stale()
        stmt = select(RagJob).order_by(RagJob.created_at.desc(), RagJob.id)
        if not principal.is_admin:
            stmt = stmt.where(RagJob.owner_id == principal.user_id)
        if status:
            stmt = stmt.where(RagJob.status == status.upper())
        with self.db.session() as s:
            return [_rag_out(r) for r in s.scalars(stmt.offset(offset).limit(limit))]

    def rag_cancel(self, principal: Principal, job_id: uuid.UUID) -> schemas.RagJob:
        """Ask a job to stop; it undoes its work and ends CANCELLED (finished jobs: 409)."""

        def work(s: Session) -> schemas.RagJob:
            row = self._rag_row(s, principal, job_id)
            if row.status in rag.TERMINAL:
                raise Conflict(f"RAG job {job_id} has already ended ({row.status})")
            row.cancel_requested = True
            if row.status == "PENDING" and not self.runner.running_here(job_id):
                row.status, row.finished_at, row.error = "CANCELLED", utcnow(), "cancelled"
            s.flush()
            return _rag_out(row)

        job = self.db.transaction(work)
        self.runner.cancel(job_id)
        return job

    def recover_stale(self) -> None:
        """Fail and undo jobs that another process left PENDING/RUNNING for `STALE_AFTER`.

        Looks at most every `RECOVER_EVERY` seconds (from the RAG routes).
        """
        if time.monotonic() - self._recovered_at < RECOVER_EVERY:
            return
        with self._recover_lock:
            if time.monotonic() - self._recovered_at < RECOVER_EVERY:
                return
            self._recovered_at = time.monotonic()
            cutoff = utcnow() - STALE_AFTER
            with self.db.session() as s:
                rows = s.scalars(
                    select(RagJob).where(
                        RagJob.status.in_(("PENDING", "RUNNING")),
                        RagJob.worker != self.worker_id,
                        RagJob.updated_at < cutoff,
                    )
                ).all()
            for row in rows:
                self._recover(row)

    def _recover(self, row: RagJob) -> None:
        owner = Principal(
            user_id=row.owner_id,
            username=row.owner_username,
            roles=tuple(row.owner_roles or ()),
            method="session",
        )
        problems = rag.undo(
            self,
            owner,
            collection=row.collection,
            vectordb_id=row.vectordb_id,
            created_collection=row.created_collection,
            staging=row.staging,
            created_urns=list(row.created_urns or []),
        )
        reason = "interrupted: the process running the job stopped; its work was undone"
        if problems:
            reason += "; cleanup incomplete: " + "; ".join(problems)

        def work(s: Session) -> None:
            found = s.get(RagJob, row.id)
            if found is not None and found.status in ("PENDING", "RUNNING"):
                found.status, found.error, found.finished_at = "FAILED", reason, utcnow()
                found.created_urns, found.created_collection, found.staging = [], False, None

        self.db.transaction(work)
        log.warning("recovered an interrupted rag job", job_id=str(row.id))

    # ---- queries ------------------------------------------------------------------------------
    def rag_query(self, principal: Principal, body: schemas.RagQuery) -> schemas.RagAnswer:
        """The chunks closest to a question, best first, with their sources; with
        `deployment_id`, the chat deployment's answer grounded in them (see `search`)."""
        check_collection_name(body.collection)
        target = None
        if body.deployment_id:  # checked first: a refused deployment costs no search
            target = search.chat_target(self.serving, principal, body.deployment_id)
        found, _, model = search.search(
            self,
            principal,
            body.question,
            collections=[body.collection],
            top_k=body.top_k,
            score_threshold=body.score_threshold,
            vectordb_id=body.vectordb_id,
            filter=body.filter,
            model=body.model,
            provider_type=body.provider_type,
        )
        answer: dict[str, Any] = {}
        if target is not None:
            assert self.serving is not None
            answer = search.grounded_answer(self.serving, principal, target, body, found)
        return schemas.RagAnswer(
            collection=body.collection, question=body.question, results=found, model=model, **answer
        )

    def context_search(
        self, principal: Principal, body: schemas.ContextSearchRequest
    ) -> schemas.ContextSearchResponse:
        names = [body.collection_name] if body.collection_name else None
        found, searched, model = search.search(
            self,
            principal,
            body.query,
            collections=names,
            top_k=body.top_k,
            score_threshold=body.score_threshold,
            vectordb_id=body.vectordb_id,
        )
        return schemas.ContextSearchResponse(
            query=body.query, results=found, total=len(found), collections=searched, model=model
        )

    def context_retrieve(
        self, principal: Principal, body: schemas.ContextRetrieveRequest
    ) -> schemas.ContextRetrieveResponse:
        found, searched, model = search.search(
            self,
            principal,
            body.query,
            collections=body.collection_names or None,
            top_k=body.top_k,
            score_threshold=body.score_threshold,
            vectordb_id=body.vectordb_id,
        )
        return schemas.ContextRetrieveResponse(
            query=body.query, sources=found, total=len(found), collections=searched, model=model
        )
