"""RAG job bookkeeping without the embedding model: a job that a dead process left RUNNING is
failed and undone from its row alone; a PENDING job can be cancelled before it starts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, login, running_app
from waza.db.base import utcnow
from waza.errors import NotFound, Unprocessable
from waza.gateway.principal import Principal
from waza.services.catalog.schemas import DatasetCreate
from waza.services.ingestion import rag
from waza.services.ingestion.models import RagJob
from waza.services.ingestion.schemas import RagIngestRequest
from waza.services.ingestion.service import IngestionService
from waza.services.vectordb.schemas import CreateCollection


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("rag-jobs")) as client:
        yield client


def admin_principal(api: TestClient) -> Principal:
    headers = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    me = api.get("/api/auth/users/me", headers=headers).json()
    return Principal(
        user_id=uuid.UUID(me["sub"]), username="admin", roles=("admin", "user"), method="session"
    )


def add_job(ctx: Any, owner: Principal, **fields: Any) -> uuid.UUID:
    row = RagJob(
        owner_id=owner.user_id,
        owner_username=owner.username,
        owner_roles=list(owner.roles),
        worker="a-process-that-died",
        path="/somewhere",
        options={},
        progress={},
        errors=[],
        dataset_urns=[],
        **fields,
    )
    ctx.db.transaction(lambda s: s.add(row))
    return row.id


def test_an_interrupted_job_is_failed_and_undone(api: TestClient) -> None:
    ctx = api.app.state.waza  # type: ignore[attr-defined]
    owner = admin_principal(api)
    urn = ctx.catalog.create_dataset(
        owner, DatasetCreate(name=f"/rag/{uuid.uuid4().hex}", platform="file")
    )
    db = ctx.vectors.resolve(owner, None, write=True)
    name = f"c_{uuid.uuid4().hex[:8]}"
    ctx.vectors.create_collection(
        owner, CreateCollection(name=name, dimension=4, vectordb_id=db.id)
    )
    staging = ctx.settings.home / "tmp" / "rag" / "old-job"
    staging.mkdir(parents=True)
    (staging / "000000.npy").write_bytes(b"x")
    job_id = add_job(
        ctx,
        owner,
        status="RUNNING",
        collection=name,
        vectordb_id=db.id,
        created_urns=[urn],
        created_collection=True,
        staging=str(staging),
    )
    fresh_id = add_job(ctx, owner, status="RUNNING", collection=name, created_urns=[])

    def age(s: Any) -> None:
        s.get(RagJob, job_id).updated_at = utcnow() - timedelta(minutes=30)

    ctx.db.transaction(age)
    ctx.ingestion._recovered_at = -1e9  # look now
    ctx.ingestion.recover_stale()

    job = ctx.ingestion.rag_job(owner, job_id)
    assert job.status == "FAILED" and "interrupted" in (job.error or "")
    with pytest.raises(NotFound):
        ctx.catalog.get_dataset(owner, urn)
    with pytest.raises(NotFound):
        ctx.vectors.get_collection(owner, name, db.id)
    assert not staging.exists()
    assert ctx.ingestion.rag_job(owner, fresh_id).status == "RUNNING"  # recent: left alone


def test_cancel_a_pending_job(api: TestClient) -> None:
    ctx = api.app.state.waza  # type: ignore[attr-defined]
    owner = admin_principal(api)
    job_id = add_job(ctx, owner, status="PENDING", collection="c", created_urns=[])
    cancelled = ctx.ingestion.rag_cancel(owner, job_id)
    assert cancelled.status == "CANCELLED" and cancelled.cancel_requested
    assert cancelled.finished_at is not None
    # a worker that picks it up afterwards does nothing
    task = rag.RagTask(
        job_id=job_id,
        principal=owner,
        request=RagIngestRequest(path="/x", collection="c"),
        files=[],
        vectordb_id=uuid.uuid4(),
    )
    rag.Pipeline(ctx.ingestion, task).run()
    assert ctx.ingestion.rag_job(owner, job_id).status == "CANCELLED"
    headers = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    again = api.post(f"/api/ingestion/rag/jobs/{job_id}/cancel", headers=headers)
    assert again.status_code == 409


def test_no_job_starts_after_close(api: TestClient) -> None:
    ctx = api.app.state.waza  # type: ignore[attr-defined]
    owner = admin_principal(api)
    folder = ctx.settings.home / "data" / uuid.uuid4().hex[:8]
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    service = IngestionService(ctx.db, ctx.settings, ctx.catalog, ctx.embedding, ctx.vectors)
    service.close()
    with pytest.raises(Unprocessable, match="shutting down"):
        service.rag_ingest(owner, RagIngestRequest(path=str(folder), collection="after_close"))
    (job,) = [j for j in service.rag_jobs(owner) if j.collection == "after_close"]
    assert job.status == "FAILED" and "shutting down" in (job.error or "")
