"""The `llamacpp` engine: GGUF models with llama-cpp-python (CPU, or all layers on one GPU).

Optional (`pip install llama-cpp-python`). Options (ModelConfig.config): `n_ctx` (default 2048),
`n_gpu_layers` (default all on CUDA, none on CPU), `gguf_file` (which file of a folder),
`top_k` (40), `min_p` (0.05), `repeat_penalty` (1.0), `system_prompt` (used when a conversation
has no system message). Chat prompts use the chat template stored in the GGUF file.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from waza.services.serving.engines.base import (
    INVALID_REQUEST,
    LOADING_FAILURE,
    Delta,
    Engine,
    EngineError,
    EngineSpec,
    Generation,
    Resources,
    SamplingParams,
    model_path,
    path_error,
    plain_messages,
    with_default_system,
)
from waza.services.serving.engines.streaming import GenerationJob, SerialGenerator, collect
from waza.services.serving.engines.transformers import fallback_prompt

GGUF_MAGIC = b"GGUF"


@functools.cache
def _import_error() -> str | None:
    try:
        import llama_cpp  # noqa: F401
    except Exception as exc:  # not installed, or a broken native library
        return f"llama-cpp-python cannot be imported ({exc}); pip install llama-cpp-python"
    return None


def _is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def gguf_file(path: Path, choice: str | None = None) -> Path | None:
    """The GGUF file to load: `path` itself, or `choice` / the first *.gguf in a folder."""
    if path.is_file():
        return path
    if path.is_dir():
        if choice:
            return path / choice if (path / choice).is_file() else None
        files = sorted(path.glob("*.gguf"))
        return files[0] if files else None
    return None


class LlamaCppEngine(SerialGenerator, Engine):
    """GGUF chat and completion with llama.cpp, one generation at a time."""

    name = "llamacpp"
    tasks = frozenset({"chat", "completion"})

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        if device not in ("cpu", "cuda"):
            return f"unknown device {device!r} (cpu or cuda)"
        error = _import_error()
        if error:
            return error
        if device == "cuda":
            import llama_cpp

            if not llama_cpp.llama_supports_gpu_offload():
                return "this llama-cpp-python build has no GPU support (rebuild with CUDA)"
        return None

    @classmethod
    def can_load(cls, path: Path) -> bool:
        if path.is_file():
            return path.suffix.lower() == ".gguf" or _is_gguf(path)
        # a folder of GGUF files (a Hugging Face folder with weights too goes to transformers)
        return path.is_dir() and not (path / "config.json").exists() and any(path.glob("*.gguf"))

    @classmethod
    def default_resources(cls, device: str, options: dict[str, Any]) -> Resources:
        return Resources(
            num_cpus=float(options.get("num_cpus", 1.0)),
            num_gpus=float(options.get("num_gpus", 1.0 if device == "cuda" else 0.0)),
        )

    def __init__(self, spec: EngineSpec) -> None:
        super().__init__(spec)
        self._init_serial()
        error = _import_error()
        if error:
            raise EngineError(LOADING_FAILURE, error)
        options = spec.options
        file = gguf_file(model_path(spec, "GGUF model file"), options.get("gguf_file"))
        if file is None:
            raise path_error(spec.model_path, "GGUF model file")
        if not _is_gguf(file):
            raise EngineError(LOADING_FAILURE, f"{file} is not a GGUF file")
        from llama_cpp import Llama

        gpu_layers = int(options.get("n_gpu_layers", -1 if spec.device == "cuda" else 0))
        try:
            self.llm = Llama(
                model_path=str(file),
                n_ctx=int(options.get("n_ctx", 2048)),
                n_threads=spec.threads,
                n_threads_batch=spec.threads,
                n_gpu_layers=gpu_layers,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports a bad file as ValueError
            raise EngineError(LOADING_FAILURE, f"cannot load {file}: {exc}") from exc
        self.file = file
        self.context_length = self.llm.n_ctx()
        self._formatter = self._chat_formatter()

    def _chat_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None

        def text(token: int) -> str:
            return self.llm.detokenize([token], special=True).decode() if token >= 0 else ""

        eos = self.llm.token_eos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=text(eos),
            bos_token=text(self.llm.token_bos()),
            stop_token_ids=[eos],
        )

    # -- prompts --------------------------------------------------------------------------------
    def _chat_prompt(self, msgs: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Prompt tokens and the template's own stop strings."""
        if self._formatter is None:
            return self.llm.tokenize(fallback_prompt(msgs).encode(), add_bos=True), []
        try:
            result = self._formatter(messages=msgs)
        except Exception as exc:  # e.g. a template that rejects a role order
            raise EngineError(INVALID_REQUEST, f"chat template failed: {exc}") from exc
        stops = (
            result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        )
        ids = self.llm.tokenize(
            result.prompt.encode(), add_bos=not result.added_special, special=True
        )
        return ids, [str(s) for s in stops]

    def _completion_prompt(self, prompt: str) -> tuple[list[int], list[str]]:
        return self.llm.tokenize(prompt.encode(), add_bos=True, special=False), []

    # -- generation -----------------------------------------------------------------------------
    def _runner(
        self, prompt: Callable[[], tuple[list[int], list[str]]], params: SamplingParams
    ) -> Callable[[GenerationJob], None]:
        from llama_cpp import StoppingCriteriaList

        llm, options = self.llm, self.spec.options

        def run(job: GenerationJob) -> None:
            ids, template_stops = prompt()
            start = job.prompt_tokens = len(ids)
            room = self.context_length - start
            if room <= 0:
                raise EngineError(
                    INVALID_REQUEST,
                    f"the prompt has {start} tokens; this model's context is "
                    f"{self.context_length} tokens",
                )

            def watch(input_ids: Any, logits: Any) -> bool:
                """Counts tokens (the prompt is followed by the sampled ones); stops when asked."""
                job.completion_tokens = max(job.completion_tokens, len(input_ids) - start + 1)
                return not job.keep_going

            stream: Any = llm.create_completion(
                ids,
                max_tokens=min(max(1, params.max_tokens), room),
                temperature=max(0.0, params.temperature),
                top_p=params.top_p,
                top_k=int(options.get("top_k", 40)),
                min_p=float(options.get("min_p", 0.05)),
                repeat_penalty=float(options.get("repeat_penalty", 1.0)),
                stop=[*params.stop, *template_stops],
                seed=params.seed,
                stream=True,
                stopping_criteria=StoppingCriteriaList([watch]),
            )
            text, reason = "", "length"
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    text += choice["text"]
                    reason = choice.get("finish_reason") or reason
                    if not job.update(text):
                        break
            finally:
                stream.close()  # leaves llama.cpp's generator: no more tokens
            job.finish(text, reason)

        return run

    def chat_stream(
        self, messages: list[dict[str, Any]], params: SamplingParams
    ) -> AsyncIterator[Delta]:
        msgs = with_default_system(plain_messages(messages), self.spec.options)
        return self._stream(self._runner(lambda: self._chat_prompt(msgs), params), params.stop)

    def complete_stream(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]:
        return self._stream(
            self._runner(lambda: self._completion_prompt(prompt), params), params.stop
        )

    async def chat(self, messages: list[dict[str, Any]], params: SamplingParams) -> Generation:
        return await collect(self.chat_stream(messages, params))

    async def complete(self, prompt: str, params: SamplingParams) -> Generation:
        return await collect(self.complete_stream(prompt, params))

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
