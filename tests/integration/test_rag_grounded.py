"""RAG with the serving service on a real Ray cluster: answers grounded in retrieved chunks from a
chat deployment (the tiny random model for the wiring and the error statuses, the real
SmolLM2-135M-Instruct for an answer that must contain a fact of an ingested document), and
embeddings through a deployed all-MiniLM-L6-v2 chosen with the kamiwaza-sdk, by RAG ingest and by
RAG queries, compared with the packaged in-process model.

One server and few deployments for the module (the machine has 2 cores): the tiny model, MiniLM,
and SmolLM2 only for its own test.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kamiwaza_sdk import KamiwazaClient

from tests.conftest import LiveServer, create_database, create_pat, create_user, login
from tests.fixtures.ray import RayNode
from tests.integration.serving_helpers import (
    ADMIN_PASSWORD,
    api_client,
    deploy,
    import_model,
    serving_server,
    wait_status,
)
from waza.client import Client
from waza.settings import Settings

pytestmark = pytest.mark.timeout(420)

FACT_FILE = "zorbia.md"
FACT = (
    "Zorbia is a small island nation in the northern sea. The capital of Zorbia is Plimpton, "
    "a port town famous for its blue lighthouse."
)
QUESTION = "What is the capital of Zorbia?"
OTHER_FILES = {
    "bread.txt": "Sourdough bread rises thanks to a starter of wild yeast and lactic acid "
    "bacteria. Bakers feed the starter with flour and water every day.",
    "solar.md": "# Solar power\n\nPhotovoltaic panels turn sunlight into electricity. Inverters "
    "convert their direct current to alternating current for the grid.",
    "rivers.csv": "river,length_km,continent\nNile,6650,Africa\nAmazon,6400,South America\n",
}
TEXTS = [
    "A cat sits on the mat.",
    "Photovoltaic panels turn sunlight into electricity.",
    "The capital of Zorbia is Plimpton.",
]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# ---- one server, its users and deployments -----------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ray_head: RayNode) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("rag-grounded")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    with serving_server(settings, ray_head.address) as live:
        yield live
    drop()


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


@pytest.fixture(scope="module")
def admin(api: httpx.Client) -> dict[str, str]:
    headers = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()  # every call below says who it is
    return headers


@pytest.fixture(scope="module")
def admin_pat(api: httpx.Client, admin: dict[str, str]) -> str:
    token = create_pat(api, admin, "admin")
    api.cookies.clear()
    return token


@pytest.fixture(scope="module")
def client(server: LiveServer, admin_pat: str) -> Iterator[Client]:
    with Client(server.url, admin_pat, timeout=180) as c:
        yield c


@pytest.fixture(scope="module")
def docs(server: LiveServer) -> Path:
    folder = server.settings.home / "data" / uuid.uuid4().hex[:8]
    folder.mkdir(parents=True)
    (folder / FACT_FILE).write_text(FACT + "\n")
    for name, text in OTHER_FILES.items():
        (folder / name).write_text(text + "\n")
    return folder


@pytest.fixture(scope="module")
def kb(client: Client, docs: Path) -> str:
    """A collection of `docs` embedded with the packaged in-process model."""
    name = unique("kb")
    job = client.ingestion.rag.wait(client.ingestion.rag.ingest_folder(docs, name), timeout=300)
    assert job.status == "COMPLETED", job.error
    return name


@pytest.fixture(scope="module")
def tiny_dep(api: httpx.Client, admin: dict[str, str], tiny_chat_model: Path) -> str:
    """The tiny random chat model, private to the admin, DEPLOYED."""
    model = import_model(
        api, admin, tiny_chat_model, "tiny-chat", {"engine": "transformers"}, private=True
    )
    dep_id = deploy(api, admin, model["id"])
    assert wait_status(api, admin, dep_id)["status"] == "DEPLOYED"
    return dep_id


def builtin(api: httpx.Client, headers: dict[str, str], name: str) -> dict[str, Any]:
    models = api.get("/api/models/", headers=headers).json()
    found = [m for m in models if m["name"] == name]
    assert found, f"the built-in {name} is registered at start-up"
    return dict(found[0])


@pytest.fixture(scope="module")
def minilm_dep(api: httpx.Client, admin: dict[str, str], minilm_path: Path) -> str:
    """The built-in all-MiniLM-L6-v2 deployed with the `embedding` engine."""
    dep_id = deploy(api, admin, builtin(api, admin, "all-MiniLM-L6-v2")["id"])
    dep = wait_status(api, admin, dep_id)
    assert dep["status"] == "DEPLOYED" and dep["engine_name"] == "embedding", dep
    return dep_id


def usage(api: httpx.Client, headers: dict[str, str], dep_id: str) -> dict[str, Any]:
    rows = api.get("/api/serving/usage", params={"deployment_id": dep_id}, headers=headers).json()
    assert len(rows) == 1, rows
    return dict(rows[0])


# ---- grounded answers ---------------------------------------------------------------------------
def test_a_chat_deployment_answers_from_numbered_sources(
    api: httpx.Client, admin: dict[str, str], client: Client, kb: str, docs: Path, tiny_dep: str
) -> None:
    # random weights: the text is noise; what matters is what was sent and what came back
    reply = client.ingestion.rag.query(kb, QUESTION, top_k=3, deployment_id=tiny_dep, max_tokens=8)
    assert reply.answer is not None
    assert str(reply.deployment_id) == tiny_dep and reply.answer_model == "tiny-chat"
    assert reply.finish_reason in {"stop", "length"}
    assert reply.usage is not None and reply.usage.prompt_tokens > 50
    assert 0 < reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    # the sources are the retrieved chunks, best first, numbered as in the prompt
    assert len(reply.results) == 3
    assert [s.id for s in reply.sources] == [r.id for r in reply.results]
    assert [s.number for s in reply.sources] == [1, 2, 3]
    first = reply.sources[0]
    assert first.filename == FACT_FILE and first.source == str(docs / FACT_FILE)
    assert first.offset is not None
    text = (docs / FACT_FILE).read_text()
    assert text[first.offset : first.offset + len(first.text)] == first.text
    assert reply.model == "sentence-transformers/all-MiniLM-L6-v2"

    # a small context budget keeps the best chunks that fit
    short = client.ingestion.rag.query(
        kb, QUESTION, top_k=3, deployment_id=tiny_dep, max_tokens=2, max_context_chars=200
    )
    assert 1 <= len(short.sources) < 3
    assert [s.id for s in short.sources] == [r.id for r in reply.results[: len(short.sources)]]
    assert sum(len(s.text.strip()) for s in short.sources) <= 200
    assert short.usage is not None and short.usage.prompt_tokens < reply.usage.prompt_tokens

    # without a deployment: the chunks only, as before
    plain = client.ingestion.rag.query(kb, QUESTION, top_k=3)
    assert plain.answer is None and plain.sources == [] and plain.usage is None
    assert [r.id for r in plain.results] == [r.id for r in reply.results]

    # the answers count in the deployment's usage, for the caller
    counted = usage(api, admin, tiny_dep)
    assert counted["requests"] == 2
    assert counted["prompt_tokens"] == reply.usage.prompt_tokens + short.usage.prompt_tokens


def test_grounded_answer_errors(
    server: LiveServer, api: httpx.Client, admin: dict[str, str], kb: str, tiny_dep: str,
    minilm_dep: str, tiny_chat_model: Path, tmp_path: Path,
) -> None:  # fmt: skip
    def ask(headers: dict[str, str], collection: str = kb, **body: Any) -> httpx.Response:
        return api.post(
            "/api/ingestion/rag/query",
            json={"collection": collection, "question": QUESTION, **body},
            headers=headers,
        )

    missing = ask(admin, deployment_id=str(uuid.uuid4()))
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    assert ask(admin, deployment_id="not-a-deployment").status_code == 404

    bob = create_user(api, admin, unique("bob"))
    api.cookies.clear()
    private = ask(bob, deployment_id=tiny_dep)
    assert private.status_code == 403 and "private" in private.json()["detail"]

    embedding_only = ask(admin, deployment_id=minilm_dep)
    assert embedding_only.status_code == 400
    assert "embedding engine" in embedding_only.json()["detail"]

    # a deployment that is not DEPLOYED: its files vanished, so it FAILED
    gone = tmp_path / "gone-model"
    gone.mkdir()
    for f in tiny_chat_model.iterdir():
        (gone / f.name).write_bytes(f.read_bytes())
    model = import_model(api, admin, gone, "gone-model", {"engine": "transformers"})
    for f in gone.iterdir():
        f.unlink()
    failed = wait_status(api, admin, deploy(api, admin, model["id"]))
    assert failed["status"] == "FAILED"
    conflict = ask(admin, deployment_id=failed["id"])
    assert conflict.status_code == 409 and "FAILED" in conflict.json()["detail"]

    # nothing retrieved: no call, no answer
    empty = unique("empty")
    created = api.post(
        "/api/context/collections/", json={"name": empty, "dimension": 384}, headers=admin
    )
    assert created.status_code in (200, 201), created.text
    before = usage(api, admin, tiny_dep)["requests"]
    nothing = ask(admin, collection=empty, deployment_id=tiny_dep)
    assert nothing.status_code == 200, nothing.text
    body = nothing.json()
    assert body["results"] == [] and body["sources"] == [] and body["answer"] is None
    assert body["deployment_id"] == tiny_dep
    assert usage(api, admin, tiny_dep)["requests"] == before

    # the engine's own refusal (a prompt longer than the model's context) is a 400
    refused = api.post(
        "/api/ingestion/rag/query",
        json={"collection": kb, "question": "Where? " * 2500, "deployment_id": tiny_dep},
        headers=admin,
    )
    assert refused.status_code == 400, refused.text
    assert tiny_dep in refused.json()["detail"] and "context" in refused.json()["detail"]


def test_smollm2_answers_with_the_fact_from_the_document(
    api: httpx.Client, admin: dict[str, str], client: Client, kb: str, smollm2_gguf: Path
) -> None:
    pytest.importorskip("llama_cpp")
    model = builtin(api, admin, "SmolLM2-135M-Instruct")
    dep_id = deploy(api, admin, model["id"])
    try:
        dep = wait_status(api, admin, dep_id)
        assert dep["status"] == "DEPLOYED" and dep["engine_name"] == "llamacpp", dep
        reply = client.ingestion.rag.query(kb, QUESTION, top_k=3, deployment_id=dep_id)
        assert reply.sources[0].filename == FACT_FILE
        assert reply.answer is not None and "Plimpton" in reply.answer, reply.answer
        assert reply.finish_reason == "stop"
        # greedy decoding: asking again gives the same answer
        again = client.ingestion.rag.query(kb, QUESTION, top_k=3, deployment_id=dep_id)
        assert again.answer == reply.answer
    finally:
        api.delete(f"/api/serving/deployment/{dep_id}", params={"force": "true"}, headers=admin)


# ---- a deployed embedding model -----------------------------------------------------------------
def test_the_sdk_embeds_through_the_deployed_model(
    server: LiveServer, api: httpx.Client, admin: dict[str, str], admin_pat: str,
    minilm_dep: str, tiny_dep: str,
) -> None:  # fmt: skip
    sdk = KamiwazaClient(server.api, api_key=admin_pat)
    providers = sdk.embedding.get_providers()
    assert providers[0] == "sentence_transformers" and "deployment" in providers
    local = sdk.embedding.get_embedder(provider_type="sentence_transformers")
    by_name = sdk.embedding.get_embedder(model="all-MiniLM-L6-v2", provider_type="deployment")
    by_id = sdk.embedding.get_embedder(model=minilm_dep, provider_type="deployment")
    expected = local.embed_chunks(TEXTS)
    for embedder in (by_name, by_id):
        got = embedder.embed_chunks(TEXTS)
        assert [len(v) for v in got] == [384] * 3
        for a, b in zip(got, expected, strict=True):
            assert cosine(a, b) > 0.9999
    one = by_name.create_embedding(TEXTS[0])
    assert cosine(one.embedding, expected[0]) > 0.9999
    # the same tokenizer sizes the chunks: the same chunks as the packaged model
    long_text = " ".join(
        f"Sentence number {i} is about lighthouses and harbours." for i in range(80)
    )
    chunks = by_name.chunk_text(long_text, max_length=128, overlap=12, return_metadata=True)
    assert chunks.chunks == local.chunk_text(long_text, max_length=128, overlap=12)
    assert len(chunks.chunks) > 2

    # the response says where the vector came from; the calls count in the deployment's usage
    raw = api.post(
        "/api/embedding/generate",
        json={"text": TEXTS[0], "model": "all-MiniLM-L6-v2", "provider_type": "deployment"},
        headers=admin,
    ).json()
    assert raw["provider_type"] == "deployment" and raw["deployment_id"] == minilm_dep
    assert raw["model"] == "all-MiniLM-L6-v2" and raw["dimensions"] == 384
    assert usage(api, admin, minilm_dep)["prompt_tokens"] > 0

    # refusals, by the serving rules
    def batch(model: str) -> httpx.Response:
        params = {"model": model, "provider_type": "deployment"}
        return api.post("/api/embedding/batch", params=params, json=["x"], headers=admin)

    assert batch(str(uuid.uuid4())).status_code == 404
    chat_only = batch("tiny-chat")
    assert chat_only.status_code == 400 and "embedding" in chat_only.json()["detail"]
    assert batch(tiny_dep).status_code == 400
    unknown = batch("no-such-model")
    assert unknown.status_code == 400 and "all-MiniLM-L6-v2" in unknown.json()["detail"]
    bob = create_user(api, admin, unique("bob"))
    api.cookies.clear()
    params = {"model": tiny_dep, "provider_type": "deployment"}
    denied = api.post("/api/embedding/batch", params=params, json=["x"], headers=bob)
    assert denied.status_code == 403


def test_rag_ingest_and_query_with_the_deployed_model(
    api: httpx.Client, admin: dict[str, str], client: Client, docs: Path, kb: str,
    minilm_dep: str,
) -> None:  # fmt: skip
    before = usage(api, admin, minilm_dep)["prompt_tokens"]
    name = unique("kb_deployed")
    job = client.ingestion.rag.ingest_folder(
        docs, name, model=minilm_dep, provider_type="deployment"
    )
    done = client.ingestion.rag.wait(job, timeout=300)
    assert done.status == "COMPLETED", done.error
    assert done.options["provider_type"] == "deployment"
    assert usage(api, admin, minilm_dep)["prompt_tokens"] > before  # the deployment embedded

    deployed = client.ingestion.rag.query(
        name, QUESTION, top_k=3, model="all-MiniLM-L6-v2", provider_type="deployment"
    )
    packaged = client.ingestion.rag.query(kb, QUESTION, top_k=3)
    assert deployed.model == "all-MiniLM-L6-v2"
    assert deployed.results[0].filename == FACT_FILE
    assert [(r.filename, r.offset) for r in deployed.results] == [
        (r.filename, r.offset) for r in packaged.results
    ]
    for a, b in zip(deployed.results, packaged.results, strict=True):
        assert abs(a.score - b.score) < 1e-3

    # a deployment that cannot be used is refused before any job is queued
    refused = api.post(
        "/api/ingestion/rag/ingest",
        json={"path": str(docs), "collection": unique("kb"), "model": str(uuid.uuid4()),
              "provider_type": "deployment"},
        headers=admin,
    )  # fmt: skip
    assert refused.status_code == 404
