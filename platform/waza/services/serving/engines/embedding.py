"""The `embedding` engine: sentence-transformers models from a local folder, unit vectors.

Options: `batch_size` (default 32), `normalize` (default true).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path
from typing import Any

from waza.services.serving.engines.base import (
    INVALID_REQUEST,
    LOADING_FAILURE,
    OOM,
    Embeddings,
    Engine,
    EngineError,
    EngineSpec,
    model_path,
)
from waza.services.serving.engines.streaming import runtime_error
from waza.services.serving.engines.transformers import offline_hub, quiet_progress

ST_MARKERS = ("modules.json", "config_sentence_transformers.json")


def is_sentence_transformer(path: Path) -> bool:
    """Whether `path` is a sentence-transformers folder."""
    return path.is_dir() and any((path / m).is_file() for m in ST_MARKERS)


class EmbeddingEngine(Engine):
    """Sentence embeddings with sentence-transformers; encoding runs in a worker thread."""

    name = "embedding"
    tasks = frozenset({"embedding"})

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        if device not in ("cpu", "cuda"):
            return f"unknown device {device!r} (cpu or cuda)"
        if importlib.util.find_spec("sentence_transformers") is None:
            return "sentence-transformers is not installed"
        return None

    @classmethod
    def can_load(cls, path: Path) -> bool:
        return is_sentence_transformer(path)

    def __init__(self, spec: EngineSpec) -> None:
        super().__init__(spec)
        path = model_path(spec, "embedding model folder")
        if not path.is_dir():
            raise EngineError(LOADING_FAILURE, f"{path} is a file, not a model folder")
        if not (path / "config.json").is_file() and not is_sentence_transformer(path):
            raise EngineError(
                LOADING_FAILURE, f"{path} is not a sentence-transformers or Hugging Face model"
            )
        import torch

        torch.set_num_threads(spec.threads)
        try:
            with offline_hub(), quiet_progress():
                from sentence_transformers import SentenceTransformer

                self.model: Any = SentenceTransformer(
                    str(path), device=spec.device, local_files_only=True
                )
        except torch.cuda.OutOfMemoryError as exc:
            raise EngineError(OOM, f"out of GPU memory loading {path}: {exc}") from exc
        except Exception as exc:
            raise EngineError(LOADING_FAILURE, f"cannot load the model at {path}: {exc}") from exc
        self.model.eval()
        dim_fn = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dimension = int(dim_fn() or 0)
        self.max_tokens = int(self.model.max_seq_length or 0)
        self._batch_size = int(spec.options.get("batch_size", 32))
        self._normalize = bool(spec.options.get("normalize", True))
        self._lock = threading.Lock()  # the Rust tokenizer and the model: one caller at a time

    def _embed(self, texts: list[str]) -> Embeddings:
        with self._lock:
            tokens = self.model.tokenizer(
                texts, truncation=True, max_length=self.max_tokens or None
            )
            counted = sum(len(ids) for ids in tokens["input_ids"])
            vectors = self.model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=self._normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return Embeddings(vectors=vectors.astype("float32").tolist(), prompt_tokens=counted)

    async def embed(self, texts: list[str]) -> Embeddings:
        if not texts:
            raise EngineError(INVALID_REQUEST, "no input to embed")
        try:
            return await asyncio.to_thread(self._embed, texts)
        except EngineError:
            raise
        except Exception as exc:
            raise runtime_error(exc) from exc

    def close(self) -> None:
        self.model = None
