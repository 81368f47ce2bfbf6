"""Token usage of the runtime routes, recorded per user and deployment off the request path.

Requests append a record to an in-memory buffer; a background thread writes the buffer in one
transaction every ``usage_flush_interval`` seconds (and at shutdown), so a chat request never
waits on the database.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from waza.db import Database
from waza.gateway.logging import get_logger
from waza.services.serving.models import RuntimeUsage

log = get_logger("waza.serving.usage")


@dataclass
class UsageRecord:
    user_id: uuid.UUID
    deployment_id: uuid.UUID
    endpoint: str
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    duration_ms: float
    ttft_ms: float | None = None
    status: str = "ok"

    @property
    def tokens_per_s(self) -> float | None:
        gen_ms = self.duration_ms - (self.ttft_ms or 0.0)
        if self.completion_tokens <= 0 or gen_ms <= 0:
            return None
        return self.completion_tokens / (gen_ms / 1000.0)


class UsageRecorder:
    """Buffers usage records and flushes them to `runtime_usage`."""

    def __init__(self, db: Database, interval: float) -> None:
        self.db = db
        self.interval = interval
        self._buffer: list[UsageRecord] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time: a reader waits for it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, rec: UsageRecord) -> None:
        with self._lock:
            self._buffer.append(rec)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="waza-usage", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> int:
        """Write what is buffered; returns once every earlier record is in the database."""
        with self._flush_lock:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        try:
            self.db.transaction(
                lambda s: s.add_all(
                    RuntimeUsage(
                        user_id=r.user_id,
                        deployment_id=r.deployment_id,
                        endpoint=r.endpoint,
                        stream=r.stream,
                        prompt_tokens=r.prompt_tokens,
                        completion_tokens=r.completion_tokens,
                        duration_ms=r.duration_ms,
                        ttft_ms=r.ttft_ms,
                        tokens_per_s=r.tokens_per_s,
                        status=r.status,
                    )
                    for r in batch
                )
            )
        except Exception as exc:  # usage is best effort; never break serving
            log.warning("usage flush failed", error=str(exc), records=len(batch))
            return 0
        return len(batch)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def summary(
        self, user_id: uuid.UUID | None, deployment_id: uuid.UUID | None
    ) -> list[dict[str, object]]:
        """Totals per (deployment, user); `user_id` None means every user."""
        self.flush()
        u = RuntimeUsage
        query = select(
            u.deployment_id,
            u.user_id,
            func.count(),
            func.coalesce(func.sum(u.prompt_tokens), 0),
            func.coalesce(func.sum(u.completion_tokens), 0),
            func.avg(u.ttft_ms),
            func.avg(u.tokens_per_s),
        ).group_by(u.deployment_id, u.user_id)
        if user_id is not None:
            query = query.where(u.user_id == user_id)
        if deployment_id is not None:
            query = query.where(u.deployment_id == deployment_id)
        with self.db.session() as s:
            rows = s.execute(query).all()
        return [
            {
                "deployment_id": r[0],
                "user_id": r[1],
                "requests": int(r[2]),
                "prompt_tokens": int(r[3]),
                "completion_tokens": int(r[4]),
                "avg_ttft_ms": float(r[5]) if r[5] is not None else None,
                "avg_tokens_per_s": float(r[6]) if r[6] is not None else None,
            }
            for r in rows
        ]
