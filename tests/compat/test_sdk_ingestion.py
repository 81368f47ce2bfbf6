"""Digest flow 15 (ingest → retrieve) with the real kamiwaza-sdk 1.3 and a `file` source, plus
the rest of `client.ingestion` (health, scheduled jobs, MCPs).

The flow as the digest writes it uses an `s3` source; no S3 can run here, so the `s3` path is
covered in-process against a stubbed boto3 client (tests/unit/test_ingestion_api.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import APIError
from kamiwaza_sdk.schemas.ingestion import (
    IngestJobCreate,
    IngestJobStatus,
    IngestResponse,
    OperationStatus,
)
from kamiwaza_sdk.schemas.retrieval import InlineData, RetrievalJobStatus, RetrievalRequest

from tests.compat.conftest import Account
from tests.conftest import LiveServer


def data_folder(live_server: LiveServer, *parts: str) -> Path:
    folder = live_server.settings.home.joinpath(*parts, uuid.uuid4().hex[:8])
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table({"id": [1, 2, 3], "city": ["Paris", "Oslo", "Lima"], "temp": [21.5, 9.0, 18.25]}),
        folder / "weather.parquet",
    )
    (folder / "notes.md").write_text("# Notes\n")
    return folder


def test_flow_15_file_source(admin_sdk: KamiwazaClient, live_server: LiveServer) -> None:
    health = admin_sdk.ingestion.health()
    assert health["status"] == "healthy" and "file" in health["sources"]

    folder = data_folder(live_server, "data")
    r = admin_sdk.ingestion.run_active("file", path=str(folder))
    assert isinstance(r, IngestResponse) and r.status == "success" and r.errors == []
    assert len(r.urns) == 2
    urn = next(u for u in r.urns if "weather.parquet" in u)
    ds = admin_sdk.catalog.get_dataset(urn)
    assert ds.properties["path"] == ds.properties["location"] == str(folder / "weather.parquet")

    job = admin_sdk.retrieval.create_job(
        RetrievalRequest(dataset_urn=urn, transport="inline", format_hint="parquet")
    )
    assert isinstance(job.inline, InlineData)
    assert job.inline.media_type == "application/json"
    assert job.inline.data == [
        {"id": 1, "city": "Paris", "temp": 21.5},
        {"id": 2, "city": "Oslo", "temp": 9.0},
        {"id": 3, "city": "Lima", "temp": 18.25},
    ]
    assert job.inline.row_count == 3
    status = admin_sdk.retrieval.get_job(job.job_id)
    assert isinstance(status, RetrievalJobStatus)
    assert status.status.upper() in {"COMPLETE", "COMPLETED"}
    assert status.progress.rows_processed == 3 and status.dataset.urn == urn

    # the SSE variant: materialize(...).stream, and stream_events(job_id)
    result = admin_sdk.retrieval.materialize(
        RetrievalRequest(dataset_urn=urn, transport="sse", columns=["city"], filters={"id": 2})
    )
    assert result.stream is not None and result.job.transport == "sse"
    events = list(result.stream)
    assert [e.event for e in events] == ["metadata", "rows", "complete"]
    assert events[1].data["rows"] == [{"city": "Oslo"}]
    again = list(admin_sdk.retrieval.stream_events(result.job.job_id))
    assert again[-1].event == "complete" and again[-1].data["rows"] == 1
    assert admin_sdk.retrieval.get_job(result.job.job_id).status == "COMPLETED"

    inline = admin_sdk.retrieval.create_inline_job(urn, format_hint="parquet")
    assert inline.inline is not None and inline.inline.row_count == 3


def test_user_paths_and_errors(
    admin_sdk: KamiwazaClient,
    live_server: LiveServer,
    make_account: Callable[..., Account],
    sdk_login: Callable[[str, str], KamiwazaClient],
) -> None:
    account = make_account("ingest")
    sdk = sdk_login(account.username, account.password)
    mine = data_folder(live_server, "users", account.username)
    assert len(sdk.ingestion.run_active("file", path=str(mine)).urns) == 2
    outside = data_folder(live_server, "private")
    with pytest.raises(APIError) as denied:
        sdk.ingestion.run_active("file", path=str(outside))
    assert denied.value.status_code == 403
    with pytest.raises(APIError) as missing:
        sdk.ingestion.run_active("file", path=str(mine / "nope"))
    assert missing.value.status_code == 404
    with pytest.raises(APIError) as unsupported:
        sdk.ingestion.run_active("kafka", topic="t")
    assert unsupported.value.status_code == 422


def test_scheduled_jobs_and_mcps(admin_sdk: KamiwazaClient, live_server: LiveServer) -> None:
    folder = data_folder(live_server, "data")
    job_id = f"sdk-{uuid.uuid4().hex[:8]}"
    stored = admin_sdk.ingestion.schedule_job(
        IngestJobCreate(
            job_id=job_id,
            schedule="*/30 * * * *",
            source_type="file",
            conn_args={"path": str(folder)},
        )
    )
    assert isinstance(stored, OperationStatus) and stored.status == "scheduled"
    status = admin_sdk.ingestion.get_job_status(job_id)
    assert isinstance(status, IngestJobStatus)
    assert (status.job_id, status.status, status.error_count) == (job_id, "pending", 0)
    ran = admin_sdk.post(f"/ingestion/ingest/jobs/{job_id}/run")
    assert ran["status"] == "success"
    assert len(admin_sdk.ingestion.get_job_status(job_id).created_urns) == 2

    urn = f"urn:li:dataset:(urn:li:dataPlatform:hive,sdk.t_{uuid.uuid4().hex[:6]},PROD)"
    accepted = admin_sdk.ingestion.emit_mcp(
        {
            "entityType": "dataset",
            "entityUrn": urn,
            "changeType": "UPSERT",
            "aspectName": "datasetProperties",
            "aspect": {"description": "emitted through the SDK"},
        }
    )
    assert accepted.status == "accepted"
    with pytest.raises(APIError) as bad:
        admin_sdk.ingestion.emit_mcp({"entityUrn": urn})
    assert bad.value.status_code == 400
