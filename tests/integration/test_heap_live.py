"""The API server keeps freed memory for reuse (`waza.heap`): a milvus-lite search through a live
`waza api` does not fault its per-search temporaries in again, as a server left on glibc's
defaults does."""

from __future__ import annotations

import statistics
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ADMIN_PASSWORD, create_pat, live_platform, login
from waza.client import Client
from waza.heap import is_glibc

pytestmark = pytest.mark.skipif(not is_glibc(), reason="the settings are glibc's")

ROWS, DIM, BATCH = 30_000, 4, 10_000


def minor_faults(pid: int) -> int:
    """The process's minor page faults so far (/proc/PID/stat, field 10)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[7])


def faults_per_search(home: Path, env: dict[str, str]) -> float:
    home.mkdir()
    with live_platform(home, env) as server:
        with server.http() as http:
            token = create_pat(http, login(http, "admin", ADMIN_PASSWORD), "write")
        with Client(server.url, token) as client:
            db = client.vectors.create_db(f"heap-{uuid.uuid4().hex[:6]}", engine="milvus")
            rows = np.random.default_rng(3).random((ROWS, DIM))
            for start in range(0, ROWS, BATCH):
                client.vectors.insert(db.id, "rows", rows[start : start + BATCH].tolist())
            for query in rows[:5]:  # warm up: the engine loads, caches fill
                client.vectors.search(db.id, "rows", [query.tolist()], limit=5)
            counts = []
            for query in rows[5:25]:
                before = minor_faults(server.process.pid)
                hits = client.vectors.search(db.id, "rows", [query.tolist()], limit=5)
                counts.append(minor_faults(server.process.pid) - before)
                assert len(hits) == 5
            return statistics.median(counts)


def test_searches_reuse_freed_memory(tmp_path: Path) -> None:
    tuned = faults_per_search(tmp_path / "tuned", {})
    # the control: an explicit glibc setting wins over waza's, here glibc's own default
    default = faults_per_search(tmp_path / "default", {"MALLOC_TRIM_THRESHOLD_": "131072"})
    print(f"minor faults per search: {tuned} with waza's settings, {default} without")
    assert default > 200, default
    assert tuned < default / 10, (tuned, default)
