"""The RAG ingest pipeline: catalog each file, chunk it with offsets, embed, insert.

Jobs run one at a time on a background thread of the API process (the embedding model already
uses every core). Each job:

1. opens its collection: a missing one is created by the job (and recorded as such); an
   existing one must have the model's dimension;
2. for each file: describes and extracts its text, chunks it (token-aware, with character
   offsets), registers it in the catalog (recording the datasets it *created*), and queues
   the chunks; full queues are embedded in batches;
3. sends the vectors to the collection: straight into a collection the job created, or, for a
   collection that existed before, into a staging folder first and into the collection only
   once every file has succeeded;
4. with `replace` (the default), deletes the chunks earlier jobs left for the same files
   (same `source`, another `rag_job_id`), so re-ingesting a folder updates it in place.

Chunks are sized with the embedding model's tokenizer and embedded by that model: the request's
`model`/`provider_type` (default the platform's; a deployed `embedding` deployment works too,
used with the job owner's rights and counted in its usage).

Every vector's metadata holds `source` (the file's path), `filename`, `offset` (character
offset of the chunk in the file's text), `end_offset`, `chunk_index`, `catalog_urn`, `text`,
`format` and `rag_job_id`.

On failure or cancellation the job undoes what it created: the collection (if it created it),
the staged vectors, the vectors it had already moved into an existing collection (deleted by
their `rag_job_id`), and the catalog datasets it created (datasets that existed before stay).
The old chunks of replaced files are deleted only after every new vector is in.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from sqlalchemy.orm import Session

from waza.db.base import utcnow
from waza.errors import BadRequest, Forbidden, NotFound, Unprocessable, WazaError
from waza.gateway.logging import get_logger
from waza.gateway.principal import Principal
from waza.services.embedding.providers import EmbeddingModel
from waza.services.ingestion import formats
from waza.services.ingestion.formats import FileError
from waza.services.ingestion.models import RagJob
from waza.services.ingestion.schemas import RagIngestRequest, RagProgress
from waza.services.ingestion.sources import file_dataset, register
from waza.services.vectordb.schemas import CreateCollection

if TYPE_CHECKING:
    from waza.services.ingestion.service import IngestionService

REPLACE_BATCH = 200  # sources per delete filter

log = get_logger("waza.ingestion.rag")

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
SAVE_EVERY = 0.5  # seconds between progress writes
INSERT_BATCH = 512


class Cancelled(Exception):
    """The job was cancelled."""


class JobFailed(Exception):
    """The job cannot go on; the message is the reason shown to the user."""


@dataclass
class RagTask:
    """What a worker needs to run one job (decided when the job was accepted)."""

    job_id: uuid.UUID
    principal: Principal
    request: RagIngestRequest
    files: list[tuple[Path, str]]
    vectordb_id: uuid.UUID
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = "cancelled by the user"


# ---- where vectors go -------------------------------------------------------------------------
class DirectSink:
    """Inserts into a collection this job created (dropping it undoes everything)."""

    staged = False

    def __init__(self, insert: Callable[[np.ndarray, list[dict[str, Any]]], int]) -> None:
        self._insert = insert
        self._vectors: list[np.ndarray] = []
        self._meta: list[dict[str, Any]] = []
        self.inserted = 0

    def add(self, vectors: np.ndarray, metadata: list[dict[str, Any]]) -> None:
        self._vectors.append(vectors)
        self._meta.extend(metadata)
        if len(self._meta) >= INSERT_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._meta:
            matrix = np.concatenate(self._vectors)
            self.inserted += self._insert(matrix, self._meta)
            self._vectors, self._meta = [], []

    def commit(self) -> None:
        self._flush()


class StagedSink:
    """Keeps vectors in a staging folder until `commit` moves them into an existing collection."""

    staged = True

    def __init__(
        self, folder: Path, insert: Callable[[np.ndarray, list[dict[str, Any]]], int]
    ) -> None:
        self.folder = folder
        self._insert = insert
        self._parts = 0
        self.inserted = 0
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def add(self, vectors: np.ndarray, metadata: list[dict[str, Any]]) -> None:
        stem = self.folder / f"{self._parts:06d}"
        np.save(stem.with_suffix(".npy"), vectors.astype(np.float32))
        stem.with_suffix(".json").write_text(json.dumps(metadata, ensure_ascii=False))
        self._parts += 1

    def commit(self) -> None:
        for i in range(self._parts):
            stem = self.folder / f"{i:06d}"
            vectors = np.load(stem.with_suffix(".npy"))
            metadata = json.loads(stem.with_suffix(".json").read_text())
            self.inserted += self._insert(vectors, metadata)


Sink = DirectSink | StagedSink


# ---- undo -------------------------------------------------------------------------------------
def undo(
    service: IngestionService,
    principal: Principal,
    *,
    collection: str,
    vectordb_id: uuid.UUID | None,
    created_collection: bool,
    staging: str | None,
    created_urns: list[str],
) -> list[str]:
    """Remove what a job created; returns the problems (empty when all is gone)."""
    problems: list[str] = []
    if staging:
        shutil.rmtree(staging, ignore_errors=True)
    if created_collection:
        try:
            service.vectors.drop_collection(principal, collection, vectordb_id)
        except NotFound:
            pass
        except WazaError as exc:
            problems.append(f"collection {collection!r} could not be dropped: {exc.detail}")
    for urn in reversed(created_urns):
        try:
            service.catalog.delete_dataset(principal, urn)
        except NotFound:
            pass
        except WazaError as exc:
            problems.append(f"dataset {urn} could not be removed: {exc.detail}")
    return problems


# ---- one job ----------------------------------------------------------------------------------
class Pipeline:
    """Runs one `RagTask` to a terminal state."""

    def __init__(self, service: IngestionService, task: RagTask) -> None:
        self.service, self.task = service, task
        self.req = task.request
        self.progress = RagProgress(
            files_total=len(task.files), bytes_total=sum(_size(p) for p, _ in task.files)
        )
        self.errors: list[str] = []
        self.dataset_urns: list[str] = []
        self.created_urns: list[str] = []
        self.created_collection = False
        self.staging: str | None = None
        self._saved_at = 0.0
        self._texts: list[str] = []
        self._meta: list[dict[str, Any]] = []
        self.sink: Sink | None = None

    # -- state in the database ----------------------------------------------------------------
    def _save(self, force: bool = False, **values: Any) -> None:
        """Write progress (at most every SAVE_EVERY s unless forced); notice cancel requests."""
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_EVERY:
            if self.task.cancel.is_set():
                raise Cancelled
            return
        self._saved_at = now

        def work(s: Session) -> bool:
            row = s.get(RagJob, self.task.job_id)
            if row is None:
                return True
            row.progress = self.progress.model_dump()
            row.errors = list(self.errors)
            row.dataset_urns = list(self.dataset_urns)
            row.created_urns = list(self.created_urns)
            row.created_collection = self.created_collection
            row.staging = self.staging
            for key, value in values.items():
                setattr(row, key, value)
            return bool(row.cancel_requested)

        if self.service.db.transaction(work) and values.get("status") not in TERMINAL:
            self.task.cancel.set()
        if self.task.cancel.is_set() and "status" not in values:
            raise Cancelled

    def _start(self) -> bool:
        """PENDING → RUNNING; False when the job was cancelled before it started."""

        def work(s: Session) -> bool:
            row = s.get(RagJob, self.task.job_id)
            if row is None or row.status != "PENDING":
                return False
            if row.cancel_requested:
                row.status, row.finished_at, row.error = "CANCELLED", utcnow(), "cancelled"
                return False
            row.status, row.started_at = "RUNNING", utcnow()
            return True

        return bool(self.service.db.transaction(work))

    # -- the work -----------------------------------------------------------------------------
    def run(self) -> None:
        if not self._start():
            return
        try:
            self._open_collection()
            for path, fmt in self.task.files:
                self._file(path, fmt)
            self._embed()
            self._save(force=True)
            assert self.sink is not None
            self.sink.commit()
            self.progress.vectors_inserted = self.sink.inserted
            if self.sink.staged and self.req.replace:
                self._replace_old_chunks()
            self.progress.current_file = None
            if self.staging:
                shutil.rmtree(self.staging, ignore_errors=True)
                self.staging = None
            self._save(force=True, status="COMPLETED", finished_at=utcnow())
        except Cancelled:
            self._fail("CANCELLED", self.task.cancel_reason)
        except JobFailed as exc:
            self._fail("FAILED", str(exc))
        except WazaError as exc:
            self._fail("FAILED", str(exc.detail))
        except Exception as exc:  # a bug or an engine failure: never leave the job RUNNING
            log.exception("rag job failed", job_id=str(self.task.job_id))
            self._fail("FAILED", f"{type(exc).__name__}: {exc}")

    def _replace_old_chunks(self) -> None:
        """Delete what earlier jobs stored for this job's files (after the new chunks are in)."""
        sources = sorted({str(path) for path, _ in self.task.files})
        for start in range(0, len(sources), REPLACE_BATCH):
            part = sources[start : start + REPLACE_BATCH]
            flt = {"source": {"$in": part}, "rag_job_id": {"$ne": str(self.task.job_id)}}
            try:
                self.progress.vectors_replaced += self._delete(flt)
            except WazaError as exc:  # the new chunks are in: report, do not roll back
                self.errors.append(
                    f"old chunks of {len(part)} files could not be removed: {exc.detail}"
                )

    def _delete(self, flt: dict[str, Any]) -> int:
        result = self.service.vectors.delete_vectors(
            self.task.principal, self.task.vectordb_id, self.req.collection, filter=flt
        )
        return result.deleted_count

    def _fail(self, status: str, reason: str) -> None:
        if self.sink is not None and self.sink.staged and self.sink.inserted:
            try:  # vectors already moved into the existing collection go again
                self._delete({"rag_job_id": str(self.task.job_id)})
            except WazaError as exc:
                reason += (
                    f"; {self.sink.inserted} vectors had already been added to the existing "
                    f"collection {self.req.collection!r} and could not be removed "
                    f"({exc.detail}); they are marked with rag_job_id={self.task.job_id}"
                )
        problems = undo(
            self.service,
            self.task.principal,
            collection=self.req.collection,
            vectordb_id=self.task.vectordb_id,
            created_collection=self.created_collection,
            staging=self.staging,
            created_urns=self.created_urns,
        )
        if problems:
            reason += "; cleanup incomplete: " + "; ".join(problems)
        removed = set(self.created_urns)
        self.dataset_urns = [u for u in self.dataset_urns if u not in removed]
        self.created_urns = []
        self.created_collection, self.staging = False, None
        self.progress.current_file = None
        with contextlib.suppress(Cancelled):
            self._save(force=True, status=status, error=reason, finished_at=utcnow())

    def _insert(self, vectors: np.ndarray, metadata: list[dict[str, Any]]) -> int:
        result = self.service.vectors.insert_vectors(
            self.task.principal,
            self.task.vectordb_id,
            self.req.collection,
            cast(Sequence[Sequence[float]], vectors),  # the service takes arrays as they are
            metadata,
            create_if_missing=False,
        )
        return result.inserted_count

    def _model(self) -> EmbeddingModel:
        """The job's embedding model, resolved again for each use (a deployment may stop)."""
        return self.service.embedding.model(
            self.req.model, self.req.provider_type, self.task.principal
        )

    def _open_collection(self) -> None:
        vectors, principal = self.service.vectors, self.task.principal
        model = self._model()
        dimension = model.dimension
        try:
            existing = vectors.get_collection(principal, self.req.collection, self.task.vectordb_id)
        except NotFound:
            existing = None
        if existing is None:
            vectors.create_collection(
                principal,
                CreateCollection(
                    name=self.req.collection,
                    dimension=dimension,
                    vectordb_id=self.task.vectordb_id,
                    description=f"RAG chunks ({model.name})",
                ),
            )
            self.created_collection = True
            self.sink = DirectSink(self._insert)
        else:
            if existing.dimension != dimension:
                raise JobFailed(
                    f"Collection {self.req.collection!r} holds {existing.dimension}-dimensional "
                    f"vectors; the embedding model makes {dimension}-dimensional ones"
                )
            folder = self.service.settings.home / "tmp" / "rag" / str(self.task.job_id)
            self.staging = str(folder)
            self.sink = StagedSink(folder, self._insert)
        self._save(force=True)

    def _file(self, path: Path, fmt: str) -> None:
        self._save()
        self.progress.current_file = str(path)
        try:
            info = formats.describe(path, fmt)
            text = formats.extract_text(path, fmt)
            chunks = self.service.embedding.chunk(
                text,
                max_tokens=self.req.chunk_size,
                overlap=self.req.overlap,
                model=self.req.model,
                provider_type=self.req.provider_type,
                principal=self.task.principal,
            )
            body = file_dataset(path, info, self.task.principal, tags=["rag"])
            body.properties["chunk_count"] = len(chunks)
            urn, created = register(self.service.catalog, self.task.principal, body)
        except (FileError, BadRequest, Forbidden, Unprocessable) as exc:
            reason = str(exc.detail) if isinstance(exc, WazaError) else str(exc)
            if self.req.fail_fast:
                raise JobFailed(f"{path}: {reason}") from exc
            self.errors.append(f"{path}: {reason}")
            self.progress.files_failed += 1
            self._save(force=True)
            return
        self.dataset_urns.append(urn)
        if created:
            self.created_urns.append(urn)
            self._save(force=True)
        job = str(self.task.job_id)
        for chunk in chunks:
            if not chunk.text.strip():
                continue
            self._texts.append(chunk.text)
            self._meta.append(
                {
                    "source": str(path),
                    "filename": path.name,
                    "offset": chunk.start,
                    "end_offset": chunk.end,
                    "chunk_index": chunk.index,
                    "catalog_urn": urn,
                    "text": chunk.text,
                    "format": fmt,
                    "rag_job_id": job,
                }
            )
            self.progress.chunks += 1
            if len(self._texts) >= 2 * self.req.batch_size:
                self._embed()
        self.progress.files_done += 1
        self.progress.bytes_done += info.size
        self._save()

    def _embed(self) -> None:
        if not self._texts:
            return
        vectors = self.service.embedding.embed(
            self._texts,
            batch_size=self.req.batch_size,
            model=self.req.model,
            provider_type=self.req.provider_type,
            principal=self.task.principal,
        )
        assert self.sink is not None
        self.sink.add(np.asarray(vectors, dtype=np.float32), self._meta)
        self.progress.chunks_embedded += len(self._texts)
        self.progress.vectors_inserted = self.sink.inserted
        self._texts, self._meta = [], []
        self._save()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---- the worker -------------------------------------------------------------------------------
