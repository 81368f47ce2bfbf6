"""`waza.gateway.fastjson`: bodies read exactly as FastAPI's default reads them, errors included,
and `ModelResponse` sends the bytes FastAPI would have sent. Each case runs on a plain route and
on a `FastJSONRoute` route of the same app and compares the answers."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi import APIRouter, Body, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from waza.client.vectors import json_body
from waza.gateway.fastjson import FastJSONRoute, ModelResponse


class Hit(BaseModel):
    id: str
    score: float
    metadata: dict[str, Any]


class Answer(BaseModel):
    results: list[Hit]
    name: str


ANSWER = Answer(
    results=[
        Hit(id="a", score=0.25, metadata={"é": [1, None, True], "big": 10**30, "f": 1e300}),
        Hit(id="b", score=math.nan, metadata={}),
    ],
    name="n",
)


def _describe(value: Any) -> str:
    return repr(value)  # NaN, big ints and lone surrogates survive repr


def _app() -> FastAPI:
    plain, fast = APIRouter(prefix="/plain"), APIRouter(prefix="/fast", route_class=FastJSONRoute)
    for router, wrap in ((plain, False), (fast, True)):

        @router.post("/echo")
        def echo(body: Any = Body()) -> str:
            return _describe(body)

        @router.post("/answer", response_model=Answer)
        def answer(wrap: bool = wrap) -> Any:
            return ModelResponse(ANSWER) if wrap else ANSWER

        @router.post("/list", response_model=list[Hit])
        def hits(wrap: bool = wrap) -> Any:
            return ModelResponse(ANSWER.results) if wrap else ANSWER.results

    app = FastAPI()
    app.include_router(plain)
    app.include_router(fast)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_app())


BODIES = [
    b'{"v": [0.1, -0.0, 1e-7, 5e-324, 1.7976931348623157e308], "n": 3}',
    b'{"a": 1, "a": 2}',
    b"[NaN, Infinity, -Infinity]",
    b"[123456789012345678901234567890]",
    b"\xef\xbb\xbf[1]",  # UTF-8 BOM: the standard library accepts it
    b'["\\ud800"]',  # a lone surrogate
    "[1]".encode("utf-16"),
    b'{"a": }',  # invalid
    b"[1] x",
    b'"\xff"',  # not UTF-8
    b"[" * 5000 + b"]" * 5000,  # too deep for the standard library
]


@pytest.mark.parametrize("body", BODIES)
def test_bodies_read_as_before(client: TestClient, body: bytes) -> None:
    headers = {"content-type": "application/json"}
    plain = client.post("/plain/echo", content=body, headers=headers)
    fast = client.post("/fast/echo", content=body, headers=headers)
    assert (fast.status_code, fast.json()) == (plain.status_code, plain.json())


def test_model_response_is_what_fastapi_sends(client: TestClient) -> None:
    for path in ("answer", "list"):
        plain, fast = client.post(f"/plain/{path}"), client.post(f"/fast/{path}")
        assert fast.status_code == plain.status_code == 200
        assert fast.content == plain.content
        assert fast.headers["content-type"] == plain.headers["content-type"]


def test_openapi_documents_the_model(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("answer", "list"):
        schemas = [
            paths[f"/{prefix}/{path}"]["post"]["responses"]["200"]["content"]["application/json"][
                "schema"
            ]
            for prefix in ("plain", "fast")
        ]
        for schema in schemas:
            schema.pop("title", None)  # named after the path
        assert schemas[0] == schemas[1]


def test_client_sends_the_same_json() -> None:
    body = {"collection_name": "c", "vectors": [[0.1, -0.0, 1e-300, 3.0]], "limit": 3}
    args = json_body(body)
    assert json.loads(args["content"]) == body
    assert args["headers"] == {"Content-Type": "application/json"}
    nan = {"vectors": [[math.nan]]}
    assert json_body(nan) == {"json": nan}  # httpx refuses it, as before
