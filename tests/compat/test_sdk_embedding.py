"""Embeddings through the real kamiwaza-sdk (digest §8; core flow 12), packaged model.

The SDK's defaults (`nomic-ai/nomic-embed-text-v1.5`, `sentencetransformers`) are served by the
platform's default model, all-MiniLM-L6-v2, and every response says so in `model`.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import APIError
from kamiwaza_sdk.schemas.embedding import ChunkResponse, EmbeddingOutput

from tests.conftest import LiveServer

TEXT = (
    "Waza is a Jupyter-native AI platform. It serves models, stores vectors and catalogs data.\n\n"
    "Ingestion reads a folder, chunks each file with offsets, embeds the chunks and inserts "
    "them into a collection. Retrieval finds the chunks closest to a question. "
) * 20


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_embedding_flow(admin_sdk: KamiwazaClient) -> None:
    """Flow 12, in the order the digest gives it, with the provider the harness would pick."""
    providers = admin_sdk.embedding.get_providers()
    assert {"sentence_transformers", "sentencetransformers", "huggingface_embedding"} <= set(
        providers
    )
    provider = next(p for p in ("sentence_transformers", "huggingface_embedding") if p in providers)
    e = admin_sdk.embedding.get_embedder(model="all-MiniLM-L6-v2", provider_type=provider)

    chunks = e.chunk_text(TEXT)
    assert isinstance(chunks, list) and len(chunks) > 1
    assert all(isinstance(c, str) and c for c in chunks)

    detailed = e.chunk_text(TEXT, max_length=200, overlap=20, return_metadata=True)
    assert isinstance(detailed, ChunkResponse)
    assert detailed.offsets is not None and detailed.token_counts is not None
    for chunk, offset, tokens in zip(
        detailed.chunks, detailed.offsets, detailed.token_counts, strict=True
    ):
        assert TEXT[offset : offset + len(chunk)] == chunk
        assert 0 < tokens <= 200
    assert detailed.metadata and detailed.metadata[0]["index"] == 0

    vectors = e.embed_chunks(detailed.chunks, batch_size=8)
    assert len(vectors) == len(detailed.chunks)
    assert all(len(v) == 384 for v in vectors)

    # No "?" in a text for get_embedding: the SDK puts the text in the path unescaped, so
    # requests reads "?" as the start of the query string and the server never sees it.
    q = "How does ingestion store chunks"
    created = e.create_embedding(q)
    assert isinstance(created, EmbeddingOutput) and len(created.embedding) == 384
    fetched = e.get_embedding(q)
    np.testing.assert_allclose(fetched.embedding, created.embedding, atol=1e-6)
    best = max(range(len(vectors)), key=lambda i: cos(created.embedding, vectors[i]))
    assert "Ingestion" in detailed.chunks[best] or "ingestion" in detailed.chunks[best]


def test_sdk_defaults_are_served_by_the_default_model(admin_sdk: KamiwazaClient) -> None:
    e = admin_sdk.embedding.get_embedder()  # nomic-ai/nomic-embed-text-v1.5, sentencetransformers
    assert len(e.create_embedding("hello world").embedding) == 384
    with_offset = e.get_embedding("hello world", return_offset=True)
    assert with_offset.offset == 0
    raw = admin_sdk.post(
        "/embedding/generate",
        json={"text": "hello", "model": e.model, "provider_type": e.provider_type},
    )
    assert raw["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    legacy = admin_sdk.embedding.HuggingFaceEmbedding()  # provider_type huggingface_embedding
    assert len(legacy.embed_chunks(["a", "b"])) == 2


def test_unknown_model_is_an_api_error_not_a_crash(admin_sdk: KamiwazaClient) -> None:
    e = admin_sdk.embedding.get_embedder(model="BAAI/bge-large-en-v1.5")
    with pytest.raises(APIError) as error:
        e.create_embedding("x")
    assert error.value.status_code == 400
    assert "all-MiniLM-L6-v2" in (error.value.response_text or "")
    bad = admin_sdk.embedding.get_embedder(provider_type="openai")
    with pytest.raises(APIError) as error:
        bad.embed_chunks(["x"])
    assert error.value.status_code == 400


def test_health_is_public(live_server: LiveServer) -> None:
    reply = httpx.get(live_server.api + "/embedding/health", timeout=30)
    assert reply.status_code == 200
    body = reply.json()
    assert (body["status"], body["service"]) == ("healthy", "embedding")
    assert httpx.get(live_server.api + "/embedding/providers", timeout=30).status_code == 401
