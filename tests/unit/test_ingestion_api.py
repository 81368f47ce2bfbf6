"""Ingestion over HTTP (in-process app): `file` and `s3` sources into the catalog, stored jobs,
MCPs, and who may read which path (digest §10).

No S3 can run here: the S3 tests stub boto3's client with botocore's `Stubber` (canned replies
to `list_objects_v2`), which checks every request the service makes against boto3's API model.
"""

from __future__ import annotations

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
from sqlalchemy import create_engine, text

from tests.conftest import ADMIN_PASSWORD, login, running_app
from tests.unit.test_ingestion_formats import make_pdf
from waza.services.catalog.datahub_sync import DataHubSync
from waza.services.ingestion import s3

Headers = dict[str, str]
RUN = "/api/ingestion/ingest/run"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("ingestion-api")
    with running_app(home, s3_endpoints=["http://minio.local:9000"]) as client:
        yield client


@pytest.fixture(scope="module")
def home(api: TestClient) -> Path:
    path: Path = api.app.state.waza.settings.home  # type: ignore[attr-defined]
    return path


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
        name = f"u{uuid.uuid4().hex[:8]}"
        body = {"username": name, "password": f"pw-{name}-1", "roles": ["user"]}
        assert api.post("/api/auth/users/local", json=body, headers=admin).status_code == 201
        return name, session(api, name, f"pw-{name}-1")

    return make


def user_folder(home: Path, name: str) -> Path:
    folder = home / "users" / name / uuid.uuid4().hex[:6]
    folder.mkdir(parents=True)
    return folder


def sample_files(folder: Path) -> None:
    (folder / "notes.md").write_text("# Notes\n\nSome text.\n")
    (folder / "people.csv").write_text("id,name\n1,ann\n2,bob\n3,cid\n")
    pq.write_table(pa.table({"x": [1, 2], "y": ["a", "b"]}), folder / "table.parquet")
    (folder / "paper.pdf").write_bytes(make_pdf(["Page one", "Page two"]))
    (folder / "photo.png").write_bytes(b"\x89PNG not supported")


def run(api: TestClient, headers: Headers, source: str = "file", **kwargs: Any) -> Any:
    return api.post(RUN, json={"source_type": source, "kwargs": kwargs}, headers=headers)


