"""Inference engines (plug-ins) and the rules that pick one for a model.

Importing this package is cheap: the engines import torch, transformers, sentence-transformers,
llama_cpp or vllm only when a model is loaded (or, for llama_cpp and vllm, when asked whether
they can run here).
"""

from __future__ import annotations

from pathlib import Path

from waza.services.serving.engines.base import (
    Delta,
    Embeddings,
    Engine,
    EngineError,
    EngineSpec,
    Generation,
    Resources,
    SamplingParams,
)
from waza.services.serving.engines.embedding import EmbeddingEngine
from waza.services.serving.engines.llamacpp import LlamaCppEngine
from waza.services.serving.engines.transformers import TransformersEngine, is_causal_lm
from waza.services.serving.engines.vllm import VllmEngine

__all__ = [
    "ENGINES",
    "Delta",
    "Embeddings",
    "Engine",
    "EngineError",
    "EngineSpec",
    "Generation",
    "Resources",
    "SamplingParams",
    "get_engine",
    "select_engine",
]

ENGINES: dict[str, type[Engine]] = {
    cls.name: cls for cls in (TransformersEngine, EmbeddingEngine, LlamaCppEngine, VllmEngine)
}


def get_engine(name: str) -> type[Engine]:
    """The engine class called `name`; ValueError for an unknown name."""
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}") from None


def _usable(cls: type[Engine], device: str) -> type[Engine]:
    reason = cls.unavailable_reason(device)
    if reason:
        raise ValueError(f"engine {cls.name!r} cannot run here on {device}: {reason}")
    return cls


def select_engine(
    path: Path | None, purpose: str | None, device: str, requested: str | None
) -> type[Engine]:
    """The engine that serves this model here; ValueError (with the reason) when none can.

    `requested` wins. Otherwise by format: a .gguf file (or a folder of them) → llamacpp; a
    sentence-transformers folder, or a purpose mentioning "embed" → embedding; a Hugging Face
    causal LM folder → vllm on CUDA when vllm is available, else transformers. A path that does
    not exist (files deleted, never downloaded) goes to transformers, whose load then fails with
    MODEL_LOADING_FAILURE naming the path, so the deployment records why.
    """
    if requested:
        return _usable(get_engine(requested), device)
    folder = Path(path) if path is not None else None
    if folder is not None and (folder.suffix.lower() == ".gguf" or LlamaCppEngine.can_load(folder)):
        return _usable(LlamaCppEngine, device)
    if (folder is not None and EmbeddingEngine.can_load(folder)) or "embed" in (
        purpose or ""
    ).lower():
        return _usable(EmbeddingEngine, device)
    if folder is not None and is_causal_lm(folder):
        if device == "cuda" and VllmEngine.unavailable_reason(device) is None:
            return VllmEngine
        return _usable(TransformersEngine, device)
    if folder is None or not folder.exists():
        return _usable(TransformersEngine, device)
    raise ValueError(f"cannot tell which engine serves {folder}; pick one with engine_name")
