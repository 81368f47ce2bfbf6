"""The `transformers` engine: Hugging Face causal language models on CPU or one CUDA GPU.

Always available (torch and transformers are core dependencies). Options (ModelConfig.config):
`dtype` ("auto" | "float32" | "float16" | "bfloat16"; default float32 on CPU, the checkpoint's
on CUDA), `max_new_tokens` (a cap on every answer), `top_k`, `repetition_penalty`, and
`system_prompt` (used when a conversation has no system message).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from waza.services.serving.engines.base import (
    INVALID_REQUEST,
    LOADING_FAILURE,
    OOM,
    Delta,
    Engine,
    EngineError,
    EngineSpec,
    Generation,
    SamplingParams,
    model_path,
    plain_messages,
    with_default_system,
)
from waza.services.serving.engines.streaming import (
    GenerationJob,
    IncrementalText,
    SerialGenerator,
    collect,
)

_DTYPES = ("auto", "float32", "float16", "bfloat16")


def read_config(path: Path) -> dict[str, Any] | None:
    """A model folder's config.json, or None when there is none (or it is not JSON)."""
    try:
        data = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_causal_lm(path: Path) -> bool:
    """Whether `path` is a Hugging Face folder of a causal language model (by its config.json)."""
    if not path.is_dir():
        return False
    config = read_config(path)
    if config is None:
        return False
    architectures = config.get("architectures") or []
    return any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 while loading local files (nothing is fetched), restored afterwards."""
    # huggingface_hub reads the variable when `constants` is first imported: do it now, before
    # it is set, or offline mode would stay on for the whole process
    import huggingface_hub.constants  # noqa: F401

    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """No transformers progress bars (e.g. "Loading weights") while loading."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def fallback_prompt(messages: list[dict[str, str]]) -> str:
    """A plain transcript for models without a chat template."""
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


