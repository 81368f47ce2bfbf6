"""The embedding routes (`/api/embedding/...`) in process, and `waza.client`'s EmbeddingAPI.

One app per module (the model loads once per process). Responses are also validated with the
kamiwaza-sdk 1.3 models, the contract these routes keep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from kamiwaza_sdk.schemas.embedding import ChunkResponse, EmbeddingOutput

from tests.conftest import ADMIN_PASSWORD, bearer, create_database, create_pat, login
from waza.client import Client, ValidationError
from waza.gateway.app import create_app
from waza.services.embedding.providers import PACKAGED_MODEL
from waza.services.embedding.service import MAX_BATCH_ITEMS, SDK_DEFAULT_MODEL
from waza.settings import Settings

SDK_PARAMS = {"model": SDK_DEFAULT_MODEL, "provider_type": "sentencetransformers"}
TEXT = (
    "Vector databases store embeddings. A query embedding finds the nearest stored ones.\n\n"
    "Chunking splits long documents so every part can be found. Grüße, 東京, 🙂. "
) * 12


@dataclass
class Api:
    client: TestClient
    admin: dict[str, str]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home: Path = tmp_path_factory.mktemp("embedding-api")
    url, drop = create_database(home)
    settings = Settings(  # type: ignore[call-arg]
        home=home,
        database_url=url,
        admin_password=ADMIN_PASSWORD,
        secret_key="test-kek",
        log_level="WARNING",
    )
    try:
        with TestClient(create_app(settings)) as client:
            headers = login(client, "admin", ADMIN_PASSWORD)
            client.cookies.clear()
            yield Api(client, headers)
    finally:
        drop()


def test_every_route_but_health_needs_a_token(api: Api) -> None:
    c = api.client
    c.cookies.clear()
    for method, path, body in [
        ("GET", "/api/embedding/providers", None),
        ("POST", "/api/embedding/generate", {"text": "hi"}),
        ("GET", "/api/embedding/generate/hi", None),
        ("POST", "/api/embedding/batch", ["hi"]),
        ("POST", "/api/embedding/chunk", {"text": "hi"}),
    ]:
        reply = c.request(method, path, json=body)
        assert reply.status_code == 401, (path, reply.text)
        assert reply.json()["detail"] == "Not authenticated"
    health = c.get("/api/embedding/health")
    assert health.status_code == 200
    body = health.json()
    assert (body["status"], body["service"]) == ("healthy", "embedding")
    assert body["model"] == PACKAGED_MODEL


def test_providers_lists_every_sdk_spelling(api: Api) -> None:
    reply = api.client.get("/api/embedding/providers", headers=api.admin)
    assert reply.status_code == 200
    assert {"sentence_transformers", "sentencetransformers", "huggingface_embedding"} <= set(
        reply.json()
    )


def test_generate_post_and_get_agree(api: Api) -> None:
    c, h = api.client, api.admin
    body = {"text": "hello world/again?", **SDK_PARAMS}
    posted = c.post("/api/embedding/generate", json=body, headers=h)
    assert posted.status_code == 200, posted.text
    out = posted.json()
    assert len(EmbeddingOutput.model_validate(out).embedding) == 384
    assert (out["model"], out["dimensions"], out["normalized"]) == (PACKAGED_MODEL, 384, True)
    assert out["offset"] is None and out["truncated"] is False

    # The SDK percent-encodes the text into the path; %2F arrives decoded as "/".
    got = c.get(
        "/api/embedding/generate/hello%20world%2Fagain%3F",
        params={**SDK_PARAMS, "return_offset": "True"},
        headers=h,
    )
    assert got.status_code == 200, got.text
    assert got.json()["offset"] == 0
    np.testing.assert_allclose(got.json()["embedding"], out["embedding"], atol=1e-6)


def test_generate_reports_truncation_of_long_texts(api: Api) -> None:
    reply = api.client.post("/api/embedding/generate", json={"text": TEXT}, headers=api.admin)
    assert reply.status_code == 200
    assert reply.json()["truncated"] is True
    assert reply.json()["token_count"] > 254


@pytest.mark.parametrize("text", ["", "   \n"])
def test_blank_text_is_422(api: Api, text: str) -> None:
    c, h = api.client, api.admin
    for path in ("/api/embedding/generate", "/api/embedding/chunk"):
        reply = c.post(path, json={"text": text, **SDK_PARAMS}, headers=h)
        assert reply.status_code == 422, reply.text
        assert "empty" in reply.json()["detail"]
    assert c.get("/api/embedding/generate/%20", headers=h).status_code == 422


def test_unknown_model_and_provider_are_400_with_the_choices(api: Api) -> None:
    c, h = api.client, api.admin
    reply = c.post(
        "/api/embedding/generate",
        json={"text": "x", "model": "BAAI/bge-large-en-v1.5", "provider_type": "huggingface"},
        headers=h,
    )
    assert reply.status_code == 400
    assert "sentence_transformers" in reply.json()["detail"]
    reply = c.post("/api/embedding/batch", params={"model": "no/such-model"}, json=["x"], headers=h)
    assert reply.status_code == 400
    assert PACKAGED_MODEL in reply.json()["detail"]


def test_batch_is_a_bare_list_in_order(api: Api) -> None:
    c, h = api.client, api.admin
    texts = ["first", "a second, longer text about embeddings", "third"]
    reply = c.post(
        "/api/embedding/batch", params={**SDK_PARAMS, "batch_size": 2}, json=texts, headers=h
    )
    assert reply.status_code == 200, reply.text
    vectors = reply.json()
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    single = c.post("/api/embedding/generate", json={"text": texts[1]}, headers=h).json()
    np.testing.assert_allclose(vectors[1], single["embedding"], atol=1e-5)
    assert c.post("/api/embedding/batch", json=[], headers=h).json() == []


def test_batch_validation(api: Api) -> None:
    c, h = api.client, api.admin
    too_many = c.post("/api/embedding/batch", json=["x"] * (MAX_BATCH_ITEMS + 1), headers=h)
    assert too_many.status_code == 413
    assert str(MAX_BATCH_ITEMS) in too_many.json()["detail"]
    blank = c.post("/api/embedding/batch", json=["ok", ""], headers=h)
    assert blank.status_code == 422 and "text 1" in blank.json()["detail"]
    not_a_list = c.post("/api/embedding/batch", json={"texts": ["x"]}, headers=h)
    assert not_a_list.status_code == 422
    bad_size = c.post("/api/embedding/batch", params={"batch_size": 0}, json=["x"], headers=h)
    assert bad_size.status_code == 422


def test_chunk_bare_list_and_metadata(api: Api) -> None:
    c, h = api.client, api.admin
    body = {"text": TEXT, "max_length": 100, "overlap": 10, "preamble_text": ""}
    bare = c.post("/api/embedding/chunk", params=SDK_PARAMS, json=body, headers=h)
    assert bare.status_code == 200, bare.text
    assert isinstance(bare.json(), list) and all(isinstance(x, str) for x in bare.json())

    full = c.post(
        "/api/embedding/chunk",
        params=SDK_PARAMS,
        json={**body, "return_metadata": True},
        headers=h,
    )
    assert full.status_code == 200, full.text
    data = full.json()
    parsed = ChunkResponse.model_validate(data)
    assert parsed.chunks == bare.json()
    assert parsed.offsets is not None and parsed.token_counts is not None
    for chunk, offset, tokens, meta in zip(
        parsed.chunks, parsed.offsets, parsed.token_counts, data["metadata"], strict=True
    ):
        assert TEXT[offset : offset + len(chunk)] == chunk
        assert meta["end_char"] == offset + len(chunk)
        assert tokens == meta["token_count"] <= 100
    assert [m["index"] for m in data["metadata"]] == list(range(len(parsed.chunks)))
    assert (data["max_length"], data["overlap"], data["model"]) == (100, 10, PACKAGED_MODEL)


def test_chunk_with_sdk_defaults_is_capped_and_preamble_is_documented(api: Api) -> None:
    body = {
        "text": TEXT,
        "max_length": 1024,
        "overlap": 102,
        "preamble_text": "Doc: notes\n",
        "return_metadata": True,
    }
    reply = api.client.post("/api/embedding/chunk", json=body, headers=api.admin)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert (data["max_length"], data["overlap"]) == (254, 25)
    for chunk, offset, meta in zip(data["chunks"], data["offsets"], data["metadata"], strict=True):
        assert chunk == "Doc: notes\n" + TEXT[offset : meta["end_char"]]
        assert meta["token_count"] <= 254


@pytest.mark.parametrize(
    "fields",
    [
        {"max_length": 49},
        {"max_length": 8193},
        {"overlap": -1},
        {"max_length": 100, "overlap": 100},
        {"preamble_text": "p" * 10_001},
    ],
)
def test_chunk_size_validation(api: Api, fields: dict[str, object]) -> None:
    reply = api.client.post(
        "/api/embedding/chunk", json={"text": TEXT, **fields}, headers=api.admin
    )
    assert reply.status_code == 422, reply.text


def test_a_read_scope_token_can_embed_and_it_is_not_audited(api: Api) -> None:
    """Embedding changes nothing: any token may call it, and it does not flood the audit log."""
    token = create_pat(api.client, api.admin, "read")
    api.client.cookies.clear()
    assert api.client.get("/api/embedding/providers", headers=bearer(token)).status_code == 200
    before = api.client.get("/api/activity/activities/?limit=1000", headers=api.admin).json()
    reply = api.client.post("/api/embedding/batch", json=["x"], headers=bearer(token))
    assert reply.status_code == 200 and len(reply.json()) == 1
    after = api.client.get("/api/activity/activities/?limit=1000", headers=api.admin).json()
    assert len(after) == len(before)


class InProcess(httpx.BaseTransport):
    """An httpx transport that answers from the in-process app (for `waza.client.Client`)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = self.client.request(
            request.method, str(request.url), headers=request.headers, content=request.read()
        )
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


def test_python_client(api: Api) -> None:
    token = create_pat(api.client, api.admin, "write")
    api.client.cookies.clear()
    client = Client("http://testserver", token, transport=InProcess(api.client))
    e = client.embedding
    assert "huggingface_embedding" in e.providers()
    out = e.generate("find me")
    assert (out.model, out.dimensions) == (PACKAGED_MODEL, 384)
    np.testing.assert_allclose(e.get("find me").embedding, out.embedding, atol=1e-6)
    assert len(e.batch(["a", "b"], batch_size=1)) == 2
    chunks = e.chunk(TEXT, max_length=80, overlap=8)
    assert all(
        TEXT[o : o + len(t)] == t for t, o in zip(chunks.chunks, chunks.offsets, strict=True)
    )
    assert e.health().status == "healthy"
    with pytest.raises(ValidationError):
        e.generate("  ")
    with pytest.raises(ValidationError):
        e.batch(["x"], model="no/such-model")
    read_token = create_pat(api.client, api.admin, "read")
    api.client.cookies.clear()
    read = Client("http://testserver", read_token, transport=InProcess(api.client))
    assert len(read.embedding.batch(["x"])) == 1
