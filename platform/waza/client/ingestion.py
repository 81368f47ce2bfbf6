"""`client.ingestion`: register files and S3 objects in the catalog; `client.ingestion.rag`:
ingest a folder into a collection and ask it questions.

>>> r = client.ingestion.run("file", path="/home/me/.waza/data/reports")
>>> r.urns
>>> job = client.ingestion.rag.ingest_folder("/home/me/.waza/data/docs", "docs")
>>> job = client.ingestion.rag.wait(job, progress=lambda j: print(j.progress.chunks))
>>> client.ingestion.rag.query("docs", "How do I rotate the key?", top_k=3).results[0].text
>>> a = client.ingestion.rag.query("docs", "How do I rotate the key?", deployment_id=chat_dep)
>>> a.answer, [(s.number, s.filename, s.offset) for s in a.sources]
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from waza.client.base import Transport, drop_none
from waza.client.errors import WazaAPIError
from waza.services.ingestion import schemas

JobRef = schemas.RagJob | uuid.UUID | str


def _job_id(job: JobRef) -> str:
    return str(job.id) if isinstance(job, schemas.RagJob) else str(job)


def iter_sse(
    transport: Transport, path: str, **kwargs: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Read a `text/event-stream` route: yields `(event, data)` with `data` parsed from JSON."""
    with transport.stream("GET", path, **kwargs) as reply:
        event, lines = "message", list[str]()
        for line in reply.iter_lines():
            if not line:
                if lines:
                    data = json.loads("\n".join(lines))
                    yield event, data if isinstance(data, dict) else {"value": data}
                event, lines = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip() or "message"
            elif line.startswith("data:"):
                lines.append(line[5:].lstrip())


class RagFailed(WazaAPIError):
    """A RAG job ended FAILED or CANCELLED; `job` holds it (`job.error` says why)."""

    def __init__(self, job: schemas.RagJob) -> None:
        super().__init__(422, f"RAG job {job.id} {job.status.lower()}: {job.error}")
        self.job = job


