"""ORM models of ingestion: scheduled ingest jobs, emitted metadata change proposals, RAG jobs.

A RAG job row records, as the job goes, everything it created (catalog URNs, whether it created
its collection, its staging folder), so a failed, cancelled or interrupted job can be rolled back
from the row alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin


class IngestJob(IdMixin, TimestampMixin, Base):
    """A scheduled ingestion (`POST /ingestion/ingest/jobs`); `job_id` is the caller's name."""

    __tablename__ = "ingest_jobs"

    job_id: Mapped[str] = mapped_column(String(200), unique=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    owner_username: Mapped[str] = mapped_column(String(128))
    schedule: Mapped[str] = mapped_column(String(200))
    source_type: Mapped[str] = mapped_column(String(64))
    conn_args_encrypted: Mapped[str] = mapped_column(Text)
    """The connection arguments as JSON, encrypted (they may hold credentials)."""
    status: Mapped[str] = mapped_column(String(32), default="pending")
    last_run: Mapped[datetime | None] = mapped_column(default=None)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_urns: Mapped[list[str]] = mapped_column(JSON, default=list)


class IngestMCP(IdMixin, TimestampMixin, Base):
    """A metadata change proposal accepted by `POST /ingestion/ingest/emit`."""

    __tablename__ = "ingest_mcps"

    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    entity_urn: Mapped[str] = mapped_column(String(1024), index=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    aspect_name: Mapped[str] = mapped_column(String(200))
    change_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    forwarded: Mapped[bool] = mapped_column(Boolean, default=False)


class RagJob(IdMixin, TimestampMixin, Base):
    """One RAG ingest: a folder or file cataloged, chunked, embedded and inserted."""

    __tablename__ = "rag_jobs"

    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    owner_username: Mapped[str] = mapped_column(String(128))
    owner_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    worker: Mapped[str] = mapped_column(String(64))
    """The service instance that runs the job (see `IngestionService.recover_stale`)."""
    status: Mapped[str] = mapped_column(String(16), index=True, default="PENDING")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    path: Mapped[str] = mapped_column(Text)
    collection: Mapped[str] = mapped_column(String(200))
    vectordb_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    dataset_urns: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_urns: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_collection: Mapped[bool] = mapped_column(Boolean, default=False)
    staging: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