def dataset(api: TestClient, headers: Headers, urn: str) -> dict[str, Any]:
    reply = api.get("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=headers)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


# ---- file sources ------------------------------------------------------------------------------
def test_health_is_public(api: TestClient) -> None:
    body = api.get("/api/ingestion/health").json()
    assert body["status"] == "healthy" and body["sources"] == ["file", "s3"]
    assert ".parquet" in body["formats"] and ".pdf" in body["formats"]


def test_a_folder_becomes_one_dataset_per_file(
    api: TestClient, home: Path, make_user: Callable[[], tuple[str, Headers]]
) -> None:
    name, ann = make_user()
    folder = user_folder(home, name)
    sample_files(folder)
    reply = run(api, ann, path=str(folder))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "success" and body["errors"] == []
    assert [Path(s).name for s in body["skipped"]] == ["photo.png"]
    urns = {Path(dataset(api, ann, u)["name"]).name: u for u in body["urns"]}
    assert set(urns) == {"notes.md", "people.csv", "table.parquet", "paper.pdf"}

    csv = dataset(api, ann, urns["people.csv"])
    assert csv["platform"] == "file"
    assert csv["properties"]["path"] == csv["properties"]["location"] == str(folder / "people.csv")
    assert csv["properties"]["format"] == "csv" and csv["properties"]["row_count"] == 3
    assert csv["properties"]["size_bytes"] == (folder / "people.csv").stat().st_size
    assert [f["name"] for f in csv["dataset_schema"]["fields"]] == ["id", "name"]
    parquet = dataset(api, ann, urns["table.parquet"])
    assert parquet["dataset_schema"]["fields"] == [
        {"name": "x", "type": "int64", "description": None},
        {"name": "y", "type": "string", "description": None},
    ]
    assert dataset(api, ann, urns["paper.pdf"])["properties"]["page_count"] == 2
    assert dataset(api, ann, urns["notes.md"])["dataset_schema"] is None

    again = run(api, ann, path=str(folder)).json()  # refreshes, never 409
    assert again["status"] == "success" and sorted(again["urns"]) == sorted(body["urns"])

    single = run(api, ann, path=str(folder / "photo.png")).json()  # named: any format
    assert dataset(api, ann, single["urns"][0])["properties"]["format"] == "binary"


def test_fail_fast_undoes_the_run(
    api: TestClient, home: Path, make_user: Callable[[], tuple[str, Headers]]
) -> None:
    name, ann = make_user()
    folder = user_folder(home, name)
    (folder / "a_good.csv").write_text("a\n1\n")
    (folder / "b_bad.parquet").write_bytes(b"PAR1 garbage")
    stopped = run(api, ann, path=str(folder), fail_fast=True)
    assert stopped.status_code == 422
    assert "b_bad.parquet" in stopped.json()["detail"]
    listed = api.get("/api/catalog/datasets/", params={"query": "a_good"}, headers=ann).json()
    assert listed == []

    partial = run(api, ann, path=str(folder)).json()
    assert partial["status"] == "partial" and len(partial["urns"]) == 1
    assert "b_bad.parquet" in partial["errors"][0] and "Parquet" in partial["errors"][0]


def test_another_users_dataset_is_reported_not_taken_over(
    api: TestClient, home: Path, admin: Headers, make_user: Callable[[], tuple[str, Headers]]
) -> None:
    shared = home / "data" / uuid.uuid4().hex[:6]
    shared.mkdir(parents=True)
    (shared / "t.txt").write_text("hello")
    assert run(api, admin, path=str(shared)).json()["status"] == "success"
    _, ann = make_user()
    body = run(api, ann, path=str(shared)).json()
    assert body["status"] == "failed" and body["urns"] == []
    assert "Not allowed" in body["errors"][0]


def test_who_may_read_which_path(
    api: TestClient, home: Path, admin: Headers, make_user: Callable[[], tuple[str, Headers]]
) -> None:
    name, ann = make_user()
    other, _ = make_user()
    theirs = user_folder(home, other)
    outside = home.parent / f"outside-{uuid.uuid4().hex[:6]}"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    (home / "users" / name).mkdir(parents=True, exist_ok=True)
    (home / "users" / name / "link").symlink_to(outside)

    for path in (str(outside), str(theirs), str(home / "users" / name / "link" / "x.txt")):
        reply = run(api, ann, path=path)
        assert reply.status_code == 403, (path, reply.text)
        assert "outside the folders you may ingest from" in reply.json()["detail"]
    assert run(api, ann, path=str(home / "users" / name / "missing")).status_code == 404
    assert run(api, ann, path="relative/path").status_code == 400
    assert run(api, ann).status_code == 400  # no path at all
    assert run(api, admin, path=str(outside)).json()["status"] == "success"
    api.cookies.clear()
    assert api.post(RUN, json={"source_type": "file", "kwargs": {"path": "/"}}).status_code == 401


def test_unsupported_sources_are_422(api: TestClient, admin: Headers) -> None:
    reply = run(api, admin, "postgres", host="db")
    assert reply.status_code == 422 and "file, s3" in reply.json()["detail"]


# ---- s3 (stubbed) --------------------------------------------------------------------------------
@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, list[dict[str, Any]]]]:
    """boto3's real S3 client with canned replies; records the arguments it was built with."""
    real = boto3.session.Session().client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    built: list[dict[str, Any]] = []

    def factory(**kwargs: Any) -> Any:
        built.append(kwargs)
        return real

    monkeypatch.setattr(s3, "client_factory", factory)
    with Stubber(real) as stub:
        yield stub, built
        stub.assert_no_pending_responses()


