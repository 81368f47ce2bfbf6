"""Routes of the embedding service (`/api/embedding/...`), kamiwaza-sdk 1.3 compatible (§8).

Every route needs a logged-in user except `GET /embedding/health`, a public probe. `model` and
`provider_type` choose the model (see `service.py`): `provider_type=deployment` with a deployment
id or model name embeds through a DEPLOYED `embedding` deployment (the caller must be allowed to
use it). `device` is accepted for compatibility and ignored: a local model runs on the server's
configured device, a deployed one where it was deployed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from waza.gateway.deps import Context, CurrentUser, ReaderUser
from waza.gateway.openapi import error_responses
from waza.services.embedding import schemas
from waza.services.embedding.service import DEFAULT_BATCH_SIZE

router = APIRouter(prefix="/embedding", tags=["embedding"])

USER = error_responses(401)
MODEL_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 502, 503)

Model = Annotated[
    str | None,
    Query(
        description="Model name (a deployed model: its deployment id or model name); empty or "
        "the SDK's default means the default"
    ),
]
Provider = Annotated[str | None, Query(description="Provider type (`/embedding/providers`)")]
Device = Annotated[str | None, Query(description="Accepted and ignored (server's device)")]


@router.get("/providers", response_model=list[str], responses=USER)
def get_providers(ctx: Context, _: CurrentUser) -> list[str]:
    """Every accepted `provider_type` (several spellings of one provider are all listed).

    The local sentence-transformers provider comes first; `deployment`/`deployed` select models
    deployed with the `embedding` engine (named by deployment id or model name)."""
    return ctx.embedding.providers()


@router.post("/generate", response_model=schemas.EmbeddingOutput, responses=MODEL_ERRORS)
def create_embedding(
    ctx: Context, user: ReaderUser, body: schemas.EmbeddingRequest
) -> schemas.EmbeddingOutput:
    """One unit-length vector for `text` (its first tokens, up to what the model reads)."""
    return ctx.embedding.generate(body, user)


@router.get(
    "/generate/{text:path}",
    response_model=schemas.EmbeddingOutput,
    responses=MODEL_ERRORS,
)
def get_embedding(
    ctx: Context,
    user: CurrentUser,
    text: str,
    model: Model = None,
    provider_type: Provider = None,
    return_offset: bool = False,
    device: Device = None,
) -> schemas.EmbeddingOutput:
    """As `POST /embedding/generate`, the text percent-encoded in the path."""
    body = schemas.EmbeddingRequest(
        text=text,
        model=model,
        provider_type=provider_type,
        device=device,
        return_offset=return_offset,
    )
    return ctx.embedding.generate(body, user)


@router.post(
    "/batch",
    response_model=list[list[float]],
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 502, 503),
)
def embed_chunks(
    ctx: Context,
    user: ReaderUser,
    texts: Annotated[list[str], Body(description="Texts to embed: a bare JSON list of strings")],
    model: Model = None,
    provider_type: Provider = None,
    batch_size: Annotated[int, Query(ge=1, le=1024)] = DEFAULT_BATCH_SIZE,
    device: Device = None,
) -> list[list[float]]:
    """Unit-length vectors of `texts`, same length and order (at most 2048 texts)."""
    return ctx.embedding.batch(texts, model, provider_type, batch_size, user)


@router.post(
    "/chunk",
    response_model=list[str] | schemas.ChunkResponse,
    responses=MODEL_ERRORS,
)
def chunk_text(
    ctx: Context,
    user: ReaderUser,
    body: schemas.ChunkTextRequest,
    model: Model = None,
    provider_type: Provider = None,
    device: Device = None,
) -> list[str] | schemas.ChunkResponse:
    """Token-aware chunks (sizes in the model's tokens) with offsets into `text`.

    A bare list of chunk texts, or with `return_metadata` their offsets, token counts and
    metadata. `max_length` is capped at what the model reads and `overlap` shrinks in proportion;
    the values used come back as `max_length` and `overlap`.
    """
    return ctx.embedding.chunk_request(body, model, provider_type, user)


@router.get("/health", response_model=schemas.EmbeddingHealth)
def health(ctx: Context) -> schemas.EmbeddingHealth:
    """Readiness of the embedding service (public): the default model's state, not loading it."""
    return ctx.embedding.health()
