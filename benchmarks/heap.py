"""The engines in a fresh process, with glibc's default heap settings and with waza's.

Why the API server calls `waza.heap.keep_freed_memory()` at start-up: with glibc's defaults a
process gives freed memory back to the kernel at once, so an engine that builds and drops the
same large temporaries on every search faults them in again on every search. This benchmark
measures that on the data of `benchmarks/vectors.py` (``--count`` ``--dim``-d vectors per engine,
prepared there or reused from its ``--home``): in each of ``--rounds`` rounds and for each
engine, two fresh processes, one per setting (the order alternating), each open the engine's
own client on the direct copy, run ``--warmup`` unmeasured searches, then ``--queries``
searches (top ``--limit`` with metadata). Each reports the search's p50/p95, the process's
minor page faults per search, and its resident memory at the end (RSS, and the peak: VmHWM).
Run from the repository root::

    python -m benchmarks.heap                                 # 100k x 384-d per engine
    python -m benchmarks.heap --home /tmp/bench-vectors       # reuse vectors.py's data
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import vectors
from benchmarks._results import save
from waza.heap import keep_freed_memory

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "heap.json"
MODES = ("default", "waza")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="vectors per engine")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100, help="measured searches per process")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured searches per process")
    parser.add_argument("--rounds", type=int, default=3, help="processes per setting and engine")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--engines", default="milvus,qdrant")
    parser.add_argument("--home", type=Path, help="vectors.py's WAZA_HOME to reuse (or fill)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "ENGINE", "ENDPOINT", "PROBES"))
    return parser.parse_args(argv)


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process (KiB)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def child(
    mode: str, engine: str, endpoint: str, probes_path: str, args: argparse.Namespace
) -> None:
    """One process, one setting: search the engine directly and print the measurements."""
    applied = keep_freed_memory() if mode == "waza" else False
    probes = np.load(probes_path).tolist()
    search, close = vectors.direct_searcher(engine, endpoint, args.limit)
    try:
        for probe in probes[: args.warmup]:
            search(probe)
        latencies, faults = [], []
        for probe in probes[args.warmup :]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            started = time.perf_counter()
            search(probe)
            latencies.append(time.perf_counter() - started)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        print(
            json.dumps(
                {"applied": applied, "latencies": latencies, "faults": faults, **memory_kib()}
            )
        )
    finally:
        close()


def measure(
    mode: str, engine: str, endpoint: str, probes_path: Path, args: argparse.Namespace
) -> dict:
    """Run `child` in a fresh interpreter and return what it measured."""
    command = [sys.executable, "-m", "benchmarks.heap", "--child", mode, engine, endpoint]
    command += [str(probes_path), "--warmup", str(args.warmup), "--limit", str(args.limit)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict[str, Any]:
    """One setting's processes together: latency percentiles, faults, memory."""
    latencies = sorted(x for run in runs for x in run["latencies"])
    faults = [f for run in runs for f in run["faults"]]
    return {
        "searches": len(latencies),
        "p50_ms": round(vectors.percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(vectors.percentile(latencies, 95) * 1000, 2),
        "faults_per_search_p50": statistics.median(faults),
        "rss_mib": round(statistics.median(run["VmRSS"] for run in runs) / 1024, 1),
        "peak_rss_mib": round(statistics.median(run["VmHWM"] for run in runs) / 1024, 1),
        "applied": sorted({run["applied"] for run in runs}),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    home = args.home or Path(tempfile.mkdtemp(prefix="waza-bench-heap-"))
    home.mkdir(parents=True, exist_ok=True)
    data_args = vectors.parse_args(["--count", str(args.count), "--dim", str(args.dim)])
    data, probes = vectors.make_data(
        args.count, args.dim, args.queries + args.warmup, data_args.seed
    )
    state = vectors._prepare(home, data_args, engines, data)
    del data
    probes_path = home / "heap-probes.npy"
    np.save(probes_path, probes)
    report: dict[str, Any] = {
        "benchmark": "heap",
        "started_at": datetime.now(UTC).isoformat(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": vectors.environment(),
        "engines": {},
    }
    for engine in engines:
        endpoint = state["engines"][engine]["direct_endpoint"]
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for n in range(args.rounds):
            print(f"{engine}: round {n + 1}/{args.rounds}", flush=True)
            for mode in MODES if n % 2 == 0 else MODES[::-1]:
                runs[mode].append(measure(mode, engine, endpoint, probes_path, args))
        result = {mode: summarize(runs[mode]) for mode in MODES}
        result["default_over_waza_p50"] = round(
            result["default"]["p50_ms"] / result["waza"]["p50_ms"], 3
        )
        report["engines"][engine] = result
    return report


def print_report(report: dict[str, Any]) -> None:
    config = report["config"]
    print(
        f"\nengines in a fresh process: {config['count']} x {config['dim']}-d, "
        f"{config['rounds']} processes x {config['queries']} searches per setting\n"
    )
    print(f"{'engine':8}{'heap':9}{'p50 ms':>8}{'p95 ms':>8}", end="")
    print(f"{'faults/search':>15}{'RSS MiB':>9}{'peak MiB':>10}")
    for engine, result in report["engines"].items():
        for mode in MODES:
            r = result[mode]
            print(
                f"{engine:8}{mode:9}{r['p50_ms']:8.2f}{r['p95_ms']:8.2f}"
                f"{r['faults_per_search_p50']:15.0f}{r['rss_mib']:9.1f}{r['peak_rss_mib']:10.1f}"
            )
        print(f"{engine}: default / waza p50 = {result['default_over_waza_p50']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(*args.child, args)
        return 0
    report = run(args)
    print_report(report)
    save(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