LISTING = {
    "Contents": [
        {"Key": "raw/", "Size": 0},
        {"Key": "raw/a.parquet", "Size": 120, "ETag": '"abc"'},
        {"Key": "raw/sub/b.csv", "Size": 30},
    ],
    "KeyCount": 3,
    "IsTruncated": False,
}


def test_s3_objects_become_datasets(
    api: TestClient,
    fake_s3: tuple[Stubber, list[dict[str, Any]]],
    make_user: Callable[[], tuple[str, Headers]],
) -> None:
    stub, built = fake_s3
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    stub.add_response("list_objects_v2", LISTING, {"Bucket": bucket, "Prefix": "raw/"})
    _, ann = make_user()
    keys = {"aws_access_key_id": "AKIDTEST", "aws_secret_access_key": "very-secret-key"}
    reply = run(
        api,
        ann,
        "s3",
        bucket=bucket,
        prefix="raw/",
        recursive=True,
        endpoint_url="http://minio.local:9000",
        region="eu-west-1",
        **keys,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "success" and len(body["urns"]) == 2
    assert built[0] == {
        **keys,
        "endpoint_url": "http://minio.local:9000",
        "region_name": "eu-west-1",
    }
    first = dataset(api, ann, body["urns"][0])
    assert first["platform"] == "s3" and first["name"] == f"{bucket}/raw/a.parquet"
    props = first["properties"]
    assert props["path"] == f"s3://{bucket}/raw/a.parquet" and props["format"] == "parquet"
    assert (props["bucket"], props["key"], props["etag"]) == (bucket, "raw/a.parquet", "abc")
    assert "very-secret-key" not in json.dumps(first)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254",  # cloud metadata
        "http://127.0.0.1:7777",  # the platform itself
        "http://minio.local:9001",  # an allowed host on another port
        "https://minio.local:9000",  # ... or another scheme
    ],
)
def test_s3_endpoints_a_user_may_not_name_are_refused(
    api: TestClient,
    admin: Headers,
    make_user: Callable[[], tuple[str, Headers]],
    fake_s3: tuple[Stubber, list[dict[str, Any]]],
    endpoint: str,
) -> None:
    """SSRF: the server would make the request, so non-admins may only name allowed endpoints."""
    _, ann = make_user()
    keys = {"aws_access_key_id": "AKIDTEST", "aws_secret_access_key": "k"}
    reply = run(api, ann, "s3", bucket="b", endpoint_url=endpoint, **keys)
    assert reply.status_code == 403 and "WAZA_S3_ENDPOINTS" in reply.json()["detail"]
    assert run(api, ann, "s3", bucket="b", endpoint_url="file:///etc", **keys).status_code == 400
    stub, built = fake_s3
    stub.add_response("list_objects_v2", {"Contents": []}, {"Bucket": "b", "Prefix": ""})
    assert run(api, admin, "s3", bucket="b", endpoint_url=endpoint).status_code == 200
    assert [b.get("endpoint_url") for b in built] == [endpoint]  # only the admin's call went out


def test_s3_credentials_from_a_catalog_secret(
    api: TestClient,
    fake_s3: tuple[Stubber, list[dict[str, Any]]],
    make_user: Callable[[], tuple[str, Headers]],
) -> None:
    stub, built = fake_s3
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    params = {"Bucket": bucket, "Prefix": "", "Delimiter": "/"}
    stub.add_response("list_objects_v2", {"Contents": [{"Key": "top.csv", "Size": 3}]}, params)
    _, ann = make_user()
    secret = {"name": f"s3-{uuid.uuid4().hex[:6]}", "value": "AKIDSECRET:the-secret-key"}
    urn = api.post("/api/catalog/secrets/", json=secret, headers=ann).json()
    body = run(api, ann, "s3", bucket=bucket, recursive=False, credentials_secret_urn=urn).json()
    assert body["status"] == "success"
    assert built[0]["aws_access_key_id"] == "AKIDSECRET"
    assert dataset(api, ann, body["urns"][0])["properties"]["credentials_secret_urn"] == urn


