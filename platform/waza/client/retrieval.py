"""`client.retrieval`: read cataloged datasets back, inline or streamed.

>>> rows = client.retrieval.rows(urn, columns=["id", "name"], filters={"id": {"$gt": 10}})
>>> job = client.retrieval.create_job(urn, transport="sse")
>>> for event, data in client.retrieval.stream(job.job_id): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from waza.client.base import Transport, drop_none
from waza.client.errors import ValidationError
from waza.client.ingestion import iter_sse
from waza.services.retrieval import schemas


class RetrievalAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create_job(
        self,
        dataset_urn: str,
        *,
        transport: str = "auto",
        columns: list[str] | None = None,
        filters: dict[str, Any] | None = None,
        limit_rows: int | None = None,
        offset: int | None = None,
        format_hint: str | None = None,
        batch_size: int | None = None,
        credential_override: str | None = None,
    ) -> schemas.RetrievalJob:
        """Start a retrieval: `inline` rows come back in `job.inline.data`; `sse` jobs stream."""
        body = drop_none(
            dataset_urn=dataset_urn,
            transport=transport,
            columns=columns,
            filters=filters,
            limit_rows=limit_rows,
            offset=offset,
            format_hint=format_hint,
            batch_size=batch_size,
            credential_override=credential_override,
        )
        return self._t.parse(schemas.RetrievalJob, "POST", "retrieval/jobs", json=body)

    def get_job(self, job_id: str) -> schemas.RetrievalJobStatus:
        return self._t.parse(schemas.RetrievalJobStatus, "GET", f"retrieval/jobs/{job_id}")

    def list_jobs(self, limit: int = 100, offset: int = 0) -> list[schemas.RetrievalJobStatus]:
        params = {"limit": limit, "offset": offset}
        return self._t.parse(
            list[schemas.RetrievalJobStatus], "GET", "retrieval/jobs", params=params
        )

    def cancel(self, job_id: str) -> schemas.CancelResult:
        return self._t.parse(schemas.CancelResult, "POST", f"retrieval/jobs/{job_id}/cancel")

    def stream(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """An sse job's events: `metadata`, `rows` (`data["rows"]`), then `complete`/`error`."""
        return iter_sse(self._t, f"retrieval/jobs/{job_id}/stream")

    def rows(self, dataset_urn: str, **options: Any) -> list[dict[str, Any]]:
        """Every selected row as a list of dicts: inline when it fits, else streamed.

        Options as `create_job` (`columns`, `filters`, `limit_rows`, ...). Raises
        `ValidationError` when the stream reports an error.
        """
        job = self.create_job(dataset_urn, transport="auto", **options)
        if job.inline is not None:
            return list(job.inline.data)
        found: list[dict[str, Any]] = []
        for event, data in self.stream(job.job_id):
            if event == "rows":
                found.extend(data["rows"])
            elif event in {"error", "cancelled"}:
                raise ValidationError(422, data.get("detail", event))
        return found
