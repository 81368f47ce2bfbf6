"""The `vllm` engine: Hugging Face causal LMs with vLLM's AsyncLLMEngine (CUDA only, optional).

Available only where `vllm` is installed and a CUDA GPU is visible. vLLM batches concurrent
requests itself, so calls are not serialised. Options: `dtype` ("auto"), `max_model_len`,
`gpu_memory_utilization` (default 0.9 times the replica's GPU share), `system_prompt`.

Not exercised by the test suite (no GPU, and vLLM needs CUDA): written against vLLM's public
AsyncLLMEngine API (`from_engine_args`, `generate`, `abort`) and kept small.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from waza.services.serving.engines.base import (
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
from waza.services.serving.engines.streaming import collect, runtime_error
from waza.services.serving.engines.transformers import fallback_prompt, is_causal_lm, offline_hub


class VllmEngine(Engine):
    """Causal LMs on one CUDA GPU (or a fraction of one) with continuous batching."""

    name = "vllm"
    tasks = frozenset({"chat", "completion"})

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        if device != "cuda":
            return "vllm runs on CUDA GPUs only (device is cpu)"
        if importlib.util.find_spec("vllm") is None:
            return "vllm is not installed (a CUDA-only optional extra)"
        import torch

        if not torch.cuda.is_available():
            return "no CUDA GPU is visible here"
        return None

    @classmethod
    def can_load(cls, path: Path) -> bool:
        return is_causal_lm(path)

    def __init__(self, spec: EngineSpec) -> None:
        super().__init__(spec)
        path = model_path(spec, "model folder")
        reason = self.unavailable_reason(spec.device)
        if reason:
            raise EngineError(LOADING_FAILURE, reason)
        options = spec.options
        share = spec.num_gpus if 0 < spec.num_gpus < 1 else 1.0
        try:
            with offline_hub():
                from transformers import AutoTokenizer
                from vllm import AsyncEngineArgs, AsyncLLMEngine

                self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                args = AsyncEngineArgs(
                    model=str(path),
                    dtype=options.get("dtype", "auto"),
                    max_model_len=options.get("max_model_len"),
                    gpu_memory_utilization=float(
                        options.get("gpu_memory_utilization", round(0.9 * share, 3))
                    ),
                )
                self.engine = AsyncLLMEngine.from_engine_args(args)
        except Exception as exc:
            code = OOM if "out of memory" in str(exc).lower() else LOADING_FAILURE
            raise EngineError(code, f"vllm cannot load the model at {path}: {exc}") from exc

    def _chat_prompt(self, messages: list[dict[str, Any]]) -> str:
        msgs = with_default_system(plain_messages(messages), self.spec.options)
        if getattr(self.tokenizer, "chat_template", None):
            return str(
                self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            )
        return fallback_prompt(msgs)

    async def _generate(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]:
        from vllm import SamplingParams as VllmParams

        sampling = VllmParams(
            max_tokens=max(1, params.max_tokens),
            temperature=max(0.0, params.temperature),
            top_p=params.top_p,
            stop=params.stop or None,
            seed=params.seed,
        )
        request_id = uuid.uuid4().hex
        sent = 0
        try:
            async for output in self.engine.generate(prompt, sampling, request_id):
                result = output.outputs[0]
                if len(result.text) > sent:
                    yield Delta(result.text[sent:])
                    sent = len(result.text)
                if output.finished:
                    yield Delta(
                        "",
                        finish_reason="length" if result.finish_reason == "length" else "stop",
                        prompt_tokens=len(output.prompt_token_ids or []),
                        completion_tokens=len(result.token_ids),
                    )
                    return
        except EngineError:
            raise
        except Exception as exc:
            raise runtime_error(exc) from exc
        finally:
            await self.engine.abort(request_id)  # a no-op when the request finished

    def chat_stream(
        self, messages: list[dict[str, Any]], params: SamplingParams
    ) -> AsyncIterator[Delta]:
        return self._generate(self._chat_prompt(messages), params)

    def complete_stream(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]:
        return self._generate(prompt, params)

    async def chat(self, messages: list[dict[str, Any]], params: SamplingParams) -> Generation:
        return await collect(self.chat_stream(messages, params))

    async def complete(self, prompt: str, params: SamplingParams) -> Generation:
        return await collect(self.complete_stream(prompt, params))

    def close(self) -> None:
        shutdown = getattr(getattr(self, "engine", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