class RagAPI:
    """Folder → collection in one call, progress, and questions over the collection."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def ingest_folder(
        self,
        path: str | os.PathLike[str],
        collection: str,
        *,
        vectordb_id: uuid.UUID | str | None = None,
        chunk_size: int | None = None,
        overlap: int | None = None,
        batch_size: int = 64,
        recursive: bool = True,
        fail_fast: bool = True,
        model: str | None = None,
        provider_type: str | None = None,
        replace: bool = True,
    ) -> schemas.RagJob:
        """Start a background job that catalogs, chunks, embeds and inserts every file.

        `path` is a folder or file on the platform's machine (made absolute here). `model` and
        `provider_type` choose the embedding model (default the platform's; a deployed one:
        `provider_type="deployment"` and its deployment id or model name). With `replace`,
        files ingested into the collection before have their old chunks replaced.
        """
        body = schemas.RagIngestRequest(
            path=os.path.abspath(os.path.expanduser(os.fspath(path))),
            collection=collection,
            vectordb_id=uuid.UUID(str(vectordb_id)) if vectordb_id else None,
            chunk_size=chunk_size,
            overlap=overlap,
            batch_size=batch_size,
            recursive=recursive,
            fail_fast=fail_fast,
            model=model,
            provider_type=provider_type,
            replace=replace,
        )
        payload = body.model_dump(mode="json", exclude_none=True)
        return self._t.parse(schemas.RagJob, "POST", "ingestion/rag/ingest", json=payload)

    def job(self, job: JobRef) -> schemas.RagJob:
        return self._t.parse(schemas.RagJob, "GET", f"ingestion/rag/jobs/{_job_id(job)}")

    def jobs(self, status: str | None = None, limit: int = 100) -> list[schemas.RagJob]:
        params = drop_none(status=status, limit=limit)
        return self._t.parse(list[schemas.RagJob], "GET", "ingestion/rag/jobs", params=params)

    def cancel(self, job: JobRef) -> schemas.RagJob:
        """Ask the job to stop; it removes what it created and ends CANCELLED."""
        return self._t.parse(schemas.RagJob, "POST", f"ingestion/rag/jobs/{_job_id(job)}/cancel")

    def events(self, job: JobRef) -> Iterator[tuple[str, schemas.RagJob]]:
        """The job's server-sent events: `progress` on each change, then the final state."""
        for event, data in iter_sse(self._t, f"ingestion/rag/jobs/{_job_id(job)}/events"):
            if "id" in data:
                yield event, schemas.RagJob.model_validate(data)

    def wait(
        self,
        job: JobRef,
        progress: Callable[[schemas.RagJob], None] | None = None,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        raise_on_failure: bool = False,
    ) -> schemas.RagJob:
        """Poll until the job ends; `progress(job)` is called on every change.

        Returns the final job (check `status`), or raises `RagFailed` when it did not complete
        and `raise_on_failure` is set; `TimeoutError` after `timeout` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: str | None = None
        while True:
            current = self.job(job)
            stamp = current.model_dump_json(include={"status", "progress", "errors"})
            if progress is not None and stamp != seen:
                progress(current)
            seen = stamp
            if current.done:
                if raise_on_failure and current.status != "COMPLETED":
                    raise RagFailed(current)
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"RAG job {current.id} still {current.status} after {timeout}s")
            time.sleep(poll)

    def query(
        self,
        collection: str,
        question: str,
        top_k: int = 5,
        *,
        vectordb_id: uuid.UUID | str | None = None,
        score_threshold: float | None = None,
        filter: dict[str, Any] | None = None,
        model: str | None = None,
        provider_type: str | None = None,
        deployment_id: uuid.UUID | str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        max_context_chars: int | None = None,
    ) -> schemas.RagAnswer:
        """The `top_k` chunks nearest to `question`, best first, with text and source.

        `model`/`provider_type`: the embedding model the collection was built with. With
        `deployment_id` (a DEPLOYED chat deployment) the answer also holds `answer`, grounded
        in `sources` (the chunks the model was given, cited as [n]), and the call's `usage`.
        """
        body = drop_none(
            collection=collection,
            question=question,
            top_k=top_k,
            vectordb_id=str(vectordb_id) if vectordb_id else None,
            score_threshold=score_threshold,
            filter=filter,
            model=model,
            provider_type=provider_type,
            deployment_id=str(deployment_id) if deployment_id else None,
            max_tokens=max_tokens,
            temperature=temperature,
            max_context_chars=max_context_chars,
        )
        return self._t.parse(schemas.RagAnswer, "POST", "ingestion/rag/query", json=body)

    def search(
        self,
        query: str,
        collection: str | None = None,
        top_k: int = 10,
        *,
        vectordb_id: uuid.UUID | str | None = None,
        score_threshold: float | None = None,
    ) -> schemas.ContextSearchResponse:
        """`POST /context/search`: one collection, or all of the vector DB."""
        body = drop_none(
            query=query,
            collection_name=collection,
            top_k=top_k,
            vectordb_id=str(vectordb_id) if vectordb_id else None,
            score_threshold=score_threshold,
        )
        return self._t.parse(schemas.ContextSearchResponse, "POST", "context/search", json=body)


class IngestionAPI:
    """Active ingestion (`file`, `s3`), stored jobs, MCPs; `rag` for the RAG pipeline."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport
        self.rag = RagAPI(transport)

    def health(self) -> dict[str, Any]:
        return self._t.json("GET", "ingestion/health", auth=False)

    def run(self, source_type: str, **kwargs: Any) -> schemas.IngestResponse:
        """Register a source's files/objects as catalog datasets now (`urns`, `errors`)."""
        body = {"source_type": source_type, "kwargs": kwargs}
        return self._t.parse(schemas.IngestResponse, "POST", "ingestion/ingest/run", json=body)

    def run_files(self, path: str | os.PathLike[str], **kwargs: Any) -> schemas.IngestResponse:
        """`run("file", path=...)` with the path made absolute."""
        return self.run("file", path=os.path.abspath(os.path.expanduser(os.fspath(path))), **kwargs)

    def emit(self, mcp: dict[str, Any]) -> schemas.MCPEmitResponse:
        """Send a DataHub metadata change proposal."""
        body = {"mcp": mcp}
        return self._t.parse(schemas.MCPEmitResponse, "POST", "ingestion/ingest/emit", json=body)

    def schedule(
        self, job_id: str, schedule: str, source_type: str, **conn_args: Any
    ) -> schemas.OperationStatus:
        """Store a named job with a cron schedule (run it with `run_job`)."""
        body = schemas.IngestJobCreate(
            job_id=job_id, schedule=schedule, source_type=source_type, conn_args=conn_args
        ).model_dump(mode="json")
        return self._t.parse(schemas.OperationStatus, "POST", "ingestion/ingest/jobs", json=body)

    def jobs(self) -> list[schemas.IngestJobStatus]:
        return self._t.parse(list[schemas.IngestJobStatus], "GET", "ingestion/ingest/jobs")

    def job_status(self, job_id: str) -> schemas.IngestJobStatus:
        path = f"ingestion/ingest/status/{job_id}"
        return self._t.parse(schemas.IngestJobStatus, "GET", path)

    def run_job(self, job_id: str) -> schemas.IngestJobStatus:
        path = f"ingestion/ingest/jobs/{job_id}/run"
        return self._t.parse(schemas.IngestJobStatus, "POST", path)

    def delete_job(self, job_id: str) -> None:
        self._t.send("DELETE", f"ingestion/ingest/jobs/{job_id}")
