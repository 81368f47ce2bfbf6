"""The OpenAI wire format: what the `openai` client sends parses, and what we build it reads.

The client talks to an `httpx.MockTransport` that parses each request body with our request
models and answers with our builders' output (SSE for streams), so both directions go through
the real `openai` client code. Builders are also validated with the client's pydantic types.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

import httpx
import openai
import pytest
from openai.types import Completion, CreateEmbeddingResponse, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import ValidationError

from waza.services.serving import openai_format as fmt
from waza.services.serving.engines.base import Embeddings, Generation, SamplingParams

GEN = Generation(text="Paris.", prompt_tokens=12, completion_tokens=3, finish_reason="stop")
VECTORS = [[0.6, 0.8, 0.0], [1.0, -0.0, 1e-7], [-0.25, 0.5, 3.4e38]]


def sse(chunks: list[dict[str, Any]]) -> bytes:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def chat_stream_body(request: fmt.ChatCompletionRequest) -> bytes:
    args = ("chatcmpl-1", request.model or "m", 1700000000)
    chunks = [fmt.chat_chunk(*args, role="assistant", text="")]
    chunks += [fmt.chat_chunk(*args, text=t) for t in ("Pa", "ris", ".")]
    chunks.append(fmt.chat_chunk(*args, finish_reason="stop"))
    if request.include_usage:
        chunks.append(fmt.usage_chunk(*args, 12, 3))
    return sse(chunks)


def completion_stream_body(request: fmt.CompletionRequest) -> bytes:
    args = ("cmpl-1", request.model or "m", 1700000000)
    chunks = [fmt.completion_chunk(*args, t) for t in ("a", "b")]
    chunks.append(fmt.completion_chunk(*args, "", finish_reason="length"))
    if request.include_usage:
        chunks.append(fmt.usage_chunk(*args, 4, 2, object="text_completion"))
    return sse(chunks)


class Server:
    """A fake runtime endpoint: parses bodies with our models, answers with our builders."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        path = request.url.path
        if path.endswith("/chat/completions"):
            chat = fmt.ChatCompletionRequest.model_validate(body)
            self.requests.append(chat)
            if chat.stream:
                return httpx.Response(200, content=chat_stream_body(chat), headers=SSE)
            return httpx.Response(200, json=fmt.chat_completion("chatcmpl-1", "m", 1, GEN))
        if path.endswith("/completions"):
            done = fmt.CompletionRequest.model_validate(body)
            self.requests.append(done)
            if done.stream:
                return httpx.Response(200, content=completion_stream_body(done), headers=SSE)
            return httpx.Response(200, json=fmt.completion("cmpl-1", "m", 1, GEN))
        if path.endswith("/embeddings"):
            emb = fmt.EmbeddingRequest.model_validate(body)
            self.requests.append(emb)
            out = Embeddings(vectors=VECTORS[: len(emb.texts)], prompt_tokens=5)
            return httpx.Response(200, json=fmt.embeddings("minilm", out, emb.encoding_format))
        raise AssertionError(path)


SSE = {"content-type": "text/event-stream"}


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def client(server: Server) -> openai.OpenAI:
    transport = httpx.MockTransport(server.handle)
    return openai.OpenAI(
        api_key="pat",
        base_url="http://waza.test/runtime/models/x/v1",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )


def test_chat_request_and_response_through_the_client(
    client: openai.OpenAI, server: Server
) -> None:
    answer = client.chat.completions.create(
        model="kamiwaza",
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Capital of "},
                    {"type": "text", "text": "France?"},
                ],
            },
        ],
        max_completion_tokens=20,
        temperature=0,
        top_p=0.9,
        stop="\n",
        seed=3,
        n=1,
        user="someone",  # ignored field
    )
    assert answer.choices[0].message.content == "Paris."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.total_tokens == 15
    request = server.requests[0]
    assert request.model == "kamiwaza"
    assert request.message_dicts() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert request.sampling() == SamplingParams(
        max_tokens=20, temperature=0.0, top_p=0.9, stop=["\n"], seed=3
    )


def test_chat_stream_through_the_client(client: openai.OpenAI, server: Server) -> None:
    stream = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=5,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Paris."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    request = server.requests[0]
    assert request.stream and request.include_usage
    assert request.sampling().max_tokens == 5


