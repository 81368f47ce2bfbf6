"""The OpenAI wire format of the runtime routes: request models and response/chunk builders.

Requests accept what the `openai` 3.x Python client sends (unknown fields are ignored, `model`
may be any string). Builders return plain dicts in the exact shapes the client parses:
`ChatCompletion`, `ChatCompletionChunk`, `Completion` (also each streamed completion piece),
`CreateEmbeddingResponse` (float lists or base64 of little-endian float32), the model list and
the `{"error": {...}}` body.
"""

from __future__ import annotations

import array
import base64
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from waza.services.serving.engines.base import Embeddings, Generation, SamplingParams

CHAT_DEFAULT_MAX_TOKENS = 256  # when a chat request gives no limit
COMPLETION_DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /completions


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None


class StreamOptions(BaseModel):
    """`stream_options`: `include_usage` adds a last chunk with the token counts."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class _Sampling(_Request):
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = 1
    seed: int | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError("only n=1 is supported")
        return value

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @property
    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)

    def _params(self, max_tokens: int | None, default_max: int) -> SamplingParams:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return SamplingParams(
            max_tokens=max_tokens or default_max,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            stop=[s for s in stop if s],
            seed=self.seed,
        )


class ContentPart(BaseModel):
    """One part of a message's content list; only text parts are served."""

    model_config = ConfigDict(extra="ignore")

    type: str = "text"
    text: str | None = None


class ChatMessage(BaseModel):
    """A chat message; list content is joined into its text."""

    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None

    @field_validator("content")
    @classmethod
    def _text_only(cls, value: str | list[ContentPart] | None) -> str | list[ContentPart] | None:
        if isinstance(value, list):
            kinds = {p.type for p in value if p.type != "text"}
            if kinds:
                raise ValueError(f"only text content is supported, not {sorted(kinds)}")
        return value

    @property
    def text(self) -> str:
        """The content as one string."""
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content)
        return self.content or ""


class ChatCompletionRequest(_Sampling):
    """Body of POST /v1/chat/completions."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def message_dicts(self) -> list[dict[str, Any]]:
        """The messages as engines take them: role and text content."""
        return [{"role": m.role, "content": m.text} for m in self.messages]

    def sampling(self) -> SamplingParams:
        limit = self.max_completion_tokens or self.max_tokens
        return self._params(limit, CHAT_DEFAULT_MAX_TOKENS)


class CompletionRequest(_Sampling):
    """Body of POST /v1/completions (one prompt)."""

    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("exactly one prompt per request is supported")
        return value

    @property
    def prompt_text(self) -> str:
        """The prompt as one string."""
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def sampling(self) -> SamplingParams:
        return self._params(self.max_tokens, COMPLETION_DEFAULT_MAX_TOKENS)


class EmbeddingRequest(_Request):
    """Body of POST /v1/embeddings; `dimensions` is accepted and ignored."""

    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None

    @field_validator("input")
    @classmethod
    def _some_input(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("input must not be empty")
        return value

    @property
    def texts(self) -> list[str]:
        """The input as a list of strings."""
        return [self.input] if isinstance(self.input, str) else list(self.input)


# -- builders ---------------------------------------------------------------------------------


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(id: str, model: str, created: int, gen: Generation) -> dict[str, Any]:
    """A whole chat answer (`chat.completion`)."""
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": gen.text},
                "logprobs": None,
                "finish_reason": gen.finish_reason,
            }
        ],
        "usage": _usage(gen.prompt_tokens, gen.completion_tokens),
    }


def chat_chunk(
    id: str,
    model: str,
    created: int,
    *,
    role: str | None = None,
    text: str | None = None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """One streamed chat piece (`chat.completion.chunk`): a role, some text and/or the end."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if text is not None:
        delta["content"] = text
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def usage_chunk(
    id: str,
    model: str,
    created: int,
    prompt_tokens: int,
    completion_tokens: int,
    object: str = "chat.completion.chunk",
) -> dict[str, Any]:
    """The last streamed chunk when `stream_options.include_usage`: no choices, the usage.

    `object` is "text_completion" for /completions streams.
    """
    return {
        "id": id,
        "object": object,
        "created": created,
        "model": model,
        "choices": [],
        "usage": _usage(prompt_tokens, completion_tokens),
    }


def completion(id: str, model: str, created: int, gen: Generation) -> dict[str, Any]:
    """A whole text completion (`text_completion`)."""
    return {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "text": gen.text, "logprobs": None, "finish_reason": gen.finish_reason}
        ],
        "usage": _usage(gen.prompt_tokens, gen.completion_tokens),
    }


def completion_chunk(
    id: str, model: str, created: int, text: str, finish_reason: str | None = None
) -> dict[str, Any]:
    """One streamed completion piece (same shape as a whole completion, without usage)."""
    return {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
    }


def encode_base64(vector: list[float]) -> str:
    """A vector as base64 of little-endian float32, as the openai client decodes it."""
    packed = array.array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings(model: str, emb: Embeddings, encoding_format: str = "float") -> dict[str, Any]:
    """The embeddings response (`list` of `embedding` objects, in input order)."""
    if encoding_format == "base64":
        data: list[Any] = [encode_base64(v) for v in emb.vectors]
    else:
        data = emb.vectors
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(data)
        ],
        "model": model,
        "usage": {"prompt_tokens": emb.prompt_tokens, "total_tokens": emb.prompt_tokens},
    }


def model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    """GET /v1/models: each dict needs `id`; `created` (0) and `owned_by` ("waza") default."""
    return {
        "object": "list",
        "data": [
            {"created": 0, "owned_by": "waza", **m, "object": "model", "id": str(m["id"])}
            for m in models
        ],
    }


def error_body(
    message: str, type: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """An OpenAI error body: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}
