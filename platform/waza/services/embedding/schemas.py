"""Request and response bodies of the embedding service (kamiwaza-sdk 1.3 `schemas/embedding.py`).

Responses carry the SDK's fields plus a few it ignores (`model`, `dimensions`, ...) that say
which model produced the vectors and how.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

MAX_CHUNK_TOKENS = 8192
MAX_PREAMBLE_CHARS = 10_000


class EmbeddingRequest(BaseModel):
    """`POST /embedding/generate`."""

    text: str = Field(description="Text to embed (must not be blank)")
    model: str | None = Field(
        default=None,
        description="Model name; empty, `default` or the SDK's default "
        "(`nomic-ai/nomic-embed-text-v1.5`) mean the platform's default model",
    )
    provider_type: str | None = Field(
        default=None,
        description="Provider (`GET /embedding/providers`); empty means the default. "
        "`deployment` embeds through a DEPLOYED `embedding` deployment named by `model` "
        "(its id or its model name)",
    )
    device: str | None = Field(
        default=None,
        description="Accepted for compatibility; the shared model runs on the server's "
        "configured device (reported in `device`)",
    )
    return_offset: bool = Field(default=False, description="Also return `offset` (always 0)")


class EmbeddingOutput(BaseModel):
    """One vector and what produced it."""

    embedding: list[float]
    offset: int | None = Field(
        default=None, description="Character offset in the input where the embedded text starts"
    )
    model: str = Field(description="The model that produced the vector")
    provider_type: str
    dimensions: int
    normalized: bool = Field(description="Whether the vector has unit length")
    device: str
    token_count: int = Field(description="Tokens in the input text")
    truncated: bool = Field(
        description="True when the input is longer than the model reads: only the first "
        "`max_tokens` tokens were embedded (chunk long texts first)"
    )
    deployment_id: uuid.UUID | None = Field(
        default=None, description="The deployment that computed the vector (deployed models)"
    )


class ChunkTextRequest(BaseModel):
    """`POST /embedding/chunk`; sizes are in tokens of the model's tokenizer."""

    text: str = Field(description="Text to chunk (must not be blank)")
    max_length: int = Field(
        default=510,
        ge=50,
        le=MAX_CHUNK_TOKENS,
        description="Most tokens per chunk, preamble included; capped at what the model reads",
    )
    overlap: int = Field(
        default=32, ge=0, description="Tokens shared by consecutive chunks (less than max_length)"
    )
    preamble_text: str = Field(
        default="", max_length=MAX_PREAMBLE_CHARS, description="Text put before every chunk"
    )
    return_metadata: bool = Field(
        default=False, description="Return offsets, token counts and metadata, not a bare list"
    )


class ChunkMetadata(BaseModel):
    index: int
    start_char: int = Field(description="Offset of the chunk's body in `text`")
    end_char: int = Field(description="Exclusive end of the chunk's body in `text`")
    start_token: int
    end_token: int
    token_count: int = Field(description="Tokens of the chunk, preamble included")
    preamble_chars: int = Field(description="Characters of preamble before the body")


class ChunkResponse(BaseModel):
    """Chunks with their positions.

    `chunks[i] == preamble_text + text[offsets[i]:metadata[i].end_char]`; without a preamble,
    `text[offsets[i]:offsets[i] + len(chunks[i])] == chunks[i]`.
    """

    chunks: list[str]
    offsets: list[int] = Field(description="Start of each chunk's body in `text` (characters)")
    token_counts: list[int]
    metadata: list[ChunkMetadata]
    model: str = Field(description="The model the chunks are sized for")
    max_length: int = Field(description="Tokens per chunk actually used (after the model cap)")
    overlap: int = Field(description="Tokens of overlap actually used")
    tokenizer: str | None = Field(
        default=None,
        description="The model whose tokenizer counted the tokens: the model's own, or for a "
        "deployed model whose folder the API cannot read, the packaged default's",
    )
    deployment_id: uuid.UUID | None = Field(
        default=None, description="The deployment of `model` (deployed models)"
    )


class EmbeddingHealth(BaseModel):
    status: str = Field(description="`healthy`, or `degraded` when the model failed to load")
    service: str = "embedding"
    model: str
    loaded: bool = Field(description="Whether the model is in memory (it loads on first use)")
    device: str
    dimensions: int | None = None
    providers: list[str]
    error: str | None = None
