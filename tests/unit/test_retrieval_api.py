"""Retrieval over HTTP (in-process app), digest §9: inline and SSE transports over file datasets,
columns/filters/offset/limit, the inline size limit, job status, and access rules.

The S3 test stubs boto3's client with botocore's `Stubber` (no S3 can run here).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, login, running_app
from waza.services.ingestion import s3

Headers = dict[str, str]
JOBS = "/api/retrieval/jobs"
INLINE_MAX = 4096


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("retrieval-api")
    with running_app(home, retrieval_inline_max_bytes=INLINE_MAX) as client:
        yield client


def session(api: TestClient, username: str, password: str) -> Headers:
    headers = login(api, username, password)
    api.cookies.clear()
    return headers


@pytest.fixture(scope="module")
def admin(api: TestClient) -> Headers:
    return session(api, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def make_user(api: TestClient, admin: Headers) -> Callable[[], tuple[str, Headers]]:
    def make() -> tuple[str, Headers]:
        name = f"r{uuid.uuid4().hex[:8]}"
        body = {"username": name, "password": f"pw-{name}-1", "roles": ["user"]}
        assert api.post("/api/auth/users/local", json=body, headers=admin).status_code == 201
        return name, session(api, name, f"pw-{name}-1")

    return make


@pytest.fixture(scope="module")
def ann(make_user: Callable[[], tuple[str, Headers]]) -> tuple[str, Headers]:
    return make_user()


@pytest.fixture(scope="module")
def urns(api: TestClient, ann: tuple[str, Headers]) -> dict[str, str]:
    """Ann's datasets: a 200-row Parquet table, a CSV, JSON lines, a text file."""
    name, headers = ann
    home: Path = api.app.state.waza.settings.home  # type: ignore[attr-defined]
    folder = home / "users" / name / "tables"
    folder.mkdir(parents=True)
    n = 200
    pq.write_table(
        pa.table(
            {
                "id": list(range(n)),
                "city": [["Paris", "Oslo", "Lima"][i % 3] for i in range(n)],
                "temp": [round(i * 0.25, 2) for i in range(n)],
            }
        ),
        folder / "weather.parquet",
    )
    (folder / "people.csv").write_text("id,name,age\n1,ann,31\n2,bob,45\n3,cid,27\n")
    (folder / "events.jsonl").write_text('{"e": "a", "n": 1}\n{"e": "b", "n": 2}\n')
    (folder / "poem.txt").write_text("roses are red\nviolets are blue\n")
    (folder / "blob.dat").write_text("id|x\n1|y\n")
    reply = api.post(
        "/api/ingestion/ingest/run",
        json={"source_type": "file", "kwargs": {"path": str(folder)}},
        headers=headers,
    )
    assert reply.status_code == 200, reply.text
    found = {}
    for urn in reply.json()["urns"]:
        found[urn.split("/")[-1].split(",")[0]] = urn
    blob = api.post(
        "/api/ingestion/ingest/run",
        json={"source_type": "file", "kwargs": {"path": str(folder / "blob.dat")}},
        headers=headers,
    ).json()
    found["blob.dat"] = blob["urns"][0]
    return found


def create(api: TestClient, headers: Headers, **body: Any) -> Any:
    return api.post(JOBS, json=body, headers=headers)


