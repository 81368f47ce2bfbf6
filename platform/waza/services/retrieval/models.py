"""ORM model of retrieval jobs: one row per job, with its status and progress.

The request is stored without `credential_override` (a caller's credential is used for the
job's reads and never written anywhere).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin


class RetrievalJob(IdMixin, TimestampMixin, Base):
    """A retrieval (materialisation) of one cataloged dataset."""

    __tablename__ = "retrieval_jobs"

    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dataset_urn: Mapped[str] = mapped_column(String(1024))
    platform: Mapped[str] = mapped_column(String(200))
    path: Mapped[str | None] = mapped_column(Text, default=None)
    format: Mapped[str | None] = mapped_column(String(32), default=None)
    transport: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    estimated_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    estimated_rows: Mapped[int | None] = mapped_column(BigInteger, default=None)
    rows_processed: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_processed: Mapped[int] = mapped_column(BigInteger, default=0)
    chunks_emitted: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
