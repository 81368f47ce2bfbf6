"""Request and response bodies of ingestion (kamiwaza-sdk 1.3 `schemas/ingestion.py`, digest
§10), the RAG pipeline, and the `/context/search` and `/context/retrieve` routes (digest §6).

Extra response fields (`skipped`, `source_type`, ...) are ignored by the SDK.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

RAG_STATUSES = ("PENDING", "RUNNING", "CANCELLING", "COMPLETED", "FAILED", "CANCELLED")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---- active ingestion ----------------------------------------------------------------------------
class ActiveIngestRequest(_Body):  # type: ignore[no-redef]  # field `kwargs` vs the plugin's __init__
    """`POST /ingestion/ingest/run`.

    `file`: `path` (absolute; a file or a folder), `recursive` (default true), `fail_fast`
    (default false: a file that cannot be read is reported in `errors`, the others are
    registered; true: the first failure undoes the run and answers 422), `tags`.
    `s3`: `bucket`, `prefix`, `recursive`, `endpoint_url`, `region`, credentials (see
    `waza.services.ingestion.s3`), `tags`.
    """

    source_type: str = Field(min_length=1, max_length=64, description="`file` or `s3`")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Source-specific arguments")


class IngestResponse(BaseModel):
    """What a run registered: `status` is `success`, `partial` (some files failed) or `failed`."""

    urns: list[str] = Field(default_factory=list)
    status: str = "success"
    errors: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(
        default_factory=list, description="Files left out because their format is unsupported"
    )
    source_type: str = ""


class IngestJobCreate(_Body):
    """`POST /ingestion/ingest/jobs`: a named ingestion with a cron schedule."""

    job_id: str = Field(min_length=1, max_length=200, pattern=r"^[^/\x00-\x1f]+$")
    schedule: str = Field(min_length=1, max_length=200, description="Cron expression")
    source_type: str = Field(min_length=1, max_length=64)
    conn_args: dict[str, Any] = Field(
        default_factory=dict, description="The run's kwargs; stored encrypted"
    )


class OperationStatus(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str


class IngestJobStatus(BaseModel):
    """A scheduled job: the last run's outcome (`pending` until it first runs)."""

    job_id: str
    last_run: str | None = None
    status: str = "pending"
    error_count: int = 0
    created_urns: list[str] = Field(default_factory=list)
    schedule: str = ""
    source_type: str = ""
    errors: list[str] = Field(default_factory=list)
    next_run: str | None = Field(
        default=None, description="When the scheduler runs it next (ISO time, UTC)"
    )


class MCPEmitRequest(_Body):
    mcp: dict[str, Any] = Field(
        description="A DataHub metadata change proposal: entityUrn, aspectName, aspect "
        "(serialised {value, contentType} or a plain object), changeType (default UPSERT)"
    )


class MCPEmitResponse(BaseModel):
    status: str = "accepted"
    id: uuid.UUID
    entity_urn: str
    entity_type: str
    aspect_name: str
    change_type: str
    forwarded: bool = Field(description="Sent to the configured DataHub GMS")


class IngestionHealth(BaseModel):
    status: str = "healthy"
    service: str = "ingestion"
    sources: list[str]
    formats: list[str]
    rag: bool = True
    scheduler: str = Field(description="Whether this process runs scheduled jobs, and how often")