def test_s3_failures(
    api: TestClient,
    fake_s3: tuple[Stubber, list[dict[str, Any]]],
    admin: Headers,
    make_user: Callable[[], tuple[str, Headers]],
) -> None:
    stub, _ = fake_s3
    _, ann = make_user()
    nokeys = run(api, ann, "s3", bucket="any")  # users bring credentials
    assert nokeys.status_code == 400 and "credentials" in nokeys.json()["detail"]
    stub.add_client_error("list_objects_v2", "NoSuchBucket", "The bucket does not exist")
    assert run(api, admin, "s3", bucket="nope", anonymous=True).status_code == 404
    stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
    denied = run(api, admin, "s3", bucket="locked", anonymous=True)
    assert denied.status_code == 403 and "Access Denied" in denied.json()["detail"]
    assert run(api, admin, "s3").status_code == 400  # no bucket


# ---- stored jobs ---------------------------------------------------------------------------------
def test_scheduled_jobs(
    api: TestClient, home: Path, admin: Headers, make_user: Callable[[], tuple[str, Headers]]
) -> None:
    name, ann = make_user()
    folder = user_folder(home, name)
    (folder / "a.txt").write_text("a")
    job_id = f"nightly-{uuid.uuid4().hex[:6]}"
    body = {
        "job_id": job_id,
        "schedule": "0 2 * * *",
        "source_type": "file",
        "conn_args": {"path": str(folder), "token": "s3cr3t-conn-arg"},
    }
    stored = api.post("/api/ingestion/ingest/jobs", json=body, headers=ann)
    assert stored.status_code == 200, stored.text
    assert stored.json()["status"] == "scheduled" and "runs as you" in stored.json()["message"]
    status = api.get(f"/api/ingestion/ingest/status/{job_id}", headers=ann).json()
    assert (status["status"], status["last_run"], status["created_urns"]) == ("pending", None, [])

    ran = api.post(f"/api/ingestion/ingest/jobs/{job_id}/run", headers=ann).json()
    assert ran["status"] == "success" and len(ran["created_urns"]) == 1 and ran["last_run"]
    assert api.get(f"/api/ingestion/ingest/status/{job_id}", headers=ann).json() == ran
    assert job_id in [
        j["job_id"] for j in api.get("/api/ingestion/ingest/jobs", headers=ann).json()
    ]

    _, bob = make_user()
    assert api.get(f"/api/ingestion/ingest/status/{job_id}", headers=bob).status_code == 403
    taken = api.post("/api/ingestion/ingest/jobs", json=body, headers=bob)
    assert taken.status_code in (403, 409)  # bob cannot read ann's folder, nor take her id
    assert api.get(f"/api/ingestion/ingest/status/{job_id}", headers=admin).status_code == 200

    # an admin running ann's job runs it as ann: what it registers is hers
    (folder / "b.txt").write_text("b")
    by_admin = api.post(f"/api/ingestion/ingest/jobs/{job_id}/run", headers=admin).json()
    assert by_admin["status"] == "success" and len(by_admin["created_urns"]) == 2
    for urn in by_admin["created_urns"]:
        assert dataset(api, ann, urn)["created_by"] == name

    # the connection arguments are stored encrypted
    engine = create_engine(api.app.state.waza.db.url)  # type: ignore[attr-defined]
    with engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM ingest_jobs")))
    engine.dispose()
    assert job_id in dump and "s3cr3t-conn-arg" not in dump

    assert api.delete(f"/api/ingestion/ingest/jobs/{job_id}", headers=ann).status_code == 204
    assert api.get(f"/api/ingestion/ingest/status/{job_id}", headers=ann).status_code == 404


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"schedule": "every day"}, 422),
        ({"schedule": "61 * * *"}, 422),
        ({"source_type": "kafka"}, 422),
        ({"conn_args": {"path": "/definitely/not/here"}}, 404),
    ],
)
def test_bad_scheduled_jobs(
    api: TestClient, admin: Headers, tmp_path: Path, change: dict[str, Any], status: int
) -> None:
    body = {
        "job_id": f"j-{uuid.uuid4().hex[:6]}",
        "schedule": "@daily",
        "source_type": "file",
        "conn_args": {"path": str(tmp_path)},
        **change,
    }
    assert api.post("/api/ingestion/ingest/jobs", json=body, headers=admin).status_code == status


