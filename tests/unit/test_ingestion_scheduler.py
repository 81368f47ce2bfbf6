"""Scheduled ingestion jobs run when their cron schedule is due: once per fire even with
several API processes (claims), one catch-up run after downtime, a stale claim taken over, and
the scheduler thread of a running app really running a job as its owner."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, create_user, login, running_app
from waza.db.base import utcnow
from waza.errors import Unprocessable
from waza.services.ingestion.models import IngestJob
from waza.services.ingestion.scheduler import IngestScheduler, check_schedule, next_run

Headers = dict[str, str]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # no scheduler thread: these tests drive schedulers by hand, and a live one would race them
    home = tmp_path_factory.mktemp("ingest-scheduler")
    with running_app(home, ingest_schedule_interval=0) as client:
        yield client


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # a scheduler thread that looks every 0.2 s: the live test waits on it
    home = tmp_path_factory.mktemp("ingest-scheduler-live")
    with running_app(home, ingest_schedule_interval=0.2) as client:
        yield client


@pytest.fixture(scope="module")
def user(api: TestClient) -> tuple[str, Headers]:
    return _new_user(api)


@pytest.fixture(scope="module")
def live_user(live_api: TestClient) -> tuple[str, Headers]:
    return _new_user(live_api)


def _new_user(api: TestClient) -> tuple[str, Headers]:
    """A new plain user and its bearer headers (no session cookies left on the client)."""
    admin = login(api, "admin", ADMIN_PASSWORD)
    api.cookies.clear()
    name = f"s{uuid.uuid4().hex[:8]}"
    headers = create_user(api, admin, name)
    api.cookies.clear()
    return name, headers


def _service(api: TestClient) -> Any:
    return api.app.state.waza.ingestion  # type: ignore[attr-defined]


def _store(api: TestClient, who: Headers, name: str, schedule: str) -> str:
    return _store_in(api, who, name, schedule)[0]


def _store_in(api: TestClient, who: Headers, name: str, schedule: str) -> tuple[str, Path]:
    """A job ingesting a new folder of the user's (one file); its id and the folder."""
    folder = _service(api).settings.home / "users" / name / uuid.uuid4().hex[:6]
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    job_id = f"job-{uuid.uuid4().hex[:6]}"
    body = {
        "job_id": job_id,
        "schedule": schedule,
        "source_type": "file",
        "conn_args": {"path": str(folder)},
    }
    reply = api.post("/api/ingestion/ingest/jobs", json=body, headers=who)
    assert reply.status_code == 200, reply.text
    return job_id, folder


def _row(api: TestClient, job_id: str) -> IngestJob:
    with _service(api).db.session() as s:
        row = s.query(IngestJob).filter_by(job_id=job_id).one()
        s.expunge(row)
        return row


def _set(api: TestClient, job_id: str, **values: Any) -> None:
    def work(s: Any) -> None:
        row = s.query(IngestJob).filter_by(job_id=job_id).one()
        for key, value in values.items():
            setattr(row, key, value)

    _service(api).db.transaction(work)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("0  2 * * *", "0 2 * * *"), ("@Daily", "@daily"), ("*/15 * * * *", "*/15 * * * *")],
)
def test_schedules_are_normalised(given: str, stored: str) -> None:
    assert check_schedule(given) == stored


@pytest.mark.parametrize("bad", ["every day", "61 * * * *", "* * *", "@sometimes", ""])
def test_bad_schedules_are_422(bad: str) -> None:
    with pytest.raises(Unprocessable, match="not a cron expression"):
        check_schedule(bad)


def test_a_due_job_runs_once_per_fire(api: TestClient, user: tuple[str, Headers]) -> None:
    name, who = user
    job_id = _store(api, who, name, "0 3 * * *")
    stored = _row(api, job_id)
    fire = next_run("0 3 * * *", stored.created_at)
    status = api.get(f"/api/ingestion/ingest/status/{job_id}", headers=who).json()
    assert status["next_run"] == fire.isoformat() and status["status"] == "pending"

    scheduler = IngestScheduler(_service(api), interval=0)  # driven by hand here
    assert job_id not in scheduler.run_due(now=fire - timedelta(seconds=1))
    assert job_id in scheduler.run_due(now=fire + timedelta(seconds=1))
    assert job_id not in scheduler.run_due(now=fire + timedelta(seconds=2))  # next fire: tomorrow

    status = api.get(f"/api/ingestion/ingest/status/{job_id}", headers=who).json()
    assert status["status"] == "success" and len(status["created_urns"]) == 1
    urn = status["created_urns"][0]
    dataset = api.get("/api/catalog/datasets/by-urn", params={"urn": urn}, headers=who).json()
    assert dataset["created_by"] == name  # it ran as its owner
    assert status["next_run"] > fire.isoformat()


def test_two_processes_claim_a_fire_once(api: TestClient, user: tuple[str, Headers]) -> None:
    name, who = user
    job_id = _store(api, who, name, "@hourly")
    row = _row(api, job_id)
    now = row.created_at + timedelta(hours=2)
    first, second = (IngestScheduler(_service(api), interval=0) for _ in range(2))
    assert first._claim(row.id, None, now) is True
    assert second._claim(row.id, None, now) is False  # the other process saw the same row
    assert _row(api, job_id).status == "running"
    assert job_id not in second.run_due(now=now)  # claimed and running: not run again


def test_missed_fires_are_caught_up_with_one_run(
    api: TestClient, user: tuple[str, Headers]
) -> None:
    name, who = user
    job_id = _store(api, who, name, "@hourly")
    _set(api, job_id, last_run=utcnow() - timedelta(days=3), status="success")
    scheduler = IngestScheduler(_service(api), interval=0)
    assert scheduler.run_due().count(job_id) == 1
    assert job_id not in scheduler.run_due()


def test_a_stale_claim_is_taken_over(api: TestClient, user: tuple[str, Headers]) -> None:
    name, who = user
    job_id = _store(api, who, name, "@hourly")
    _set(api, job_id, last_run=utcnow() - timedelta(hours=5), status="running")
    assert job_id in IngestScheduler(_service(api), interval=0).run_due()
    assert _row(api, job_id).status == "success"


def test_the_scheduler_thread_runs_due_jobs(
    live_api: TestClient, live_user: tuple[str, Headers]
) -> None:
    api, (name, who) = live_api, live_user
    health = api.get("/api/ingestion/health", headers=who).json()
    assert health["scheduler"].startswith("running")
    job_id = _store(api, who, name, "* * * * * */2")  # every 2 s (6th field: seconds)
    deadline = time.monotonic() + 30
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = api.get(f"/api/ingestion/ingest/status/{job_id}", headers=who).json()
        if status["status"] == "success":
            break
        time.sleep(0.2)
    assert status["status"] == "success" and status["last_run"], status
    assert api.delete(f"/api/ingestion/ingest/jobs/{job_id}", headers=who).status_code == 204


def test_a_failing_job_records_why(api: TestClient, user: tuple[str, Headers]) -> None:
    name, who = user
    job_id, folder = _store_in(api, who, name, "@hourly")
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()  # the folder is gone by the time the job runs
    ran = IngestScheduler(_service(api), interval=0).run_due(now=utcnow() + timedelta(hours=2))
    assert job_id in ran
    status = api.get(f"/api/ingestion/ingest/status/{job_id}", headers=who).json()
    assert status["status"] == "failed" and status["error_count"] == 1
    assert str(folder) in status["errors"][0]