def test_completion_through_the_client(client: openai.OpenAI, server: Server) -> None:
    done = client.completions.create(model="m", prompt="Once", max_tokens=3, stop=["a", "b"])
    assert done.choices[0].text == "Paris."
    assert done.usage is not None and done.usage.prompt_tokens == 12
    assert server.requests[0].prompt_text == "Once"
    assert server.requests[0].sampling().stop == ["a", "b"]
    chunks = list(
        client.completions.create(
            model="m", prompt=["Once"], stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "ab"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6
    assert server.requests[1].sampling().max_tokens == fmt.COMPLETION_DEFAULT_MAX_TOKENS


def test_embeddings_through_the_client_default_base64(
    client: openai.OpenAI, server: Server
) -> None:
    # the client asks for base64 unless told otherwise, and decodes it itself
    result = client.embeddings.create(model="m", input=["a", "b", "c"])
    assert server.requests[0].encoding_format == "base64"
    for got, want in zip(result.data, VECTORS, strict=True):
        assert got.embedding == pytest.approx(want, rel=1e-6)
    assert [d.index for d in result.data] == [0, 1, 2]
    plain = client.embeddings.create(model="m", input="a", encoding_format="float", dimensions=3)
    assert plain.data[0].embedding == VECTORS[0]
    assert server.requests[1].texts == ["a"]
    assert plain.usage.prompt_tokens == 5


def test_builders_validate_with_the_openai_types() -> None:
    ChatCompletion.model_validate(fmt.chat_completion("c1", "m", 1, GEN))
    length = Generation(text="", prompt_tokens=1, completion_tokens=4, finish_reason="length")
    assert Completion.model_validate(fmt.completion("c2", "m", 1, length)).choices[0].text == ""
    for chunk in (
        fmt.chat_chunk("c1", "m", 1, role="assistant", text=""),
        fmt.chat_chunk("c1", "m", 1, text="x"),
        fmt.chat_chunk("c1", "m", 1, finish_reason="length"),
        fmt.usage_chunk("c1", "m", 1, 2, 3),
    ):
        ChatCompletionChunk.model_validate(chunk)
    assert fmt.chat_chunk("c1", "m", 1, text="x")["choices"][0]["delta"] == {"content": "x"}
    Completion.model_validate(fmt.completion_chunk("c2", "m", 1, "x", finish_reason="stop"))
    Completion.model_validate(fmt.usage_chunk("c2", "m", 1, 2, 3, object="text_completion"))
    emb = Embeddings(vectors=VECTORS, prompt_tokens=9)
    parsed = CreateEmbeddingResponse.model_validate(fmt.embeddings("m", emb, "float"))
    assert parsed.usage.total_tokens == 9
    models = fmt.model_list([{"id": "dep-1", "created": 5}, {"id": "SmolLM2", "owned_by": "me"}])
    assert [Model.model_validate(m).id for m in models["data"]] == ["dep-1", "SmolLM2"]
    assert models["object"] == "list"
    assert fmt.error_body("bad", code="x") == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": "x"}
    }


def test_base64_is_little_endian_float32() -> None:
    encoded = fmt.embeddings("m", Embeddings(vectors=VECTORS, prompt_tokens=1), "base64")
    raw = base64.b64decode(encoded["data"][2]["embedding"])
    assert len(raw) == 12
    assert struct.unpack("<3f", raw) == pytest.approx(VECTORS[2], rel=1e-6)
    assert math.isfinite(struct.unpack("<3f", raw)[2])


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (
            fmt.ChatCompletionRequest,
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2},
            "only n=1",
        ),
        (fmt.ChatCompletionRequest, {"model": "m", "messages": []}, "at least 1"),
        (
            fmt.ChatCompletionRequest,
            {"messages": [{"role": "user", "content": "x"}], "temperature": 3},
            "less than or equal to 2",
        ),
        (
            fmt.ChatCompletionRequest,
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}
                ]
            },
            "only text content",
        ),
        (
            fmt.ChatCompletionRequest,
            {"messages": [{"role": "user", "content": "x"}], "stop": list("abcde")},
            "at most 4",
        ),
        (
            fmt.ChatCompletionRequest,
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            "greater than or equal to 1",
        ),
        (fmt.CompletionRequest, {"prompt": ["a", "b"]}, "exactly one prompt"),
        (fmt.EmbeddingRequest, {"input": []}, "must not be empty"),
        (fmt.EmbeddingRequest, {"input": "x", "encoding_format": "int8"}, "float"),
    ],
)
def test_unsupported_requests_are_rejected(
    model: type[Any], body: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(body)


def test_defaults() -> None:
    chat = fmt.ChatCompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": None}]}
    )
    assert chat.sampling() == SamplingParams(
        max_tokens=fmt.CHAT_DEFAULT_MAX_TOKENS, temperature=1.0
    )
    assert chat.message_dicts() == [{"role": "user", "content": ""}]
    assert not chat.include_usage
    assert fmt.CompletionRequest.model_validate({"prompt": "p", "stop": ""}).sampling().stop == []
