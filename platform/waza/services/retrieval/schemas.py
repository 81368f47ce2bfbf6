"""Request and response bodies of retrieval (kamiwaza-sdk 1.3 `schemas/retrieval.py`, digest §9).

Statuses: PENDING (an `sse` job not streamed yet), RUNNING, COMPLETED, FAILED, CANCELLED.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

TRANSPORTS = ("auto", "inline", "sse", "grpc")


class RetrievalRequest(BaseModel):
    """`POST /retrieval/jobs`.

    `filters`: `{"column": value}` (equality) or `{"column": {"$gt": 1, "$lte": 5}}` with
    `$eq $ne $gt $gte $lt $lte $in $nin` (also without `$`, or as `== != > >= < <=`); every
    entry must hold. `null` matches missing values.
    """

    model_config = ConfigDict(extra="ignore")

    dataset_urn: str = Field(min_length=1, max_length=4096)
    transport: str | None = Field(default="auto", description="auto, inline, sse (grpc: 422)")
    limit_rows: int | None = Field(default=None, ge=1)
    offset: int | None = Field(default=None, ge=0)
    filters: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    columns: list[str] | None = None
    credential_override: SecretStr | None = Field(
        default=None, description="S3 credentials for this read only; never stored"
    )
    format_hint: str | None = Field(default=None, max_length=32)
    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    sdk_session: str | None = None


class DatasetDescriptor(BaseModel):
    urn: str
    platform: str
    path: str | None = None
    format: str | None = None
    estimated_bytes: int | None = None
    estimated_rows: int | None = None


class InlineData(BaseModel):
    media_type: str = "application/json"
    data: Any
    row_count: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class JobProgress(BaseModel):
    bytes_processed: int | None = None
    rows_processed: int | None = None
    chunks_emitted: int | None = None


class RetrievalJob(BaseModel):
    """What `POST /retrieval/jobs` answers: `inline` holds the rows for inline jobs."""

    job_id: str
    transport: str
    status: str
    dataset: DatasetDescriptor
    inline: InlineData | None = None
    grpc: dict[str, Any] | None = None
    stream_url: str | None = Field(
        default=None, description="Where an sse job's events are read (GET)"
    )


class RetrievalJobStatus(BaseModel):
    job_id: str
    status: str
    transport: str
    dataset: DatasetDescriptor
    progress: JobProgress = Field(default_factory=JobProgress)
    created_at: datetime
    updated_at: datetime
    error: str | None = None


class CancelResult(BaseModel):
    job_id: str
    status: str
    cancelled: bool
