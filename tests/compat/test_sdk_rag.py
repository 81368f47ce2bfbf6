"""Digest flow 14 (RAG) with the real kamiwaza-sdk 1.3 and the packaged embedding model:
embed_chunks → context.insert_vectors → create_embedding → context.query_vectors /
context.search / context.retrieve; and the platform's one-call RAG ingest read back through
`context.search`.
"""

from __future__ import annotations

import time
import uuid

from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.services.context import ContextService

from tests.conftest import LiveServer

W = ContextService.DEFAULT_WORKROOM_ID
DOC = {
    "tides.md": "Tides are caused mainly by the gravitational pull of the Moon on the oceans.",
    "coffee.md": "Espresso is brewed by forcing hot water through finely ground coffee beans.",
    "rust.md": "The Rust borrow checker rejects programs with dangling references at compile time.",
}


def test_flow_14_rag(admin_sdk: KamiwazaClient) -> None:
    e = admin_sdk.embedding.get_embedder(
        model="all-MiniLM-L6-v2", provider_type="sentence_transformers"
    )
    names, doc_chunks = list(DOC), list(DOC.values())
    vectors = e.embed_chunks(doc_chunks)
    assert len(vectors) == 3 and len(vectors[0]) == 384

    ctx = admin_sdk.context
    v = ctx.create_vectordb(name=f"rag-{uuid.uuid4().hex[:8]}", engine="milvus")["id"]
    collection = f"rag_{uuid.uuid4().hex[:8]}"
    metadata = [
        {"text": text, "source": f"/docs/{name}", "filename": name, "offset": 0, "chunk_index": 0}
        for name, text in zip(names, doc_chunks, strict=True)
    ]
    inserted = ctx.insert_vectors(v, collection_name=collection, vectors=vectors, metadata=metadata)
    assert inserted["inserted_count"] == 3

    question = "What makes the sea rise and fall"
    q = e.create_embedding(question).embedding
    hits = ctx.query_vectors(v, collection_name=collection, vectors=[q], limit=2)["results"]
    assert hits[0]["metadata"]["filename"] == "tides.md"

    found = ctx.search(
        workroom_id=W, query=question, collection_name=collection, top_k=2, vectordb_id=v
    )
    assert found["results"][0]["filename"] == "tides.md"
    assert found["results"][0]["text"] == DOC["tides.md"]
    assert found["results"][0]["score"] >= found["results"][1]["score"]

    retrieved = ctx.retrieve(
        workroom_id=W,
        query="How is espresso made",
        collection_names=[collection],
        top_k=3,
        score_threshold=0.3,
        vectordb_id=v,
    )
    assert [s["filename"] for s in retrieved["sources"]] == ["coffee.md"]
    strict = ctx.retrieve(workroom_id=W, query="unrelated quantum gossip", vectordb_id=v)
    assert strict["sources"] == []  # the SDK's default threshold (0.7) keeps only close matches

    # The last step of flow 14 (c.openai.get_client(model=...).chat.completions.create(...)
    # with the passages as context) runs on a real deployment in test_sdk_serving.py and
    # tests/integration/test_rag_grounded.py; this module's server has no Ray cluster.
    ctx.delete_vectordb(v)


def test_one_call_rag_then_sdk_search(admin_sdk: KamiwazaClient, live_server: LiveServer) -> None:
    folder = live_server.settings.home / "data" / uuid.uuid4().hex[:8]
    folder.mkdir(parents=True)
    for name, text in DOC.items():
        (folder / name).write_text(text + "\n")
    collection = f"kb_{uuid.uuid4().hex[:8]}"
    job = admin_sdk.post(
        "/ingestion/rag/ingest", json={"path": str(folder), "collection": collection}
    )
    deadline = time.monotonic() + 300
    while job["status"] not in {"COMPLETED", "FAILED", "CANCELLED"}:
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
        job = admin_sdk.get(f"/ingestion/rag/jobs/{job['id']}")
    assert job["status"] == "COMPLETED", job["error"]

    found = admin_sdk.context.search(
        workroom_id=W, query="borrow checker", collection_name=collection, top_k=1
    )
    best = found["results"][0]
    assert best["filename"] == "rust.md" and best["source"] == str(folder / "rust.md")
    assert best["catalog_urn"] == admin_sdk.catalog.get_dataset(best["catalog_urn"]).urn
    answer = admin_sdk.post(
        "/ingestion/rag/query", json={"collection": collection, "question": "moon and oceans"}
    )
    assert answer["results"][0]["filename"] == "tides.md" and answer["answer"] is None