# ---- RAG -----------------------------------------------------------------------------------------
class RagIngestRequest(_Body):
    """`POST /ingestion/rag/ingest`: catalog, chunk, embed and insert a folder or file."""

    path: str = Field(min_length=1, description="Absolute path of a folder or file on the server")
    collection: str = Field(min_length=1, max_length=200, description="Created when missing")
    vectordb_id: uuid.UUID | None = Field(
        default=None, description="Default: your default vector DB (created when missing)"
    )
    chunk_size: int | None = Field(
        default=None, ge=16, le=8192, description="Tokens per chunk; default: what the model reads"
    )
    overlap: int | None = Field(
        default=None, ge=0, description="Tokens shared by neighbouring chunks; default a tenth"
    )
    batch_size: int = Field(default=64, ge=1, le=1024, description="Chunks per embedding batch")
    recursive: bool = True
    replace: bool = Field(
        default=True,
        description="Files ingested into this collection before are replaced: their old chunks "
        "(same `source`) are deleted once the new ones are in",
    )
    fail_fast: bool = Field(
        default=True,
        description="Fail (and undo) the whole job on the first unreadable file; false skips it "
        "and reports it in `errors`",
    )
    model: str | None = Field(
        default=None,
        description="Embedding model; default the platform's. With `provider_type` "
        "`deployment`: a DEPLOYED `embedding` deployment's id or model name",
    )
    provider_type: str | None = Field(
        default=None, description="Embedding provider (`GET /embedding/providers`)"
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> RagIngestRequest:
        if (
            self.chunk_size is not None
            and self.overlap is not None
            and (self.overlap >= self.chunk_size)
        ):
            raise ValueError("overlap must be less than chunk_size")
        return self


class RagProgress(BaseModel):
    files_total: int = 0
    files_done: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    chunks: int = Field(default=0, description="Chunks made so far")
    chunks_embedded: int = 0
    vectors_inserted: int = 0
    vectors_replaced: int = Field(default=0, description="Old chunks of re-ingested files deleted")
    current_file: str | None = None


class RagJob(BaseModel):
    """A RAG ingest job. Terminal states: COMPLETED, FAILED (`error` says why), CANCELLED."""

    id: uuid.UUID
    job_id: str
    status: str
    cancel_requested: bool = False
    path: str
    collection: str
    vectordb_id: uuid.UUID | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    progress: RagProgress = Field(default_factory=RagProgress)
    errors: list[str] = Field(default_factory=list)
    error: str | None = None
    dataset_urns: list[str] = Field(default_factory=list)
    created_collection: bool = False
    owner: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in {"COMPLETED", "FAILED", "CANCELLED"}


class RagQuery(_Body):
    """`POST /ingestion/rag/query`: the nearest chunks; with `deployment_id`, an answer too."""

    collection: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=20_000)
    top_k: int = Field(default=5, ge=1, le=1000)
    vectordb_id: uuid.UUID | None = None
    score_threshold: float | None = None
    filter: dict[str, Any] | None = Field(
        default=None, description='Metadata filter, e.g. {"filename": "a.md"}'
    )
    model: str | None = Field(
        default=None,
        description="Embedding model for the question: the one the collection was built with "
        "(default the platform's)",
    )
    provider_type: str | None = Field(
        default=None, description="Its embedding provider (`GET /embedding/providers`)"
    )
    deployment_id: str | None = Field(
        default=None,
        description="A DEPLOYED chat deployment: it answers from the retrieved chunks, given as "
        "numbered sources, and the answer comes back with those `sources`",
    )
    max_tokens: int = Field(default=256, ge=1, le=8192, description="Most tokens of the answer")
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Sampling temperature (0: the likeliest answer)"
    )
    max_context_chars: int = Field(
        default=6000,
        ge=200,
        le=200_000,
        description="Most characters of chunk text in the prompt; chunks past it are left out "
        "(fit this to the chat model's context)",
    )


class Passage(BaseModel):
    """One retrieved chunk with its source."""

    id: str
    text: str
    score: float
    source: str | None = None
    filename: str | None = None
    offset: int | None = None
    catalog_urn: str | None = None
    chunk_index: int | None = None
    collection_name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class RagSource(Passage):
    """A chunk the answer was grounded in."""

    number: int = Field(description="Its number in the prompt: the answer cites it as [number]")


class TokenUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RagAnswer(BaseModel):
    collection: str
    question: str
    results: list[Passage]
    answer: str | None = Field(
        default=None,
        description="The chat deployment's answer, grounded in `sources` (only with "
        "`deployment_id`, and only when some chunk was found: no chunks, no call)",
    )
    sources: list[RagSource] = Field(
        default_factory=list,
        description="The chunks given to the chat model, numbered as in its prompt (the best "
        "`results` that fit in `max_context_chars`)",
    )
    deployment_id: uuid.UUID | None = Field(
        default=None, description="The deployment that answered"
    )
    answer_model: str | None = Field(default=None, description="Its model name")
    finish_reason: str | None = Field(
        default=None, description="`stop`, or `length` when `max_tokens` cut the answer"
    )
    usage: TokenUsage | None = Field(default=None, description="Tokens of the answer's call")
    model: str = Field(description="The embedding model the question was embedded with")


class ContextSearchRequest(_Body):
    """`POST /context/search` (kamiwaza-sdk `context.search`)."""

    query: str = Field(min_length=1, max_length=20_000)
    collection_name: str | None = Field(
        default=None, description="Default: every collection of the vector DB the model fits"
    )
    top_k: int = Field(default=10, ge=1, le=1000)
    score_threshold: float | None = None
    vectordb_id: uuid.UUID | None = None


class ContextSearchResponse(BaseModel):
    query: str
    results: list[Passage]
    total: int
    collections: list[str]
    model: str


class ContextRetrieveRequest(_Body):
    """`POST /context/retrieve` (kamiwaza-sdk `context.retrieve`)."""

    query: str = Field(min_length=1, max_length=20_000)
    collection_names: list[str] | None = None
    top_k: int = Field(default=5, ge=1, le=1000)
    score_threshold: float | None = 0.7
    vectordb_id: uuid.UUID | None = None


class ContextRetrieveResponse(BaseModel):
    query: str
    sources: list[Passage]
    total: int
    collections: list[str]
    model: str
