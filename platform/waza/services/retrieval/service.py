"""Retrieval: read a cataloged dataset back, inline (rows in the answer) or as server-sent events.

Datasets: platform `file` (the path in `properties.path`/`location`) and `s3` (bucket and key,
credentials as for ingestion: `credential_override`, the dataset's credentials secret, or
`anonymous`). Formats: Parquet, CSV/TSV, JSON lines, JSON, text (one row per line), PDF (one
row per page).

Access: the caller must be allowed to read the catalog dataset (404 unknown, 403 someone
else's), and a non-admin's `file` dataset must lie inside their data roots, because anyone may
register a dataset with any path.

Transports: `inline` answers the rows at once (422 when the JSON is larger than
`settings.retrieval_inline_max_bytes`: use `sse`); `sse` creates a PENDING job whose rows are
read from `GET /retrieval/jobs/{id}/stream`; `auto` is inline when the rows fit, else sse;
`grpc` (Arrow Flight) is not served: 422.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import select
from sqlalchemy.orm import Session

from waza.db import Database
from waza.errors import Conflict, Forbidden, NotFound, Unprocessable, WazaError
from waza.gateway.principal import Principal
from waza.services.catalog.schemas import Dataset
from waza.services.catalog.service import CatalogService
from waza.services.ingestion import formats, paths, s3
from waza.services.ingestion.formats import FileError
from waza.services.retrieval import reader, schemas
from waza.services.retrieval.models import RetrievalJob
from waza.settings import Settings

PLATFORMS = ("file", "s3")
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
Event = tuple[str, dict[str, Any]]


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def _descriptor(row: RetrievalJob) -> schemas.DatasetDescriptor:
    return schemas.DatasetDescriptor(
        urn=row.dataset_urn,
        platform=row.platform,
        path=row.path,
        format=row.format,
        estimated_bytes=row.estimated_bytes,
        estimated_rows=row.estimated_rows,
    )


def _status(row: RetrievalJob) -> schemas.RetrievalJobStatus:
    return schemas.RetrievalJobStatus(
        job_id=str(row.id),
        status=row.status,
        transport=row.transport,
        dataset=_descriptor(row),
        progress=schemas.JobProgress(
            bytes_processed=row.bytes_processed,
            rows_processed=row.rows_processed,
            chunks_emitted=row.chunks_emitted,
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        error=row.error,
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class RetrievalService:
    """Retrieval jobs; routes in `api.py` wrap these methods."""

    def __init__(self, db: Database, settings: Settings, catalog: CatalogService) -> None:
        self.db, self.settings, self.catalog = db, settings, catalog
        self._credentials: dict[uuid.UUID, str] = {}  # sse jobs' overrides, in memory only
        self._lock = threading.Lock()

    # ---- where the bytes are ------------------------------------------------------------------
    def _source(self, ds: Dataset) -> tuple[str, str | None]:
        """(platform, location) of a dataset; 422 for platforms retrieval cannot read."""
        platform = ds.platform.lower()
        if platform not in PLATFORMS:
            raise Unprocessable(
                f"Retrieval of {ds.platform!r} datasets is not supported; supported platforms: "
                + ", ".join(PLATFORMS)
            )
        props = ds.properties or {}
        location = props.get("path") or props.get("location")
        if platform == "s3" and not location and props.get("bucket") and props.get("key"):
            location = f"s3://{props['bucket']}/{props['key']}"
        if platform == "file" and not location:
            raise Unprocessable(f"Dataset {ds.urn} records no path (properties.path)")
        return platform, str(location) if location else None

    def _format(self, ds: Dataset, location: str | None, hint: str | None) -> str:
        fmt = formats.detect_format(location or ds.name, hint or ds.properties.get("format"))
        if fmt is None:
            raise Unprocessable(
                f"Cannot tell the format of {location or ds.name}; pass format_hint (one of "
                + ", ".join(sorted(formats.FORMATS))
                + ")"
            )
        return fmt

    def _local_path(self, principal: Principal, location: str) -> Path:
        try:
            return paths.resolve_path(self.settings, principal, location)
        except Forbidden as exc:
            raise Forbidden(
                f"The dataset's file is outside the folders you may read: {exc.detail}"
            ) from exc
        except NotFound as exc:
            raise NotFound(f"The dataset's file no longer exists: {location}") from exc

    @contextlib.contextmanager
    def _opened(
        self, principal: Principal, ds: Dataset, location: str, override: str | None
    ) -> Iterator[Path]:
        """A local path holding the dataset's bytes (S3 objects: a temporary copy)."""
        if ds.platform.lower() == "file":
            yield self._local_path(principal, location)
            return
        props = dict(ds.properties or {})
        bucket = props.get("bucket") or location.removeprefix("s3://").split("/", 1)[0]
        key = props.get("key") or location.removeprefix("s3://").split("/", 1)[-1]
        s3.check_endpoint(props.get("endpoint_url"), principal, self.settings.s3_endpoints)
        creds, _, anonymous = s3.credentials(principal, props, self.catalog.reveal_secret, override)
        place = s3.S3Location(
            bucket=bucket,
            endpoint_url=props.get("endpoint_url"),
            region=props.get("region"),
            anonymous=anonymous,
        )
        data = s3.read_object(s3.client(place, creds), bucket, key)
        folder = self.settings.ensure_home() / "tmp"
        folder.mkdir(exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(dir=folder, suffix=Path(key).suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            yield Path(name)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)

    def _estimates(self, ds: Dataset, local: Path | None) -> tuple[int | None, int | None]:
        props = ds.properties or {}
        size = _int(props.get("size_bytes") or props.get("size"))
        if local is not None:
            with contextlib.suppress(OSError):
                size = local.stat().st_size
        return size, _int(props.get("row_count"))

    # ---- jobs -----------------------------------------------------------------------------------
    def create_job(
        self, principal: Principal, req: schemas.RetrievalRequest
    ) -> schemas.RetrievalJob:
        """Start a retrieval; inline (and auto when small) answers with the rows."""
        transport = (req.transport or "auto").strip().lower()
        if transport == "grpc":
            raise Unprocessable(
                "Transport 'grpc' (Arrow Flight) is not supported by this platform; use "
                "'inline' or 'sse'"
            )
        if transport not in {"auto", "inline", "sse"}:
            raise Unprocessable(f"Unknown transport {req.transport!r}; use inline, sse or auto")
        ds = self.catalog.get_dataset(principal, req.dataset_urn)
        platform, location = self._source(ds)
        fmt = self._format(ds, location, req.format_hint)
        local = self._local_path(principal, location or "") if platform == "file" else None
        size, rows = self._estimates(ds, local)
        override = req.credential_override.get_secret_value() if req.credential_override else None
        stored_request = req.model_dump(mode="json", exclude={"credential_override"})
        row = RetrievalJob(
            owner_id=principal.user_id,
            dataset_urn=ds.urn,
            platform=platform,
            path=location,
            format=fmt,
            transport="sse",
            status="PENDING",
            request=stored_request,
            estimated_bytes=size,
            estimated_rows=rows,
        )
        limit = self.settings.retrieval_inline_max_bytes
        inline: schemas.InlineData | None = None
        if transport in {"inline", "auto"}:
            with self._opened(principal, ds, location or "", override) as path:
                try:
                    inline = self._inline(path, fmt, req, limit)
                except _TooLarge as exc:
                    if transport == "inline":
                        raise Unprocessable(
                            f"The rows are larger than the inline limit ({exc.size} > {limit} "
                            "bytes of JSON); use transport='sse' (or 'auto'), or narrow the "
                            "request with columns, filters or limit_rows"
                        ) from exc
        if inline is not None:
            row.transport, row.status = "inline", "COMPLETED"
            row.rows_processed = inline.row_count or 0
            row.bytes_processed = int(inline.metadata.get("bytes", 0))
            row.chunks_emitted = 1

        def work(s: Session) -> RetrievalJob:
            s.add(row)
            s.flush()
            return row

        saved = self.db.transaction(work)
        if inline is None and override:
            with self._lock:
                self._credentials[saved.id] = override
        return schemas.RetrievalJob(
            job_id=str(saved.id),
            transport=saved.transport,
            status=saved.status,
            dataset=_descriptor(saved),
            inline=inline,
            stream_url=None if inline else f"/api/retrieval/jobs/{saved.id}/stream",
        )

    @staticmethod
    def _inline(
        path: Path, fmt: str, req: schemas.RetrievalRequest, limit: int
    ) -> schemas.InlineData:
        try:
            p = reader.plan(
                path,
                fmt,
                columns=req.columns,
                filters=req.filters,
                offset=req.offset,
                limit=req.limit_rows,
                batch_rows=req.batch_size,
            )
            data: list[dict[str, Any]] = []
            size = 2
            for batch in reader.batches(p):
                part = reader.rows(batch)
                size += len(pydantic_core.to_json(part)) - 2 + len(part)
                if size > limit:
                    raise _TooLarge(size)
                data.extend(part)
        except FileError as exc:
            raise Unprocessable(str(exc)) from exc
        return schemas.InlineData(
            media_type="application/json",
            data=data,
            row_count=len(data),
            metadata={
                "format": fmt,
                "columns": [{"name": f.name, "type": str(f.type)} for f in p.schema],
                "offset": p.offset,
                "limit_rows": p.limit,
                "bytes": size,
            },
        )

    def _row(self, s: Session, principal: Principal, job_id: str) -> RetrievalJob:
        try:
            key = uuid.UUID(job_id)
        except ValueError as exc:
            raise NotFound(f"Retrieval job {job_id!r} not found") from exc
        row = s.get(RetrievalJob, key)
        if row is None:
            raise NotFound(f"Retrieval job {job_id!r} not found")
        if not principal.can_access(row.owner_id):
            raise Forbidden(f"Retrieval job {job_id} belongs to another user")
        return row

    def get_job(self, principal: Principal, job_id: str) -> schemas.RetrievalJobStatus:
        with self.db.session() as s:
            return _status(self._row(s, principal, job_id))

    def list_jobs(
        self, principal: Principal, limit: int = 100, offset: int = 0
    ) -> list[schemas.RetrievalJobStatus]:
        """Newest first; the caller's own (admins: all)."""
        stmt = select(RetrievalJob).order_by(RetrievalJob.created_at.desc(), RetrievalJob.id)
        if not principal.is_admin:
            stmt = stmt.where(RetrievalJob.owner_id == principal.user_id)
        with self.db.session() as s:
            return [_status(r) for r in s.scalars(stmt.offset(offset).limit(limit))]

    def cancel(self, principal: Principal, job_id: str) -> schemas.CancelResult:
        """Cancel a job that has not finished (a running stream stops at its next batch)."""

        def work(s: Session) -> schemas.CancelResult:
            row = self._row(s, principal, job_id)
            if row.status in TERMINAL:
                return schemas.CancelResult(job_id=job_id, status=row.status, cancelled=False)
            row.status = "CANCELLED"
            return schemas.CancelResult(job_id=job_id, status="CANCELLED", cancelled=True)

        result = self.db.transaction(work)
        with self._lock:
            self._credentials.pop(uuid.UUID(result.job_id), None)
        return result

    # ---- streaming ------------------------------------------------------------------------------
    def _update(self, job_id: uuid.UUID, **values: Any) -> str:
        """Write job fields unless it was cancelled; returns the status now stored."""

        def work(s: Session) -> str:
            row = s.get(RetrievalJob, job_id)
            if row is None:
                return "CANCELLED"
            if row.status != "CANCELLED":
                for key, value in values.items():
                    setattr(row, key, value)
            return row.status

        return self.db.transaction(work)

    def open_stream(self, principal: Principal, job_id: str) -> Iterator[Event]:
        """Check the job (404/403/409 now), then return its events as a generator."""
        with self.db.session() as s:
            row = self._row(s, principal, job_id)
        if row.status == "CANCELLED":
            raise Conflict(f"Retrieval job {job_id} was cancelled")
        ds = self.catalog.get_dataset(principal, row.dataset_urn)
        return self._events(principal, row, ds)

    def _events(self, principal: Principal, row: RetrievalJob, ds: Dataset) -> Iterator[Event]:
        req = schemas.RetrievalRequest.model_validate(row.request)
        with self._lock:
            override = self._credentials.get(row.id)
        rows_done = bytes_done = chunks = 0
        finished = False
        try:
            self._update(row.id, status="RUNNING", error=None)
            with self._opened(principal, ds, row.path or "", override) as path:
                p = reader.plan(
                    path,
                    row.format or "",
                    columns=req.columns,
                    filters=req.filters,
                    offset=req.offset,
                    limit=req.limit_rows,
                    batch_rows=req.batch_size,
                )
                yield (
                    "metadata",
                    {
                        "job_id": str(row.id),
                        "dataset": _descriptor(row).model_dump(),
                        "columns": [{"name": f.name, "type": str(f.type)} for f in p.schema],
                    },
                )
                for batch in reader.batches(p):
                    part = reader.rows(batch)
                    event = {"rows": part, "row_count": len(part), "offset": rows_done}
                    rows_done += len(part)
                    bytes_done += len(pydantic_core.to_json(part))
                    chunks += 1
                    yield "rows", event
                    status = self._update(
                        row.id,
                        rows_processed=rows_done,
                        bytes_processed=bytes_done,
                        chunks_emitted=chunks,
                    )
                    if status == "CANCELLED":
                        finished = True
                        yield "cancelled", {"job_id": str(row.id), "rows": rows_done}
                        return
            self._update(
                row.id,
                status="COMPLETED",
                rows_processed=rows_done,
                bytes_processed=bytes_done,
                chunks_emitted=chunks,
            )
            finished = True
            yield (
                "complete",
                {"job_id": str(row.id), "rows": rows_done, "bytes": bytes_done, "chunks": chunks},
            )
        except (FileError, WazaError) as exc:
            detail = exc.detail if isinstance(exc, WazaError) else str(exc)
            finished = True
            self._update(row.id, status="FAILED", error=str(detail))
            yield "error", {"job_id": str(row.id), "detail": detail}
        finally:
            if not finished:  # the client went away (generator closed) or a bug
                self._update(row.id, status="FAILED", error="the stream ended before the last row")
            with self._lock:
                self._credentials.pop(row.id, None)