class TransformersEngine(SerialGenerator, Engine):
    """Causal LMs with `transformers` `generate`, one generation at a time."""

    name = "transformers"
    tasks = frozenset({"chat", "completion"})

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        if device not in ("cpu", "cuda"):
            return f"unknown device {device!r} (cpu or cuda)"
        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        return None

    @classmethod
    def can_load(cls, path: Path) -> bool:
        return is_causal_lm(path)

    def __init__(self, spec: EngineSpec) -> None:
        super().__init__(spec)
        self._init_serial()
        path = model_path(spec, "model folder")
        if not path.is_dir():
            raise EngineError(LOADING_FAILURE, f"{path} is a file, not a Hugging Face model folder")
        if read_config(path) is None:
            raise EngineError(
                LOADING_FAILURE, f"{path} has no readable config.json: not a Hugging Face model"
            )
        dtype = spec.options.get("dtype") or ("float32" if spec.device == "cpu" else "auto")
        if dtype not in _DTYPES:
            raise EngineError(LOADING_FAILURE, f"dtype {dtype!r} is not one of {list(_DTYPES)}")
        import torch

        self._torch = torch
        torch.set_num_threads(spec.threads)
        try:
            with offline_hub(), quiet_progress():
                from transformers import AutoModelForCausalLM, AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                model: Any = AutoModelForCausalLM.from_pretrained(
                    str(path),
                    local_files_only=True,
                    dtype=dtype if dtype == "auto" else getattr(torch, dtype),
                )
            if spec.device == "cuda":
                model = model.to("cuda")
        except torch.cuda.OutOfMemoryError as exc:
            raise EngineError(OOM, f"out of GPU memory loading {path}: {exc}") from exc
        except Exception as exc:
            raise EngineError(LOADING_FAILURE, f"cannot load the model at {path}: {exc}") from exc
        self.model = model.eval()
        config = model.config
        self.context_length = int(
            getattr(config, "max_position_embeddings", 0)
            or getattr(self.tokenizer, "model_max_length", 0)
            or 2048
        )
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self._pad = model.generation_config.pad_token_id
        if self._pad is None:
            self._pad = (
                self.tokenizer.pad_token_id
                if self.tokenizer.pad_token_id is not None
                else (next(iter(self._eos), 0))
            )
        self._cap = int(spec.options.get("max_new_tokens") or 0)

    # -- prompts --------------------------------------------------------------------------------
    def _chat_ids(self, msgs: list[dict[str, str]]) -> list[int]:
        if getattr(self.tokenizer, "chat_template", None):
            try:
                text = self.tokenizer.apply_chat_template(
                    msgs, add_generation_prompt=True, tokenize=False
                )
            except Exception as exc:  # e.g. a template that rejects a role order
                raise EngineError(INVALID_REQUEST, f"chat template failed: {exc}") from exc
            ids: list[int] = self.tokenizer(str(text), add_special_tokens=False)["input_ids"]
            return ids
        return list(self.tokenizer(fallback_prompt(msgs))["input_ids"])

    def _prompt_ids(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt)["input_ids"])

    def _limit(self, prompt_len: int, params: SamplingParams) -> int:
        room = self.context_length - prompt_len
        if room <= 0:
            raise EngineError(
                INVALID_REQUEST,
                f"the prompt has {prompt_len} tokens; this model's context is "
                f"{self.context_length} tokens",
            )
        limit = min(max(1, params.max_tokens), room)
        return min(limit, self._cap) if self._cap > 0 else limit

    # -- generation -----------------------------------------------------------------------------
    def _generate_kwargs(self, params: SamplingParams, max_new: int) -> dict[str, Any]:
        options = self.spec.options
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "min_new_tokens": None,
            "pad_token_id": self._pad,
        }
        if params.temperature <= 0:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=int(options.get("top_k", 0)),
            )
        if "repetition_penalty" in options:
            kwargs["repetition_penalty"] = float(options["repetition_penalty"])
        return kwargs

    def _runner(self, prompt_ids: Callable[[], list[int]], params: SamplingParams) -> Any:
        """The blocking generation for SerialGenerator (tokenizer and model used only there)."""
        torch = self._torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokenizer, model = self.tokenizer, self.model

        def decode(new: list[int]) -> str:
            return str(
                tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            )

        def run(job: GenerationJob) -> None:
            ids = prompt_ids()
            start = job.prompt_tokens = len(ids)
            max_new = self._limit(start, params)
            text = IncrementalText(decode)

            class Watch(StoppingCriteria):
                """Streams the text after each token; stops on a stop string or when asked."""

                def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                    job.completion_tokens = input_ids.shape[1] - start
                    go = job.update(text.add(int(input_ids[0, -1])))
                    return torch.full((input_ids.shape[0],), not go, device=input_ids.device)

            if params.seed is not None:
                torch.manual_seed(params.seed)
            inputs = torch.tensor([ids], device=model.device)
            try:
                with torch.inference_mode():
                    out = model.generate(
                        input_ids=inputs,
                        attention_mask=torch.ones_like(inputs),
                        stopping_criteria=StoppingCriteriaList([Watch()]),
                        **self._generate_kwargs(params, max_new),
                    )
            except torch.cuda.OutOfMemoryError as exc:
                raise EngineError(OOM, f"out of GPU memory while generating: {exc}") from exc
            new = out[0, start:].tolist()
            job.completion_tokens = len(new)
            ended_on_eos = bool(new) and new[-1] in self._eos
            reason = "length" if len(new) >= max_new and not ended_on_eos else "stop"
            job.finish(text.final(), reason)

        return run

    def chat_stream(
        self, messages: list[dict[str, Any]], params: SamplingParams
    ) -> AsyncIterator[Delta]:
        # bad content fails here, before streaming
        msgs = with_default_system(plain_messages(messages), self.spec.options)
        return self._stream(self._runner(lambda: self._chat_ids(msgs), params), params.stop)

    def complete_stream(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]:
        return self._stream(self._runner(lambda: self._prompt_ids(prompt), params), params.stop)

    async def chat(self, messages: list[dict[str, Any]], params: SamplingParams) -> Generation:
        return await collect(self.chat_stream(messages, params))

    async def complete(self, prompt: str, params: SamplingParams) -> Generation:
        return await collect(self.complete_stream(prompt, params))

    def close(self) -> None:
        self.model = None
        if self.spec.device == "cuda":
            self._torch.cuda.empty_cache()
