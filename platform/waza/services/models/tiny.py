"""A tiny random-weights chat model, built locally in a few seconds, for tests and demos.

`build_tiny_chat_model(dest)` trains a byte-level BPE tokenizer (vocabulary 2048) on text that
ships with Python (a paragraph below plus standard-library docstrings), adds a ChatML chat
template, initialises a 2-layer Llama (~0.3 M parameters) from `seed`, and saves it in the
Hugging Face layout (safetensors). It loads offline with `transformers`.

Its output is noise. `generation_config.json` suppresses the special tokens, so it never ends an
answer by itself (it always writes up to the token limit or a stop string, which is what
streaming and length tests want), and the tokens that are not printable UTF-8 on their own
(control characters, partial multi-byte characters), so its noise is clean text.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

TINY_VERSION = 1
NOTE = "random weights: output is noise, for tests"
VOCAB_SIZE = 2048
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_REQUIRED = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json")

_PARAGRAPH = """\
Hello! How can I help you today? I am a small assistant that answers questions about data,
models, notebooks and the weather. The capital of France is Paris; the capital of Japan is
Tokyo. Please write a short poem about the sea. Sure, here is one: the waves roll in, the
waves roll out, and the gulls call over the grey water. What is two plus two? Two plus two is
four. Summarise this document in three sentences. The report describes sales in the first
quarter, a new product line, and plans for the next year. Thank you, that was helpful!
"""

# Standard-library modules whose docstrings add ordinary English and code words to the corpus.
_DOC_MODULES = (
    "argparse",
    "collections",
    "csv",
    "dataclasses",
    "decimal",
    "functools",
    "itertools",
    "json",
    "logging",
    "pathlib",
    "statistics",
    "string",
    "textwrap",
)


def is_complete(path: Path) -> bool:
    """Whether `path` holds a tiny model of this version, completely written."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return config.get("waza_tiny_version") == TINY_VERSION and all(
        (path / name).is_file() for name in _REQUIRED
    )


def _corpus() -> list[str]:
    """Training text: the paragraph above and docstrings of a fixed list of stdlib modules."""
    import importlib

    texts = [_PARAGRAPH] * 20
    for name in _DOC_MODULES:
        module = importlib.import_module(name)
        for attr in sorted(vars(module)):
            doc = getattr(getattr(module, attr), "__doc__", None)
            if isinstance(doc, str) and not attr.startswith("_"):
                texts.append(doc)
        if module.__doc__:
            texts.append(module.__doc__)
    return texts


def _tokenizer() -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=None,
        eos_token="<|im_end|>",  # noqa: S106 (a token, not a password)
        pad_token="<|endoftext|>",  # noqa: S106
        unk_token=None,
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )


def _unprintable(tokenizer: object, ids: Iterable[int]) -> set[int]:
    """Tokens that are not whole printable UTF-8 text on their own (control or partial bytes)."""
    out = set()
    for i in ids:
        text = tokenizer.decode([i])  # type: ignore[attr-defined]
        if "\ufffd" in text or any((c < " " and c != "\n") or c == "\x7f" for c in text):
            out.add(i)
    return out


def _write(folder: Path, seed: int) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    tokenizer = _tokenizer()
    vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]
    special_ids = [vocab[t] for t in SPECIAL_TOKENS]
    suppressed = sorted(set(special_ids) | _unprintable(tokenizer, vocab.values()))
    eos_id, pad_id = vocab["<|im_end|>"], vocab["<|endoftext|>"]
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.config.waza_note = NOTE
    model.config.waza_tiny_version = TINY_VERSION
    model.generation_config = GenerationConfig(
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        suppress_tokens=suppressed,
        do_sample=False,
    )
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    (folder / "README.md").write_text(
        "# tiny-random-chat\n\nA 2-layer Llama with random weights and a BPE tokenizer trained on "
        "Python's docstrings, built by waza for tests. Its output is noise.\n"
    )


def build_tiny_chat_model(dest: Path, *, seed: int = 0) -> Path:
    """Build the tiny random chat model into `dest` (atomically) and return `dest`.

    Returns at once when `dest` already holds a complete model. The model is built in a
    temporary sibling folder that is renamed into place, so `dest` is never half-written and
    two concurrent builders both end with the same complete folder. A non-empty `dest` that is
    not a tiny model raises FileExistsError.
    """
    dest = Path(dest)
    if is_complete(dest):
        return dest
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists and is not a tiny model; remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _write(tmp, seed)
        tmp.chmod(0o755)
        try:
            os.rename(tmp, dest)  # replaces an empty folder; fails on a non-empty one
        except OSError:
            if not is_complete(dest):  # lost a race to another builder: fine if it finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _main() -> None:  # pragma: no cover - manual use: python -m waza.services.models.tiny DEST
    import sys

    dest = Path(sys.argv[1] if len(sys.argv) > 1 else f"tiny-chat-{uuid.uuid4().hex[:6]}")
    print(build_tiny_chat_model(dest))


if __name__ == "__main__":  # pragma: no cover
    _main()
