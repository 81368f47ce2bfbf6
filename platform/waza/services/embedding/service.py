"""Embeddings: model choice, vectors, token-aware chunking, for the API and in-process callers.

In-process callers (the ingestion pipeline) use `embed`, `chunk` and `dimension`; the routes use
`generate`, `batch`, `chunk_request`, `providers` and `health`.

Choosing a model: a request names a provider (`provider_type`) and a model. A model is looked up
by exact name (case-insensitive) in the named provider, then in the others; an *exclusive*
provider (deployed models) named by the request is the only one looked in, so a deployment that
stopped is an error rather than a silent switch to a local copy. A missing name, `default`, or
the SDK's default `nomic-ai/nomic-embed-text-v1.5` (which the SDK sends whenever its caller names
no model) mean the platform's default model (for the deployment provider: the caller's only
DEPLOYED embedding deployment); any other unknown name is a 400 that lists the models available,
never a silent substitute, because vectors of another model are not comparable with the ones a
caller asked for. Responses say which model produced the vectors.

Deployed models need the caller (`principal`): access follows the serving rules and their calls
count in the deployment's usage. Without a principal only local models are found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waza.errors import BadRequest, PayloadTooLarge, ServiceUnavailable, Unprocessable
from waza.gateway.principal import Principal
from waza.services.embedding import schemas
from waza.services.embedding.chunking import Chunk, chunk_text
from waza.services.embedding.providers import (
    DeploymentProvider,
    EmbeddingModel,
    EmbeddingProvider,
    SentenceTransformersProvider,
)
from waza.settings import Settings

if TYPE_CHECKING:
    from waza.services.serving.service import ServingService

SDK_DEFAULT_MODEL = "nomic-ai/nomic-embed-text-v1.5"
DEFAULT_NAMES = frozenset({"", "default", SDK_DEFAULT_MODEL})
MAX_BATCH_ITEMS = 2048
DEFAULT_BATCH_SIZE = 64


def _provider_key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _check_texts(texts: list[str], limit: int | None = None) -> None:
    if limit is not None and len(texts) > limit:
        raise PayloadTooLarge(
            f"{len(texts)} texts in one request; at most {limit}: split the batch"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise Unprocessable(f"text {i} is empty: every text must contain non-blank characters")


class EmbeddingService:
    """Embedding models behind providers; the local model is loaded once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._providers: list[EmbeddingProvider] = [SentenceTransformersProvider(settings)]

    # -- providers and models ---------------------------------------------------------------------
    def register_provider(self, provider: EmbeddingProvider) -> None:
        """Add a provider (e.g. deployed models from the serving service); later ones rank after."""
        self._providers.append(provider)

    def attach_serving(self, serving: ServingService) -> None:
        """Offer the embedding deployments of `serving` (provider `deployment`); once."""
        if not any(isinstance(p, DeploymentProvider) for p in self._providers):
            self.register_provider(DeploymentProvider(serving))

    def providers(self) -> list[str]:
        """Every accepted `provider_type` spelling, in provider order."""
        return [s for p in self._providers for s in p.spellings]

    def _provider(self, provider_type: str | None) -> EmbeddingProvider:
        if not provider_type or not provider_type.strip():
            return self._providers[0]
        key = _provider_key(provider_type)
        for provider in self._providers:
            if key in {_provider_key(s) for s in provider.spellings}:
                return provider
        raise BadRequest(
            f"Unknown embedding provider {provider_type!r}; valid: {', '.join(self.providers())}"
        )

    def model(
        self,
        model: str | None = None,
        provider_type: str | None = None,
        principal: Principal | None = None,
    ) -> EmbeddingModel:
        """The model a request means (see the module docstring); 400 when there is none."""
        provider = self._provider(provider_type)
        only = bool(provider_type and provider_type.strip()) and provider.exclusive
        searched = [provider] if only else self._ranked(provider)
        name = (model or "").strip()
        if name:
            for candidate in searched:
                found = candidate.resolve(name, principal)
                if found is not None:
                    return found
        if name.lower() in DEFAULT_NAMES and not only:
            found = next((d for p in searched if (d := p.default(principal)) is not None), None)
            if found is not None:
                return found
            raise ServiceUnavailable("No default embedding model is available")
        if name.lower() in DEFAULT_NAMES:
            found = provider.default(principal)
            if found is not None:
                return found
        available = sorted({n for p in searched for n in p.model_names(principal)})
        if only:
            raise BadRequest(
                f"No DEPLOYED embedding model {name!r} you may use; name a deployment by id or "
                f"model name. Deployed embedding models: {', '.join(available) or 'none'} "
                "(deploy one with the `embedding` engine: POST /api/serving/deploy_model)"
            )
        raise BadRequest(
            f"Embedding model {name!r} is not available; available: {', '.join(available)} "
            f"(or leave the model empty for the default)"
        )

    def _ranked(self, first: EmbeddingProvider) -> list[EmbeddingProvider]:
        return [first, *(p for p in self._providers if p is not first)]

    @property
    def dimension(self) -> int:
        """Dimension of the default model's vectors (loads it)."""
        return self.model().dimension

    # -- in-process API ---------------------------------------------------------------------------
    def embed(
        self,
        texts: list[str],
        batch_size: int = DEFAULT_BATCH_SIZE,
        model: str | None = None,
        provider_type: str | None = None,
        principal: Principal | None = None,
    ) -> list[list[float]]:
        """Unit-length (normalised) vectors of `texts`, in order; cosine similarity = dot product.

        Any number of texts (encoded `batch_size` at a time). Raises 422 for a blank text, 503
        when the model cannot load. Texts longer than the model reads are cut (chunk them first).
        """
        _check_texts(texts)
        if not texts:
            return []
        vectors = self.model(model, provider_type, principal).encode(texts, max(1, batch_size))
        result: list[list[float]] = vectors.tolist()
        return result

    def chunk(
        self,
        text: str,
        max_tokens: int | None = None,
        overlap: int | None = None,
        preamble: str = "",
        model: str | None = None,
        provider_type: str | None = None,
        principal: Principal | None = None,
    ) -> list[Chunk]:
        """Token-aware chunks of `text` with character offsets (see `chunking`).

        `max_tokens` (default and cap: what the model reads) counts the preamble too; when it is
        capped, `overlap` (default: a tenth) shrinks in proportion. Blank text gives no chunks.
        """
        chosen = self.model(model, provider_type, principal)
        size, shared = self._sizes(chosen, max_tokens, overlap)
        return self._chunk(chosen, text, size, shared, preamble)

    @staticmethod
    def _chunk(
        chosen: EmbeddingModel, text: str, size: int, overlap: int, preamble: str
    ) -> list[Chunk]:
        if not text.strip():
            return []
        try:
            spans, count = chosen.token_spans, chosen.count_tokens
            return chunk_text(text, spans, count, size, overlap, preamble)
        except ValueError as exc:
            raise Unprocessable(str(exc)) from exc

    @staticmethod
    def _sizes(
        model: EmbeddingModel, max_tokens: int | None, overlap: int | None
    ) -> tuple[int, int]:
        limit = model.max_tokens
        requested = limit if max_tokens is None else max_tokens
        if requested < 1:
            raise Unprocessable("max_length must be at least 1 token")
        shared = requested // 10 if overlap is None else overlap
        if shared < 0 or shared >= requested:
            raise Unprocessable(
                f"overlap must be at least 0 and less than max_length ({requested}), not {shared}"
            )
        size = min(requested, limit)
        if size < requested:
            shared = shared * size // requested
        return size, shared

    # -- HTTP-facing ------------------------------------------------------------------------------
    def generate(
        self, body: schemas.EmbeddingRequest, principal: Principal | None = None
    ) -> schemas.EmbeddingOutput:
        """One vector for `body.text` (its first `max_tokens` tokens)."""
        if not body.text.strip():
            raise Unprocessable("text is empty: send the text to embed")
        chosen = self.model(body.model, body.provider_type, principal)
        tokens = chosen.count_tokens([body.text])[0]
        vector = chosen.encode([body.text], 1)[0]
        return schemas.EmbeddingOutput(
            embedding=vector.tolist(),
            offset=0 if body.return_offset else None,
            model=chosen.name,
            provider_type=chosen.provider,
            dimensions=chosen.dimension,
            normalized=chosen.normalized,
            device=chosen.device,
            token_count=tokens,
            truncated=tokens > chosen.max_tokens,
            deployment_id=chosen.deployment_id,
        )

    def batch(
        self,
        texts: list[str],
        model: str | None,
        provider_type: str | None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        principal: Principal | None = None,
    ) -> list[list[float]]:
        """Vectors of `texts` (same length and order), as `embed`; 413 over `MAX_BATCH_ITEMS`."""
        _check_texts(texts, MAX_BATCH_ITEMS)
        chosen = self.model(model, provider_type, principal)
        if not texts:
            return []
        result: list[list[float]] = chosen.encode(texts, batch_size).tolist()
        return result

    def chunk_request(
        self,
        body: schemas.ChunkTextRequest,
        model: str | None,
        provider_type: str | None,
        principal: Principal | None = None,
    ) -> list[str] | schemas.ChunkResponse:
        """`POST /embedding/chunk`: bare chunk texts, or chunks with offsets and metadata."""
        if not body.text.strip():
            raise Unprocessable("text is empty: send the text to chunk")
        chosen = self.model(model, provider_type, principal)
        size, shared = self._sizes(chosen, body.max_length, body.overlap)
        chunks = self._chunk(chosen, body.text, size, shared, body.preamble_text)
        if not body.return_metadata:
            return [c.text for c in chunks]
        return schemas.ChunkResponse(
            chunks=[c.text for c in chunks],
            offsets=[c.start for c in chunks],
            token_counts=[c.token_count for c in chunks],
            metadata=[schemas.ChunkMetadata(**c.metadata()) for c in chunks],
            model=chosen.name,
            max_length=size,
            overlap=shared,
            tokenizer=chosen.tokenizer_name,
            deployment_id=chosen.deployment_id,
        )

    def health(self) -> schemas.EmbeddingHealth:
        """The default model's state, without loading it (a probe must stay cheap)."""
        chosen = self._providers[0].default()
        if chosen is None:
            return schemas.EmbeddingHealth(
                status="degraded",
                model="",
                loaded=False,
                device=self.settings.embedding_device,
                providers=self.providers(),
                error="no default model",
            )
        error = chosen.error
        return schemas.EmbeddingHealth(
            status="degraded" if error else "healthy",
            model=chosen.name,
            loaded=chosen.loaded,
            device=chosen.device,
            dimensions=chosen.dimension if chosen.loaded else None,
            providers=self.providers(),
            error=error,
        )