def events(api: TestClient, headers: Headers, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    reply = api.get(f"{JOBS}/{job_id}/stream", headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    parsed = []
    for block in reply.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


def test_inline_parquet_with_columns_filters_offset_and_limit(
    api: TestClient, ann: tuple[str, Headers], urns: dict[str, str]
) -> None:
    _, headers = ann
    reply = create(
        api,
        headers,
        dataset_urn=urns["weather.parquet"],
        transport="inline",
        format_hint="parquet",
        columns=["id", "temp"],
        filters={"city": "Oslo", "temp": {"$gte": 10}},
        offset=2,
        limit_rows=3,
    )
    assert reply.status_code == 201, reply.text
    job = reply.json()
    assert (job["transport"], job["status"]) == ("inline", "COMPLETED")
    assert job["dataset"]["format"] == "parquet" and job["dataset"]["estimated_rows"] == 200
    assert job["inline"]["media_type"] == "application/json"
    assert job["inline"]["data"] == [
        {"id": 46, "temp": 11.5},
        {"id": 49, "temp": 12.25},
        {"id": 52, "temp": 13.0},
    ]
    assert job["inline"]["row_count"] == 3
    status = api.get(f"{JOBS}/{job['job_id']}", headers=headers).json()
    assert status["status"] == "COMPLETED" and status["progress"]["rows_processed"] == 3
    assert status["created_at"] and status["updated_at"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("people.csv", [{"id": 1, "name": "ann", "age": 31}]),
        ("events.jsonl", [{"e": "a", "n": 1}]),
        ("poem.txt", [{"line_number": 1, "text": "roses are red"}]),
    ],
)
def test_inline_other_formats(
    api: TestClient,
    ann: tuple[str, Headers],
    urns: dict[str, str],
    name: str,
    expected: list[dict[str, Any]],
) -> None:
    job = create(api, ann[1], dataset_urn=urns[name], transport="inline", limit_rows=1).json()
    assert job["inline"]["data"] == expected


def test_format_hint_reads_an_unknown_extension(
    api: TestClient, ann: tuple[str, Headers], urns: dict[str, str]
) -> None:
    plain = create(api, ann[1], dataset_urn=urns["blob.dat"], transport="inline")
    assert plain.status_code == 422 and "format_hint" in plain.json()["detail"]
    text = create(api, ann[1], dataset_urn=urns["blob.dat"], transport="inline", format_hint="text")
    assert text.json()["inline"]["data"][0] == {"line_number": 1, "text": "id|x"}


def test_inline_over_the_limit_is_422_and_auto_streams(
    api: TestClient, ann: tuple[str, Headers], urns: dict[str, str]
) -> None:
    _, headers = ann
    big = create(api, headers, dataset_urn=urns["weather.parquet"], transport="inline")
    assert big.status_code == 422
    assert "sse" in big.json()["detail"] and str(INLINE_MAX) in big.json()["detail"]
    small = create(api, headers, dataset_urn=urns["weather.parquet"], limit_rows=5).json()
    assert small["transport"] == "inline" and small["inline"]["row_count"] == 5  # auto, fits

    job = create(api, headers, dataset_urn=urns["weather.parquet"], batch_size=64).json()
    assert (job["transport"], job["status"], job["inline"]) == ("sse", "PENDING", None)
    got = events(api, headers, job["job_id"])
    assert got[0][0] == "metadata"
    assert [c["name"] for c in got[0][1]["columns"]] == ["id", "city", "temp"]
    batches = [data for name, data in got if name == "rows"]
    assert [b["row_count"] for b in batches] == [64, 64, 64, 8]
    assert [r["id"] for b in batches for r in b["rows"]] == list(range(200))
    last, summary = got[-1]
    assert (last, summary["job_id"], summary["rows"], summary["chunks"]) == (
        "complete",
        job["job_id"],
        200,
        4,
    )
    status = api.get(f"{JOBS}/{job['job_id']}", headers=headers).json()
    assert status["status"] == "COMPLETED"
    assert status["progress"] == {
        "rows_processed": 200,
        "chunks_emitted": 4,
        "bytes_processed": got[-1][1]["bytes"],
    }


def test_sse_with_filters_and_the_spec_prefix(
    api: TestClient, ann: tuple[str, Headers], urns: dict[str, str]
) -> None:
    _, headers = ann
    reply = api.post(
        "/api/retrieval/retrieval/jobs",
        json={
            "dataset_urn": urns["weather.parquet"],
            "transport": "sse",
            "filters": {"id": {"$in": [1, 2, 3]}},
            "columns": ["id"],
        },
        headers=headers,
    )
    assert reply.status_code == 201
    job_id = reply.json()["job_id"]
    stream = api.get(f"/api/retrieval/retrieval/jobs/{job_id}/stream", headers=headers)
    assert '"rows": [{"id": 1}, {"id": 2}, {"id": 3}]' in stream.text
    assert (
        api.get(f"/api/retrieval/retrieval/jobs/{job_id}", headers=headers).json()["status"]
        == "COMPLETED"
    )


def test_cancel(api: TestClient, ann: tuple[str, Headers], urns: dict[str, str]) -> None:
    _, headers = ann
    job = create(api, headers, dataset_urn=urns["people.csv"], transport="sse").json()
    cancelled = api.post(f"{JOBS}/{job['job_id']}/cancel", headers=headers).json()
    assert cancelled == {"job_id": job["job_id"], "status": "CANCELLED", "cancelled": True}
    assert api.get(f"{JOBS}/{job['job_id']}/stream", headers=headers).status_code == 409
    again = api.post(f"{JOBS}/{job['job_id']}/cancel", headers=headers).json()
    assert again["cancelled"] is False


def test_transports(api: TestClient, ann: tuple[str, Headers], urns: dict[str, str]) -> None:
    urn = urns["people.csv"]
    grpc = create(api, ann[1], dataset_urn=urn, transport="grpc")
    assert grpc.status_code == 422 and "not supported" in grpc.json()["detail"]
    assert create(api, ann[1], dataset_urn=urn, transport="carrier-pigeon").status_code == 422


def test_errors_and_access(
    api: TestClient,
    admin: Headers,
    ann: tuple[str, Headers],
    urns: dict[str, str],
    make_user: Callable[[], tuple[str, Headers]],
) -> None:
    name, headers = ann
    missing = "urn:li:dataset:(urn:li:dataPlatform:file,/no/such/dataset,PROD)"
    assert create(api, headers, dataset_urn=missing).status_code == 404
    assert create(api, headers, dataset_urn="not-a-urn").status_code == 400
    _, bob = make_user()
    assert create(api, bob, dataset_urn=urns["people.csv"]).status_code == 403
    job = create(api, headers, dataset_urn=urns["people.csv"], transport="inline").json()
    assert api.get(f"{JOBS}/{job['job_id']}", headers=bob).status_code == 403
    assert api.get(f"{JOBS}/{uuid.uuid4()}", headers=headers).status_code == 404
    assert api.get(f"{JOBS}/not-a-job", headers=headers).status_code == 404
    assert job["job_id"] in [j["job_id"] for j in api.get(JOBS, headers=headers).json()]
    assert api.get(JOBS, headers=bob).json() == []
    assert create(api, headers, dataset_urn=urns["people.csv"], columns=["nope"]).status_code == 400
    bad_filter = create(api, headers, dataset_urn=urns["people.csv"], filters={"age": "old"})
    assert bad_filter.status_code == 400 and "age" in bad_filter.json()["detail"]
    api.cookies.clear()
    assert api.post(JOBS, json={"dataset_urn": urns["people.csv"]}).status_code == 401

    # a dataset anyone can register, pointing at a file outside the user's folders
    home: Path = api.app.state.waza.settings.home  # type: ignore[attr-defined]
    secret = home / "private" / "notes.txt"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text("not for users")
    sneaky = api.post(
        "/api/catalog/datasets/",
        json={
            "name": f"sneaky-{uuid.uuid4().hex[:6]}",
            "platform": "file",
            "properties": {"path": str(secret), "format": "text"},
        },
        headers=headers,
    ).json()
    refused = create(api, headers, dataset_urn=sneaky, transport="inline")
    assert refused.status_code == 403 and "outside" in refused.json()["detail"]
    # ... or at an S3 endpoint only the server can reach (SSRF)
    probe = api.post(
        "/api/catalog/datasets/",
        json={
            "name": f"probe-{uuid.uuid4().hex[:6]}",
            "platform": "s3",
            "properties": {
                "bucket": "b",
                "key": "k.csv",
                "endpoint_url": "http://169.254.169.254",
            },
        },
        headers=headers,
    ).json()
    ssrf = create(api, headers, dataset_urn=probe, transport="inline")
    assert ssrf.status_code == 403 and "WAZA_S3_ENDPOINTS" in ssrf.json()["detail"]
    own = api.post(
        "/api/catalog/datasets/",
        json={
            "name": f"admin-{uuid.uuid4().hex[:6]}",
            "platform": "file",
            "properties": {"path": str(secret), "format": "text"},
        },
        headers=admin,
    ).json()
    assert create(api, admin, dataset_urn=own, transport="inline").status_code == 201

    gone = home / "users" / name / "gone.csv"
    gone.write_text("a\n1\n")
    urn = api.post(
        "/api/ingestion/ingest/run",
        json={"source_type": "file", "kwargs": {"path": str(gone)}},
        headers=headers,
    ).json()["urns"][0]
    gone.unlink()
    assert create(api, headers, dataset_urn=urn).status_code == 404


def test_s3_dataset_with_a_credential_override(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, ann: tuple[str, Headers]
) -> None:
    _, headers = ann
    real = boto3.session.Session().client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(s3, "client_factory", lambda **kw: built.append(kw) or real)
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    payload = io.BytesIO()
    pq.write_table(pa.table({"k": ["a", "b"], "v": [1, 2]}), payload)
    with Stubber(real) as stub:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "t.parquet", "Size": len(payload.getvalue())}]},
            {"Bucket": bucket, "Prefix": ""},
        )
        keys = {"aws_access_key_id": "AKID", "aws_secret_access_key": "sk"}
        ingested = api.post(
            "/api/ingestion/ingest/run",
            json={"source_type": "s3", "kwargs": {"bucket": bucket, **keys}},
            headers=headers,
        ).json()
        stub.add_response(
            "get_object",
            {"Body": io.BytesIO(payload.getvalue())},
            {"Bucket": bucket, "Key": "t.parquet"},
        )
        override = json.dumps({"aws_access_key_id": "AKID2", "aws_secret_access_key": "sk2"})
        job = create(
            api,
            headers,
            dataset_urn=ingested["urns"][0],
            transport="inline",
            credential_override=override,
        ).json()
        stub.assert_no_pending_responses()
    assert job["inline"]["data"] == [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
    assert built[-1]["aws_access_key_id"] == "AKID2"
    stored = api.get(f"{JOBS}/{job['job_id']}", headers=headers).text
    assert "sk2" not in stored
    nocreds = create(api, headers, dataset_urn=ingested["urns"][0], transport="inline")
    assert nocreds.status_code == 400  # a user's read needs credentials too