# ---- MCPs --------------------------------------------------------------------------------------
def _mcp(urn: str, **fields: Any) -> dict[str, Any]:
    return {
        "entityUrn": urn,
        "aspectName": "datasetProperties",
        "aspect": {"description": "from an MCP", "customProperties": {"team": "data"}},
        **fields,
    }


class _Collecting:
    """A DataHub emitter that keeps what it is given (no GMS can run here)."""

    def __init__(self) -> None:
        self.emitted: list[Any] = []

    def emit(self, item: Any, callback: Any = None) -> None:
        self.emitted.append(item)

    def flush(self) -> None:
        pass


def test_emit_mcp(
    api: TestClient, admin: Headers, make_user: Callable[[], tuple[str, Headers]]
) -> None:
    urn = f"urn:li:dataset:(urn:li:dataPlatform:hive,db.t_{uuid.uuid4().hex[:6]},PROD)"
    reply = api.post("/api/ingestion/ingest/emit", json={"mcp": _mcp(urn)}, headers=admin)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "accepted" and body["forwarded"] is False
    assert (body["entity_type"], body["change_type"]) == ("dataset", "UPSERT")

    ctx = api.app.state.waza  # type: ignore[attr-defined]
    emitter = _Collecting()
    ctx.catalog.sync = DataHubSync(lambda: emitter)
    try:
        serialised = _mcp(
            urn, aspect={"value": '{"description": "d"}', "contentType": "application/json"}
        )
        forwarded = api.post("/api/ingestion/ingest/emit", json={"mcp": serialised}, headers=admin)
        assert forwarded.json()["forwarded"] is True
        ctx.catalog.sync.flush()
    finally:
        ctx.catalog.sync.close()
        ctx.catalog.sync = None
    assert [m.entityUrn for m in emitter.emitted] == [urn]
    assert emitter.emitted[0].aspect.description == "d"

    # a dataset of the local catalog: only its owner (or an admin) may describe it
    _, ann = make_user()
    owned = api.post(
        "/api/catalog/datasets/", json={"name": uuid.uuid4().hex, "platform": "file"}, headers=admin
    ).json()
    assert (
        api.post("/api/ingestion/ingest/emit", json={"mcp": _mcp(owned)}, headers=ann).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("mcp", "status"),
    [
        ({"aspectName": "status", "aspect": {"removed": False}}, 400),  # no URN
        ({"entityUrn": "not-a-urn", "aspectName": "status", "aspect": {}}, 400),
        ({"entityUrn": "urn:li:dataset:x", "aspect": {"removed": False}}, 400),  # no aspect name
        ({"entityUrn": "urn:li:dataset:x", "aspectName": "status"}, 400),  # no aspect
        (
            {
                "entityUrn": "urn:li:dataset:x",
                "aspectName": "status",
                "changeType": "MERGE",
                "aspect": {},
            },
            400,
        ),
        (
            {
                "entityUrn": "urn:li:dataset:x",
                "aspectName": "datasetProperties",
                "aspect": {"name": 5},
            },
            422,
        ),
    ],
)
def test_bad_mcps(api: TestClient, admin: Headers, mcp: dict[str, Any], status: int) -> None:
    assert (
        api.post("/api/ingestion/ingest/emit", json={"mcp": mcp}, headers=admin).status_code
        == status
    )
