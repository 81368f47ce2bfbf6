"""The embedding service with the real packaged model (all-MiniLM-L6-v2), in process.

The model loads once per process (module-scoped service; other modules share the same instance).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from waza.errors import BadRequest, PayloadTooLarge, ServiceUnavailable, Unprocessable
from waza.services.embedding import service as embedding_service
from waza.services.embedding.providers import PACKAGED_MODEL, LocalSentenceTransformer
from waza.services.embedding.service import SDK_DEFAULT_MODEL, EmbeddingService
from waza.settings import Settings


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingService:
    svc = EmbeddingService(Settings(home=tmp_path_factory.mktemp("emb")))  # type: ignore[call-arg]
    assert svc.dimension == 384  # loads the model
    return svc


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vectors_have_384_dims_unit_length_and_are_deterministic(service: EmbeddingService) -> None:
    first = service.embed(["The cat sits on the mat."])
    again = service.embed(["The cat sits on the mat."])
    assert len(first) == 1 and len(first[0]) == 384
    assert all(isinstance(x, float) for x in first[0])
    assert first == again
    assert np.linalg.norm(first[0]) == pytest.approx(1.0, abs=1e-5)


def test_paraphrases_are_closer_than_unrelated_texts(service: EmbeddingService) -> None:
    a, b, c, d = service.embed(
        [
            "How do I reset my password?",
            "I forgot my password and need to change it.",
            "The stock market fell sharply on Monday.",
            "Shares dropped a lot at the start of the week.",
        ]
    )
    assert cos(a, b) > cos(a, c) + 0.3
    assert cos(c, d) > cos(b, d) + 0.3


def test_batch_equals_individual_and_keeps_order(service: EmbeddingService) -> None:
    texts = ["short", "a much longer sentence about vector databases and search " * 3, "médium"]
    batch = service.embed(texts, batch_size=2)  # two batches, sorted by length inside
    single = [service.embed([t])[0] for t in texts]
    np.testing.assert_allclose(np.array(batch), np.array(single), atol=1e-5)


def test_concurrent_calls_give_the_serial_results(service: EmbeddingService) -> None:
    inputs = [
        [f"request {k} sentence {i} about topic {k * i}" for i in range(20)] for k in range(4)
    ]
    expected = [service.embed(x, batch_size=8) for x in inputs]
    results: dict[int, list[list[float]]] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            results[k] = service.embed(inputs[k], batch_size=8)
            service.chunk(" ".join(inputs[k]) * 5, 60, 10)  # the tokenizer, concurrently
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        np.testing.assert_allclose(np.array(results[k]), np.array(expected[k]), atol=1e-6)


def test_the_model_is_shared_by_every_service_instance(
    service: EmbeddingService, tmp_path: Path
) -> None:
    other = EmbeddingService(Settings(home=tmp_path))  # type: ignore[call-arg]
    assert other.model() is service.model()
    assert other.model().loaded


def test_lazy_load_runs_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    model = LocalSentenceTransformer("m", "/nowhere", "cpu")
    calls: list[int] = []

    def slow_load() -> object:
        calls.append(1)
        time.sleep(0.2)
        return object()

    monkeypatch.setattr(model, "_load", slow_load)
    threads = [threading.Thread(target=model.load) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert model.loaded


@pytest.mark.parametrize(
    "name",
    [None, "", "default", SDK_DEFAULT_MODEL, "all-MiniLM-L6-v2", PACKAGED_MODEL.upper()],
)
def test_default_model_names(service: EmbeddingService, name: str | None) -> None:
    assert service.model(name).name == PACKAGED_MODEL


@pytest.mark.parametrize(
    "provider", ["sentence_transformers", "sentencetransformers", "huggingface_embedding"]
)
def test_every_provider_spelling_serves_the_default(
    service: EmbeddingService, provider: str
) -> None:
    assert provider in service.providers()
    assert service.model(SDK_DEFAULT_MODEL, provider) is service.model()


def test_unknown_model_or_provider_is_a_clear_400(service: EmbeddingService) -> None:
    with pytest.raises(BadRequest) as model_error:
        service.model("BAAI/bge-large-en-v1.5")
    assert "not available" in model_error.value.detail
    assert PACKAGED_MODEL in model_error.value.detail
    with pytest.raises(BadRequest) as provider_error:
        service.model(None, "openai")
    assert "sentence_transformers" in provider_error.value.detail
    assert "huggingface_embedding" in provider_error.value.detail


def test_blank_texts_and_oversized_http_batches_are_refused(
    service: EmbeddingService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert service.embed([]) == []
    with pytest.raises(Unprocessable, match="text 1 is empty"):
        service.embed(["fine", "   "])
    monkeypatch.setattr(embedding_service, "MAX_BATCH_ITEMS", 3)
    with pytest.raises(PayloadTooLarge, match="at most 3"):
        service.batch(["x"] * 4, None, None)
    assert len(service.embed(["x"] * 4)) == 4  # the cap is for HTTP requests only


TEXT = (
    "Waza stores vectors in Milvus or Qdrant. Ingestion reads folders of files, chunks them "
    "and embeds every chunk.\n\nÜber-long words like Donaudampfschifffahrtsgesellschaft and "
    "emoji 🚀🙂 should survive; 東京は日本の首都です。北京は中国の首都です。 Café crème, "
    "naïve façade.\n\n"
) * 8


def test_chunks_map_back_to_the_text_with_the_real_tokenizer(service: EmbeddingService) -> None:
    chunks = service.chunk(TEXT, max_tokens=64, overlap=12)
    assert len(chunks) > 5
    model = service.model()
    for c in chunks:
        assert TEXT[c.start : c.end] == c.text
        assert c.token_count == model.count_tokens([c.text])[0] <= 64
    shared = [a.end_token - b.start_token for a, b in itertools.pairwise(chunks)]
    assert all(0 <= n <= 12 for n in shared)
    assert max(shared) > 0
    tokens = len(model.token_spans(TEXT))
    assert {t for c in chunks for t in range(c.start_token, c.end_token)} == set(range(tokens))


def test_chunk_size_is_capped_at_the_model_window(service: EmbeddingService) -> None:
    window = service.model().max_tokens
    assert window == 254  # max_seq_length 256 minus [CLS] and [SEP]
    chunks = service.chunk(TEXT * 4, max_tokens=1024, overlap=102)
    assert max(c.token_count for c in chunks) <= window
    shared = [a.end_token - b.start_token for a, b in itertools.pairwise(chunks)]
    assert max(shared) <= 102 * window // 1024  # overlap shrinks in proportion


def test_chunk_defaults_and_preamble(service: EmbeddingService) -> None:
    chunks = service.chunk(TEXT, preamble="Title: waza notes\n")
    assert all(c.token_count <= service.model().max_tokens for c in chunks)
    for c in chunks:
        assert c.text == "Title: waza notes\n" + TEXT[c.start : c.end]
    assert service.chunk("   \n ") == []
    with pytest.raises(Unprocessable, match="overlap"):
        service.chunk(TEXT, max_tokens=50, overlap=50)


def test_a_model_that_cannot_load_is_a_503_and_health_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    svc = EmbeddingService(Settings(home=tmp_path, embedding_model=str(missing)))  # type: ignore[call-arg]
    assert svc.health().status == "healthy" and not svc.health().loaded
    with pytest.raises(ServiceUnavailable, match="could not be loaded"):
        svc.embed(["hello"])
    health = svc.health()
    assert health.status == "degraded"
    assert health.error and "no-such-model" in health.error


def test_the_model_loads_without_any_network_access() -> None:
    """In a fresh process where every network connection fails, the default model still loads."""
    script = textwrap.dedent(
        """
        import os, socket
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ.pop(key, None)
        def refuse(*args, **kwargs):
            raise OSError("network access during model load")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from waza.services.embedding.service import EmbeddingService
        from waza.settings import Settings
        svc = EmbeddingService(Settings())
        print(len(svc.embed(["offline"])[0]), svc.model().name)
        print("offline after load:", os.environ.get("HF_HUB_OFFLINE"))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"384 {PACKAGED_MODEL}" in done.stdout
    assert "offline after load: None" in done.stdout  # the environment is restored
