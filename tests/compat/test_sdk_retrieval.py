"""`client.retrieval` of the real kamiwaza-sdk 1.3 (digest §9): the inline size limit and the SSE
fallback the SDK's tests expect, and the error types the SDK maps from 404/403/422.

This module runs its own server with a small inline limit (`WAZA_RETRIEVAL_INLINE_MAX_BYTES`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import (
    APIError,
    AuthorizationError,
    DatasetNotFoundError,
    TransportNotSupportedError,
)
from kamiwaza_sdk.schemas.retrieval import RetrievalRequest

from tests.compat.conftest import Account
from tests.conftest import LiveServer, create_database, start_server, stop_server
from waza.settings import Settings

INLINE_MAX = 4096
ROWS = 500


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("live-retrieval")
    url, drop = create_database(home)
    settings = Settings(home=home, database_url=url)  # type: ignore[call-arg]
    server = start_server(settings, {"WAZA_RETRIEVAL_INLINE_MAX_BYTES": str(INLINE_MAX)})
    try:
        yield server
    finally:
        stop_server(server)
        drop()


@pytest.fixture(scope="module")
def big_table(live_server: LiveServer) -> Path:
    folder = live_server.settings.home / "data" / "tables"
    folder.mkdir(parents=True)
    path = folder / "readings.parquet"
    pq.write_table(
        pa.table(
            {
                "sensor": [f"s{i % 7}" for i in range(ROWS)],
                "value": [i * 0.5 for i in range(ROWS)],
            }
        ),
        path,
    )
    return path


def test_inline_too_large_then_sse(admin_sdk: KamiwazaClient, big_table: Path) -> None:
    urn = admin_sdk.ingestion.run_active("file", path=str(big_table)).urns[0]
    with pytest.raises(TransportNotSupportedError, match="sse"):
        admin_sdk.retrieval.create_job(
            RetrievalRequest(dataset_urn=urn, transport="inline", format_hint="parquet")
        )
    fallback = admin_sdk.retrieval.materialize(
        RetrievalRequest(dataset_urn=urn, transport="sse", batch_size=200)
    )
    assert fallback.stream is not None
    events = list(fallback.stream)
    rows = [row for e in events if e.event == "rows" for row in e.data["rows"]]
    assert len(rows) == ROWS and rows[1] == {"sensor": "s1", "value": 0.5}
    assert [e.data["row_count"] for e in events if e.event == "rows"] == [200, 200, 100]
    status = admin_sdk.retrieval.get_job(fallback.job.job_id)
    assert status.status == "COMPLETED" and status.progress.rows_processed == ROWS
    assert status.progress.chunks_emitted == 3

    auto = admin_sdk.retrieval.materialize(RetrievalRequest(dataset_urn=urn))  # auto: too big
    assert auto.job.transport == "sse" and auto.stream is not None
    auto.stream.close()  # type: ignore[attr-defined]
    small = admin_sdk.retrieval.materialize(RetrievalRequest(dataset_urn=urn, limit_rows=10))
    assert small.inline is not None and small.inline.row_count == 10

    listed = admin_sdk.get("/retrieval/jobs", params={"limit": 2})
    assert len(listed) == 2 and {j["job_id"] for j in listed} <= {
        fallback.job.job_id,
        auto.job.job_id,
        small.job.job_id,
    }
    pending = admin_sdk.retrieval.create_job(RetrievalRequest(dataset_urn=urn, transport="sse"))
    cancelled = admin_sdk.post(f"/retrieval/jobs/{pending.job_id}/cancel")
    assert (cancelled["status"], cancelled["cancelled"]) == ("CANCELLED", True)
    assert admin_sdk.retrieval.get_job(pending.job_id).status == "CANCELLED"
    with pytest.raises(APIError) as refused:
        admin_sdk.retrieval.stream_events(pending.job_id)
    assert refused.value.status_code == 409


def test_error_types(
    admin_sdk: KamiwazaClient,
    big_table: Path,
    make_account: Callable[..., Account],
    sdk_login: Callable[[str, str], KamiwazaClient],
) -> None:
    urn = admin_sdk.ingestion.run_active("file", path=str(big_table)).urns[0]
    missing = f"urn:li:dataset:(urn:li:dataPlatform:file,/nope/{uuid.uuid4().hex},PROD)"
    with pytest.raises(DatasetNotFoundError):
        admin_sdk.retrieval.create_job(RetrievalRequest(dataset_urn=missing, transport="inline"))
    with pytest.raises(DatasetNotFoundError):
        admin_sdk.retrieval.get_job(str(uuid.uuid4()))
    with pytest.raises(TransportNotSupportedError, match="grpc"):
        admin_sdk.retrieval.create_job(RetrievalRequest(dataset_urn=urn, transport="grpc"))
    account = make_account("reader")
    stranger = sdk_login(account.username, account.password)
    with pytest.raises(AuthorizationError):
        stranger.retrieval.create_job(RetrievalRequest(dataset_urn=urn, transport="inline"))