class RagRunner:
    """One daemon thread that runs queued jobs in order; `close` cancels and waits."""

    def __init__(self, service: IngestionService) -> None:
        self.service = service
        self._queue: queue.Queue[RagTask | None] = queue.Queue()
        self._tasks: dict[uuid.UUID, RagTask] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, task: RagTask) -> None:
        with self._lock:
            if self._closed:
                raise Unprocessable("The ingestion service is shutting down")
            self._tasks[task.job_id] = task
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="rag-ingest", daemon=True)
                self._thread.start()
        self._queue.put(task)

    def cancel(self, job_id: uuid.UUID) -> bool:
        """Signal a job of this process; False when it is not here."""
        with self._lock:
            task = self._tasks.get(job_id)
        if task is None:
            return False
        task.cancel.set()
        return True

    def running_here(self, job_id: uuid.UUID) -> bool:
        with self._lock:
            return job_id in self._tasks

    def close(self, timeout: float = 30.0) -> None:
        """Cancel every job (they undo their work) and wait for the worker."""
        with self._lock:
            self._closed = True
            tasks = list(self._tasks.values())
            thread = self._thread
        for task in tasks:
            task.cancel_reason = "cancelled: the server was shutting down"
            task.cancel.set()
        self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            try:
                Pipeline(self.service, task).run()
            except Exception:  # never kill the worker
                log.exception("rag worker error", job_id=str(task.job_id))
            finally:
                with self._lock:
                    self._tasks.pop(task.job_id, None)
