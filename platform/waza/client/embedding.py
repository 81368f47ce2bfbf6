"""`client.embedding`: providers, vectors and token-aware chunking.

>>> vectors = client.embedding.batch(["first text", "second text"])
>>> chunks = client.embedding.chunk(long_text, max_length=200, overlap=20)
>>> chunks.offsets[1]  # where the second chunk starts in long_text
>>> client.embedding.batch(["text"], model=str(deployment_id), provider_type="deployment")

`provider_type="deployment"` embeds through a DEPLOYED deployment of the `embedding` engine,
named by `model`: its deployment id or its model name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from waza.client.base import Transport, drop_none
from waza.services.embedding import schemas


class EmbeddingAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def providers(self) -> list[str]:
        """Every accepted `provider_type`."""
        return self._t.parse(list[str], "GET", "embedding/providers")

    def generate(
        self, text: str, model: str | None = None, provider_type: str | None = None
    ) -> schemas.EmbeddingOutput:
        """One unit-length vector for `text`; `model` empty means the platform's default."""
        body = drop_none(text=text, model=model, provider_type=provider_type)
        return self._t.parse(schemas.EmbeddingOutput, "POST", "embedding/generate", json=body)

    def get(
        self, text: str, model: str | None = None, provider_type: str | None = None
    ) -> schemas.EmbeddingOutput:
        """As `generate`, through `GET /embedding/generate/{text}` (short texts)."""
        params = drop_none(model=model, provider_type=provider_type)
        path = "embedding/generate/" + quote(text, safe="")
        return self._t.parse(schemas.EmbeddingOutput, "GET", path, params=params)

    def batch(
        self,
        texts: list[str],
        model: str | None = None,
        provider_type: str | None = None,
        batch_size: int = 64,
    ) -> list[list[float]]:
        """Unit-length vectors of `texts`, same order (at most 2048 texts per call)."""
        params = drop_none(model=model, provider_type=provider_type, batch_size=batch_size)
        return self._t.parse(
            list[list[float]], "POST", "embedding/batch", params=params, json=texts
        )

    def chunk(
        self,
        text: str,
        max_length: int = 510,
        overlap: int = 32,
        preamble_text: str = "",
        model: str | None = None,
        provider_type: str | None = None,
    ) -> schemas.ChunkResponse:
        """Chunks (sizes in the model's tokens) with their offsets into `text` and metadata."""
        body: dict[str, Any] = {
            "text": text,
            "max_length": max_length,
            "overlap": overlap,
            "preamble_text": preamble_text,
            "return_metadata": True,
        }
        params = drop_none(model=model, provider_type=provider_type)
        return self._t.parse(
            schemas.ChunkResponse, "POST", "embedding/chunk", params=params, json=body
        )

    def health(self) -> schemas.EmbeddingHealth:
        """The embedding service's state (no credentials needed)."""
        return self._t.parse(schemas.EmbeddingHealth, "GET", "embedding/health", auth=False)
