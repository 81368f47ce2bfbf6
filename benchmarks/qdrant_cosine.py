"""Local Qdrant cosine search: a Cosine collection against waza's Dot collection of unit vectors.

Why waza stores local cosine collections as Dot over unit vectors (`backends/qdrant.py`):
qdrant-client's local mode normalises vectors on insert, and then divides every stored vector
by its norm again on each cosine search. This benchmark measures that choice in one process, on
the same data, searching with qdrant-client itself:

- ``cosine``: a Cosine collection of the raw vectors, searched with the raw query (what a
  plain qdrant-client user does);
- ``unit_dot``: a Dot collection of the same vectors scaled to unit length
  (`waza.services.vectordb.backends.qdrant.unit_rows`), searched with the unit-length query
  (what waza does).

``--count`` random ``--dim``-d vectors (fixed seed) go into both collections of a local
Qdrant folder through waza's backend; a plain ``QdrantClient(path=...)`` then reopens it (as
an API process finds its DBs after a restart) and the ``--queries`` probes alternate between
the two collections (first path alternating), top ``--limit`` with payload. It reports
p50/p95 per path, the ratio, and in how many probes both return the same top ids in the same
order (all of them: the scores are the same cosine similarities; exit status 1 otherwise). ::

    python -m benchmarks.qdrant_cosine                    # 100k x 384-d, 200 probes
    python -m benchmarks.qdrant_cosine --count 20000 --queries 50
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # as `waza` sets it (benchmarks/vectors.py)

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._results import save
from waza.services.vectordb.backends.qdrant import unit_rows

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "qdrant_cosine.json"


def build(folder: Path, count: int, dim: int, seed: int) -> None:
    """Both collections over the same vectors in a local Qdrant folder, written through waza's
    backend (its tuned SQLite files; the ``cosine`` collection is made as another client
    would, so the backend keeps it Cosine)."""
    from qdrant_client import models

    from waza.services.vectordb.backends.qdrant import QdrantBackend

    vectors = np.random.default_rng(seed).standard_normal((count, dim), dtype=np.float32)
    metadata = [{"i": i} for i in range(count)]
    backend = QdrantBackend(str(folder))
    try:
        backend.client.create_collection(
            backend.physical("cosine"),
            models.VectorParams(size=dim, distance=models.Distance.COSINE),
        )
        backend.insert("cosine", vectors, metadata)
        backend.insert("unit_dot", vectors, metadata, metric="COSINE")
        assert backend.describe_collection("unit_dot").metric == "COSINE"  # type: ignore[union-attr]
    finally:
        backend.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    folder = Path(tempfile.mkdtemp(prefix="waza-bench-qdrant-"))
    try:
        with warnings.catch_warnings():  # local mode warns above 20k points: that is the point
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            build(folder, args.count, args.dim, args.seed)
            built = time.perf_counter() - started
            client = QdrantClient(path=str(folder))  # reopened, as an API process finds them
        try:
            times, same = search_both(client, args)
        finally:
            client.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def stats(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        }

    result = {name: stats(values) for name, values in times.items()}
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "count": args.count,
        "dim": args.dim,
        "queries": args.queries,
        "build_seconds": round(built, 1),
        **result,
        "speedup_p50": round(result["cosine"]["p50_ms"] / result["unit_dot"]["p50_ms"], 2),
        "same_top_ids": f"{same}/{args.queries}",
    }


def search_both(client: Any, args: argparse.Namespace) -> tuple[dict[str, list[float]], int]:
    """Each probe through both collections (first path alternating): seconds per path, and
    how many probes got the same top ids in the same order from both."""
    probes = np.random.default_rng(args.seed + 1).standard_normal(
        (args.queries, args.dim), dtype=np.float32
    )
    times: dict[str, list[float]] = {"cosine": [], "unit_dot": []}
    same = 0
    for i, probe in enumerate(probes):
        order = ("cosine", "unit_dot") if i % 2 == 0 else ("unit_dot", "cosine")
        found: dict[str, list[int]] = {}
        for name in order:
            query = probe if name == "cosine" else unit_rows(probe[None, :])[0]
            t = time.perf_counter()
            points = client.query_points(
                name, query=query.tolist(), limit=args.limit, with_payload=True
            ).points
            times[name].append(time.perf_counter() - t)
            found[name] = [p.payload["i"] for p in points]
        same += found["cosine"] == found["unit_dot"]
    return times, same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    report = run(args)
    print(
        f"local Qdrant, {args.count} x {args.dim}-d, {args.queries} probes (top {args.limit}):\n"
        f"  Cosine collection         p50 {report['cosine']['p50_ms']:8.2f} ms"
        f"  p95 {report['cosine']['p95_ms']:8.2f} ms\n"
        f"  Dot of unit vectors (waza) p50 {report['unit_dot']['p50_ms']:7.2f} ms"
        f"  p95 {report['unit_dot']['p95_ms']:8.2f} ms\n"
        f"  {report['speedup_p50']}x faster at p50; same top ids in {report['same_top_ids']}"
    )
    save(report, args.json)
    return 0 if report["same_top_ids"] == f"{args.queries}/{args.queries}" else 1


if __name__ == "__main__":
    sys.exit(main())
