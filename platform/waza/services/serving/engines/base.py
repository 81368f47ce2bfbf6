"""The engine plug-in interface: what a Ray Serve replica loads and calls to run a model.

An engine class says which tasks it serves, whether it can run here, which model formats it
recognises and what resources it asks for by default. An instance loads one model (blocking,
in `__init__`) and answers chat, completion and embedding calls; heavy work runs in a thread so
the event loop stays free, and streams stop generating when their consumer stops iterating.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

LOADING_FAILURE = "MODEL_LOADING_FAILURE"
OOM = "OOM"
UNSUPPORTED = "UNSUPPORTED_OPERATION"
RUNTIME_ERROR = "RUNTIME_ERROR"
# a request the model cannot take (e.g. a prompt longer than its context): a 400, not a failure
INVALID_REQUEST = "INVALID_REQUEST"


@dataclass
class EngineSpec:
    """Everything a replica needs to load a model (picklable; built by the serving service)."""

    engine: str  # "transformers" | "embedding" | "llamacpp" | "vllm"
    model_path: str  # folder or .gguf file on the node
    model_name: str
    device: str = "cpu"  # "cpu" | "cuda"
    num_cpus: float = 1.0  # threads = max(1, int(num_cpus))
    num_gpus: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)  # from ModelConfig.config

    @property
    def threads(self) -> int:
        """CPU threads the engine may use."""
        return max(1, int(self.num_cpus))


@dataclass
class Resources:
    """What one replica asks Ray for."""

    num_cpus: float
    num_gpus: float = 0.0
    memory_bytes: int | None = None


@dataclass
class SamplingParams:
    """How to generate: token limit, sampling (temperature 0 = greedy), stop strings, seed."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class Generation:
    """A whole answer."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


@dataclass
class Delta:
    """One streamed piece; the last one carries the finish reason and the token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class Embeddings:
    """One vector per input text, in order, and the tokens read."""

    vectors: list[list[float]]
    prompt_tokens: int


class EngineError(Exception):
    """Load/run failure with an error code the deployment records.

    Codes: MODEL_LOADING_FAILURE, OOM, UNSUPPORTED_OPERATION, RUNTIME_ERROR, and
    INVALID_REQUEST for a request this model cannot take (e.g. a prompt longer than its context).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:  # keep both fields across pickling (Ray)
        return (type(self), (self.code, self.message))


class Engine(ABC):
    """One loaded model. Subclasses set `name` and `tasks` and override what they serve."""

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]  # subset of {"chat", "completion", "embedding"}

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        """Why this engine cannot run here on `device`, or None when it can."""
        return None

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """Whether `path` looks like a model this engine serves (cheap, no heavy imports)."""
        return False

    @classmethod
    def default_resources(cls, device: str, options: dict[str, Any]) -> Resources:
        """The resources one replica asks for; `num_cpus`/`num_gpus` options override."""
        gpus = 1.0 if device == "cuda" else 0.0
        return Resources(
            num_cpus=float(options.get("num_cpus", 1.0)),
            num_gpus=float(options.get("num_gpus", gpus)),
        )

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec

    def _unsupported(self, task: str) -> EngineError:
        return EngineError(UNSUPPORTED, f"the {self.name} engine does not serve {task}")

    async def chat(self, messages: list[dict[str, Any]], params: SamplingParams) -> Generation:
        """Answer a conversation."""
        raise self._unsupported("chat")

    def chat_stream(
        self, messages: list[dict[str, Any]], params: SamplingParams
    ) -> AsyncIterator[Delta]:
        """Answer a conversation piece by piece."""
        raise self._unsupported("chat")

    async def complete(self, prompt: str, params: SamplingParams) -> Generation:
        """Continue a prompt."""
        raise self._unsupported("completion")

    def complete_stream(self, prompt: str, params: SamplingParams) -> AsyncIterator[Delta]:
        """Continue a prompt piece by piece."""
        raise self._unsupported("completion")

    async def embed(self, texts: list[str]) -> Embeddings:
        """One vector per text."""
        raise self._unsupported("embeddings")

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Free the model (optional)."""


# -- helpers shared by the engines -----------------------------------------------------------------


def message_text(content: Any) -> str:
    """A message's content as text: a string, or the text parts of an OpenAI content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                parts.append(str(part.get("text", "")))
            else:
                raise EngineError(UNSUPPORTED, "only text message content is supported")
        return "".join(parts)
    return str(content)


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messages reduced to `role` and text `content`, as chat templates expect."""
    return [
        {"role": str(m.get("role", "user")), "content": message_text(m.get("content"))}
        for m in messages
    ]


def with_default_system(
    messages: list[dict[str, str]], options: dict[str, Any]
) -> list[dict[str, str]]:
    """Prepend the `system_prompt` option when the conversation has no system message.

    Small instruction models answer much better with a plain system message than with none (or
    with the chat template's built-in one); the model's config can supply it.
    """
    system = options.get("system_prompt")
    if not system or any(m["role"] == "system" for m in messages):
        return messages
    return [{"role": "system", "content": str(system)}, *messages]


def path_error(path: str | Path, what: str = "model files") -> EngineError:
    """The MODEL_LOADING_FAILURE for a path that is missing or unreadable."""
    return EngineError(LOADING_FAILURE, f"{what} not found at {path}")


def model_path(spec: EngineSpec, what: str = "model files") -> Path:
    """The spec's model path; MODEL_LOADING_FAILURE when it is empty or does not exist."""
    if not spec.model_path:
        raise EngineError(LOADING_FAILURE, f"{spec.model_name}: the model has no local files")
    path = Path(spec.model_path)
    if not path.exists():
        raise path_error(path, what)
    return path
