"""RAG in one call against a live `waza api` with the real packaged embedding model:
folder → catalog → chunks → vectors → questions, through `waza.client`, plain HTTP and the
`waza ingest` CLI; failures and cancellation leave no dataset or vector behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, bearer, create_pat, login
from tests.unit.test_ingestion_formats import make_pdf
from waza.client import Client, NotFoundError
from waza.services.ingestion.schemas import RagJob

SECRET = "The launch code of the lunar research base is azure-penguin-42."


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def admin_token(live_server: LiveServer) -> str:
    with live_server.http() as http:
        return create_pat(http, login(http, "admin", ADMIN_PASSWORD), "admin")


@pytest.fixture(scope="module")
def admin(live_server: LiveServer, admin_token: str) -> Iterator[Client]:
    with Client(live_server.url, admin_token, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def user(live_server: LiveServer, admin: Client) -> Iterator[tuple[str, Client]]:
    name = unique("rag-user")
    admin.auth.create_user(name, f"pw-{name}")
    with Client(live_server.url, username=name, password=f"pw-{name}", timeout=120) as client:
        yield name, client


def folder_in(live_server: LiveServer, *parts: str) -> Path:
    path = live_server.settings.home.joinpath(*parts, uuid.uuid4().hex[:8])
    path.mkdir(parents=True)
    return path


def knowledge(folder: Path) -> Path:
    """Five files on different topics; `long.txt` spans several chunks, the secret near its end."""
    (folder / "solar.md").write_text(
        "# Solar power\n\nPhotovoltaic panels turn sunlight into electricity. Inverters convert "
        "their direct current to alternating current for the grid.\n"
    )
    (folder / "bread.txt").write_text(
        "Sourdough bread rises thanks to a starter of wild yeast and lactic acid bacteria. "
        "Bakers feed the starter with flour and water every day.\n"
    )
    (folder / "rivers.csv").write_text(
        "river,length_km,continent\nNile,6650,Africa\nAmazon,6400,South America\n"
        "Yangtze,6300,Asia\n"
    )
    (folder / "animals.pdf").write_bytes(
        make_pdf(["The platypus is a mammal that lays eggs.", "It lives in eastern Australia."])
    )
    filler = " ".join(
        f"Paragraph {i} describes the history of medieval trade routes across the sea."
        for i in range(60)
    )
    (folder / "long.txt").write_text(f"{filler}\n\n{SECRET}\n")
    return folder


def collection_exists(client: Client, name: str, vectordb_id: uuid.UUID | None) -> bool:
    try:
        reply = client.transport.json(
            "GET", f"context/collections/{name}", params={"vectordb_id": str(vectordb_id)}
        )
    except NotFoundError:
        return False
    return bool(reply)


def datasets_under(client: Client, folder: Path) -> list[str]:
    return [d.urn for d in client.catalog.datasets(query=folder.name)]


def wait_for(client: Client, job: RagJob, predicate: Any, timeout: float = 120) -> RagJob:
    deadline = time.monotonic() + timeout
    while True:
        current = client.ingestion.rag.job(job)
        if predicate(current) or current.done:
            return current
        assert time.monotonic() < deadline, current
        time.sleep(0.2)


def test_ingest_a_folder_then_ask_it(live_server: LiveServer, admin: Client) -> None:
    folder = knowledge(folder_in(live_server, "data"))
    name = unique("kb")
    job = admin.ingestion.rag.ingest_folder(folder, name, chunk_size=96, overlap=12)
    assert job.status in {"PENDING", "RUNNING"} and job.progress.files_total == 5
    seen: list[RagJob] = []
    done = admin.ingestion.rag.wait(job, progress=seen.append, timeout=300)
    assert done.status == "COMPLETED", done.error
    p = done.progress
    assert (p.files_done, p.files_total, p.files_failed) == (5, 5, 0)
    assert p.bytes_done == p.bytes_total == sum(f.stat().st_size for f in folder.iterdir())
    assert p.chunks == p.chunks_embedded == p.vectors_inserted > 5
    assert done.created_collection and len(done.dataset_urns) == 5
    assert seen and seen[-1].status == "COMPLETED"

    animals = admin.ingestion.rag.query(name, "Which mammal lays eggs?", top_k=3)
    assert animals.results[0].filename == "animals.pdf"
    assert "platypus" in animals.results[0].text
    assert animals.model == "sentence-transformers/all-MiniLM-L6-v2"

    code = admin.ingestion.rag.query(name, "What is the launch code of the lunar base?", top_k=3)
    best = code.results[0]
    assert best.filename == "long.txt" and "azure-penguin-42" in best.text
    assert best.chunk_index is not None and best.chunk_index > 0
    source_text = (folder / "long.txt").read_text()
    assert best.offset is not None
    assert source_text[best.offset : best.offset + len(best.text)] == best.text
    assert best.source == str(folder / "long.txt")
    assert best.catalog_urn is not None
    cataloged = admin.catalog.dataset(best.catalog_urn)
    assert cataloged.properties["path"] == best.source
    assert cataloged.properties["chunk_count"] >= 2

    events = list(admin.ingestion.rag.events(done))
    assert events[-1][0] == "completed" and events[-1][1].progress == done.progress

    with httpx.Client(base_url=live_server.api, headers=admin.transport._headers()) as http:
        found = http.post(
            "/context/search", json={"query": "sourdough starter yeast", "collection_name": name}
        ).json()
        assert found["results"][0]["filename"] == "bread.txt"
        assert found["collections"] == [name]
        everywhere = http.post("/context/search", json={"query": "photovoltaic inverter"}).json()
        assert everywhere["results"][0]["filename"] == "solar.md"
        retrieved = http.post(
            "/context/retrieve",
            json={
                "query": "longest river in Africa",
                "collection_names": [name],
                "top_k": 2,
                "score_threshold": 0.2,
            },
        ).json()
        assert retrieved["sources"][0]["filename"] == "rivers.csv"
        assert all(s["score"] >= 0.2 for s in retrieved["sources"])


def test_a_failing_ingest_removes_what_it_created(live_server: LiveServer, admin: Client) -> None:
    folder = knowledge(folder_in(live_server, "data"))
    pq.write_table(pa.table({"a": [1]}), folder / "m_ok.parquet")
    (folder / "z_broken.parquet").write_bytes(b"PAR1 definitely not parquet")
    name = unique("kb_fail")
    done = admin.ingestion.rag.wait(admin.ingestion.rag.ingest_folder(folder, name), timeout=300)
    assert done.status == "FAILED"
    assert "z_broken.parquet" in (done.error or "") and "Parquet" in (done.error or "")
    assert done.progress.files_done == 6  # the others were cataloged and embedded first...
    assert not collection_exists(admin, name, done.vectordb_id)  # ...and removed again
    assert datasets_under(admin, folder) == []
    assert done.dataset_urns == [] and not done.created_collection


def test_a_failure_leaves_an_existing_collection_as_it_was(
    live_server: LiveServer, admin: Client
) -> None:
    first = folder_in(live_server, "data")
    (first / "keep.txt").write_text("Glaciers are slow rivers of ice that carve valleys.\n")
    name = unique("kb_existing")
    done = admin.ingestion.rag.wait(admin.ingestion.rag.ingest_folder(first, name), timeout=300)
    assert done.status == "COMPLETED"
    before = admin.transport.json("GET", f"context/collections/{name}")["count"]

    second = knowledge(folder_in(live_server, "data"))
    (second / "z_broken.pdf").write_bytes(b"%PDF-1.4 broken")
    failed = admin.ingestion.rag.wait(admin.ingestion.rag.ingest_folder(second, name), timeout=300)
    assert failed.status == "FAILED" and "z_broken.pdf" in (failed.error or "")
    assert admin.transport.json("GET", f"context/collections/{name}")["count"] == before
    assert datasets_under(admin, second) == []
    assert len(datasets_under(admin, first)) == 1
    assert not list((live_server.settings.home / "tmp" / "rag").glob(str(failed.id)))
    assert admin.ingestion.rag.query(name, "ice carving valleys").results[0].filename == "keep.txt"


def test_ingesting_a_folder_again_replaces_its_old_chunks(
    live_server: LiveServer, admin: Client
) -> None:
    folder = folder_in(live_server, "data")
    (folder / "tides.txt").write_text("Tides rise and fall twice a day because of the moon.\n")
    (folder / "owls.txt").write_text("Owls hunt at night and swallow their prey whole.\n")
    other = folder_in(live_server, "data")
    (other / "moss.txt").write_text("Moss grows on the shaded side of stones and trees.\n")
    name = unique("kb_again")
    rag = admin.ingestion.rag
    for path in (folder, other):
        assert rag.wait(rag.ingest_folder(path, name), timeout=300).status == "COMPLETED"
    count = admin.transport.json("GET", f"context/collections/{name}")["count"]
    assert count == 3

    (folder / "tides.txt").write_text("Tides follow the sun as well: spring tides are higher.\n")
    again = rag.wait(rag.ingest_folder(folder, name), timeout=300)
    assert again.status == "COMPLETED", again.error
    assert (again.progress.vectors_inserted, again.progress.vectors_replaced) == (2, 2)
    assert admin.transport.json("GET", f"context/collections/{name}")["count"] == count
    texts = {r.filename: r.text for r in rag.query(name, "tides", top_k=10).results}
    assert set(texts) == {"tides.txt", "owls.txt", "moss.txt"}  # one chunk each, none doubled
    assert "spring tides" in texts["tides.txt"]

    kept = rag.wait(rag.ingest_folder(folder, name, replace=False), timeout=300)
    assert (kept.status, kept.progress.vectors_replaced) == ("COMPLETED", 0)
    assert admin.transport.json("GET", f"context/collections/{name}")["count"] == count + 2


def test_skipping_unreadable_files(live_server: LiveServer, admin: Client) -> None:
    folder = folder_in(live_server, "data")
    (folder / "good.md").write_text("Tea is made by steeping cured leaves in hot water.\n")
    (folder / "bad.pdf").write_bytes(b"not a pdf")
    name = unique("kb_skip")
    job = admin.ingestion.rag.ingest_folder(folder, name, fail_fast=False)
    done = admin.ingestion.rag.wait(job, timeout=300)
    assert done.status == "COMPLETED"
    assert done.progress.files_failed == 1 and "bad.pdf" in done.errors[0]
    assert len(done.dataset_urns) == 1
    assert admin.ingestion.rag.query(name, "steeping leaves").results[0].filename == "good.md"


def test_cancel_removes_what_the_job_created(live_server: LiveServer, admin: Client) -> None:
    folder = folder_in(live_server, "data")
    for i in range(30):
        body = " ".join(f"Document {i} sentence {j} about harbour logistics." for j in range(300))
        (folder / f"doc{i:02d}.txt").write_text(body)
    name = unique("kb_cancel")
    job = admin.ingestion.rag.ingest_folder(folder, name, chunk_size=64, overlap=0)
    started = wait_for(admin, job, lambda j: j.progress.chunks_embedded > 0)
    assert started.status == "RUNNING", started
    cancelling = admin.ingestion.rag.cancel(job)
    assert cancelling.status in {"CANCELLING", "CANCELLED"} and cancelling.cancel_requested
    done = admin.ingestion.rag.wait(job, timeout=120)
    assert done.status == "CANCELLED" and done.progress.files_done < 30
    assert not collection_exists(admin, name, done.vectordb_id)
    assert datasets_under(admin, folder) == []
    with pytest.raises(Exception, match="already ended"):
        admin.ingestion.rag.cancel(job)


def test_access_and_errors(
    live_server: LiveServer, admin: Client, user: tuple[str, Client]
) -> None:
    name, ann = user
    mine = knowledge(folder_in(live_server, "users", name))
    outside = folder_in(live_server, "elsewhere")
    (outside / "x.txt").write_text("x")
    api = live_server.api
    with httpx.Client(base_url=api, timeout=60) as http:
        anon = http.post("/ingestion/rag/ingest", json={"path": str(mine), "collection": "c"})
        assert anon.status_code == 401
        assert (
            http.post("/ingestion/rag/query", json={"collection": "c", "question": "q"}).status_code
            == 401
        )
        assert http.post("/context/search", json={"query": "q"}).status_code == 401
        as_ann = ann.transport._headers()

        def post(route: str, **body: Any) -> httpx.Response:
            return http.post(route, json=body, headers=as_ann)

        denied = post("/ingestion/rag/ingest", path=str(outside), collection="c")
        assert denied.status_code == 403 and "outside the folders" in denied.json()["detail"]
        assert (
            post("/ingestion/rag/ingest", path=str(mine / "nope"), collection="c").status_code
            == 404
        )
        assert (
            post("/ingestion/rag/ingest", path=str(mine), collection="bad-name!").status_code == 422
        )
        empty = folder_in(live_server, "users", name)
        assert post("/ingestion/rag/ingest", path=str(empty), collection="c").status_code == 422
        assert (
            post("/ingestion/rag/query", collection="nothing_here", question="q").status_code == 404
        )
        # a grounded answer needs a chat deployment that exists (tests/integration/
        # test_rag_grounded.py covers the answers); it is checked before anything else
        nope = post("/ingestion/rag/query", collection="c", question="q", deployment_id="d-1")
        assert nope.status_code == 404 and "d-1" in nope.json()["detail"]
        nope = post(
            "/ingestion/rag/query", collection="c", question="q", deployment_id=str(uuid.uuid4())
        )
        assert nope.status_code == 404 and "not found" in nope.json()["detail"]
        assert http.get(f"/ingestion/rag/jobs/{uuid.uuid4()}", headers=as_ann).status_code == 404
        # a user with no vector DB yet searches nothing, without an error
        assert post("/context/search", query="anything").json()["results"] == []

        job = ann.ingestion.rag.ingest_folder(mine, unique("ann_kb"))
        other = http.get(
            f"/ingestion/rag/jobs/{job.id}", headers=bearer(admin.transport.token or "")
        )
        assert other.status_code == 200  # admins see every job
        stranger_name = unique("stranger")
        admin.auth.create_user(stranger_name, f"pw-{stranger_name}")
        with Client(live_server.url, username=stranger_name, password=f"pw-{stranger_name}") as s:
            forbidden = http.get(f"/ingestion/rag/jobs/{job.id}", headers=s.transport._headers())
            assert forbidden.status_code == 403
        done = ann.ingestion.rag.wait(job, timeout=300)
        assert done.status == "COMPLETED" and done.owner == name
        assert [j.id for j in ann.ingestion.rag.jobs()] == [job.id]


def waza(live: LiveServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(WAZA_API_URL=live.url, WAZA_API_KEY=token, COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "waza", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_ingest_command(live_server: LiveServer, admin: Client, admin_token: str) -> None:
    folder = knowledge(folder_in(live_server, "data"))
    name = unique("kb_cli")
    ok = waza(live_server, admin_token, "ingest", str(folder), "--collection", name)
    assert ok.returncode == 0, ok.stderr
    assert "ingested" in ok.stderr and "5/5 files" in ok.stderr and name in ok.stderr
    assert admin.ingestion.rag.query(name, "platypus").results[0].filename == "animals.pdf"

    (folder / "zz.parquet").write_bytes(b"broken")
    failed = waza(live_server, admin_token, "ingest", str(folder), "--collection", unique("kb"))
    assert failed.returncode == 1
    assert "failed" in failed.stderr and "zz.parquet" in failed.stderr
    missing = waza(live_server, admin_token, "ingest", str(folder / "nope"), "-c", "kb")
    assert missing.returncode == 1 and "No such file or folder" in missing.stderr


def test_an_existing_collection_of_another_dimension(
    live_server: LiveServer, admin: Client
) -> None:
    folder = folder_in(live_server, "data")
    (folder / "a.txt").write_text("Anything at all.")
    name = unique("kb_dim")
    admin.transport.json("POST", "context/collections/", json={"name": name, "dimension": 8})
    done = admin.ingestion.rag.wait(admin.ingestion.rag.ingest_folder(folder, name), timeout=300)
    assert done.status == "FAILED"
    assert "8-dimensional" in (done.error or "") and "384-dimensional" in (done.error or "")
    kept = admin.transport.json("GET", f"context/collections/{name}")
    assert (kept["dimension"], kept["count"]) == (8, 0)  # not the job's: left as it was
    assert datasets_under(admin, folder) == []
