"""Vector search through the waza API next to the engine's own client, on the same data.

For each engine (milvus-lite and Qdrant local storage), in one run:

1. a ``waza api`` subprocess (temporary ``WAZA_HOME``, SQLite) creates the vector DB through
   ``POST /api/context/vectordbs``; the server then stops, releasing the engine files;
2. this process inserts ``--count`` random ``--dim``-d vectors (numpy, fixed seed, metadata
   ``{"i", "source"}``) straight into the DB's files through waza's backend, in batches of
   ``--batch``, closes it (milvus-lite finishes compacting on close; timed separately) and
   copies the files byte for byte for the direct path (each engine locks its files, so two
   processes cannot open one copy);
3. in each of ``--rounds`` rounds, per engine, a fresh ``waza api`` starts (it holds that engine
   only, as the direct side does) and this process opens the engine's client
   (``MilvusClient`` / ``QdrantClient``) on the copy, with the heap settings the server gives
   itself (``waza.heap``); after ``--warmup``
   unmeasured searches on both, the round's share of the ``--queries`` query vectors goes
   through both paths one search at a time, the first path alternating (direct, API, API,
   direct, ...), so that whatever the machine does at a moment hits both paths alike:
   - **direct**: the engine's client (top ``--limit`` with metadata);
   - **API**: ``waza.client.Client(url, token).vectors.search(...)`` — what a user calls: a
     personal access token, one kept-alive connection — to
     ``POST /api/context/vectordbs/{id}/query``.

It reports p50/p95/mean latency and QPS (sequential, one client) for both, the API/direct
ratios, the median of the per-probe differences, and whether API p50 ≤ direct p50 + 3 ms. Each
API search is also split, from the response's ``Server-Timing`` header and the client thread's
CPU time, into the engine's time in the server, the rest of the server's time, the client's CPU
time and the remainder (HTTP round trip, uvicorn). ``--home DIR`` keeps the data and reuses it
on the next run. Run from the repository root::

    python -m benchmarks.vectors                       # 100k x 384-d per engine
    python -m benchmarks.vectors --count 20000 --queries 100 --engines qdrant

Exit status: 0 on success, 1 if any API search failed, 2 if the setup failed.
"""

from __future__ import annotations

import os

# The same BLAS setting as the `waza` command gives the API server (waza/cli/__init__.py), set
# before numpy loads: without it the direct client's BLAS threads spin for ~0.1 s of CPU after
# each Qdrant search, on one of the two cores the next (API) search needs.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import argparse
import contextlib
import json
import math
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks._results import save
from waza.client import Client, WazaAPIError
from waza.heap import keep_freed_memory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_JSON = HERE / "results" / "vectors.json"
ADMIN_PASSWORD = "bench-admin-pw-1"  # noqa: S105 (a throw-away benchmark account)
SECRET_KEY = "waza-bench-kek"  # noqa: S105
COLLECTION = "bench"
GOAL_MS = 3.0
PATHS = (
    "direct",
    "api",
    "api_engine",
    "api_platform",
    "api_server",
    "api_client",
    "api_transport",
    "api_floor",
)


class SetupError(RuntimeError):
    """The benchmark could not start (a server, the token, the engine)."""


# ---- the waza API server -------------------------------------------------------------------------
@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def waza_api(home: Path, log_level: str) -> Iterator[Server]:
    """``python -m waza api`` on a free port with this home, until the block ends."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(
        WAZA_HOME=str(home),
        WAZA_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WAZA_SECRET_KEY=SECRET_KEY,
        WAZA_LOG_LEVEL=log_level,
    )
    log_path = home / f"api-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "waza", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=home,  # no stray .env from the repository
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise SetupError(f"waza api exited early:\n{server.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(server.url + "/api/ping", timeout=1, trust_env=False).is_success:
                    break
            if time.monotonic() > deadline:
                raise SetupError(f"waza api did not answer in 90 s:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def create_pat(http: httpx.Client) -> str:
    """A write-scoped PAT for the admin (searches are POSTs, which a read scope may not send)."""
    reply = http.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    if reply.status_code != 200:
        raise SetupError(f"admin login failed: {reply.status_code} {reply.text}")
    session = {"Authorization": f"Bearer {reply.json()['access_token']}"}
    reply = http.post("/api/auth/pats?scope=write&name=bench-vectors", headers=session)
    if reply.status_code != 201:
        raise SetupError(f"creating the PAT failed: {reply.status_code} {reply.text}")
    return str(reply.json()["token"])


# ---- data ----------------------------------------------------------------------------------------
def make_data(count: int, dim: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dim), dtype=np.float32)
    probes = rng.standard_normal((queries, dim), dtype=np.float32)
    return vectors, probes


def insert_direct(engine: str, endpoint: str, vectors: np.ndarray, batch: int) -> dict[str, float]:
    """Fill the collection through waza's backend (as the API would), then close it."""
    from waza.services.vectordb.backends import open_backend

    backend = open_backend(engine, endpoint)
    started = time.perf_counter()
    for start in range(0, len(vectors), batch):
        part = vectors[start : start + batch]
        meta = [{"i": start + i, "source": f"doc{(start + i) % 100}.txt"} for i in range(len(part))]
        backend.insert(COLLECTION, part, meta)
        done = start + len(part)
        print(
            f"  inserted {done}/{len(vectors)} ({time.perf_counter() - started:.0f} s)", flush=True
        )
    inserted = time.perf_counter() - started
    closing = time.perf_counter()
    backend.close()
    return {
        "insert_seconds": round(inserted, 2),
        "vectors_per_second": round(len(vectors) / inserted, 1),
        "close_seconds": round(time.perf_counter() - closing, 2),
    }


def direct_searcher(
    engine: str, endpoint: str, limit: int
) -> tuple[Callable[[list[float]], int], Callable[[], None]]:
    """A function running one search with the engine's own client, and a closer."""
    if engine == "milvus":
        from milvus_lite.server_manager import server_manager_instance
        from pymilvus import MilvusClient

        client = MilvusClient(uri=endpoint)
        client.load_collection(COLLECTION)
        metric = str(client.describe_index(COLLECTION, "vector")["metric_type"])

        def search(query: list[float]) -> int:
            hits = client.search(
                COLLECTION,
                data=[query],
                limit=limit,
                output_fields=["metadata"],
                search_params={"metric_type": metric},
            )
            return len(hits[0])

        def close() -> None:
            client.close()
            server_manager_instance.release_server(endpoint)

        return search, close

    from qdrant_client import QdrantClient

    qdrant = QdrantClient(path=endpoint)

    def query(vector: list[float]) -> int:
        return len(
            qdrant.query_points(COLLECTION, query=vector, limit=limit, with_payload=True).points
        )

    return query, qdrant.close


class LastServerTiming:
    """Keeps the last answer's ``Server-Timing`` header (a `Transport.on_reply` callback)."""

    value = ""

    def __call__(self, status: int, headers: Any) -> None:
        self.value = headers.get("server-timing", "")


def time_calls(
    call: Callable[[list[float]], Any], warm: list[list[float]], probes: list[list[float]]
) -> list[float]:
    for probe in warm:
        call(probe)
    latencies = []
    for probe in probes:
        started = time.perf_counter()
        call(probe)
        latencies.append(time.perf_counter() - started)
    return latencies


def time_alternating(
    direct: Callable[[list[float]], Any], api: Callable[[list[float]], Any], probes: list
) -> tuple[list[float], list[float]]:
    """Each probe through both paths, back to back, the first path alternating (ABBA...)."""
    direct_times, api_times = [], []
    for n, probe in enumerate(probes):
        order = ((direct, direct_times), (api, api_times))
        for call, times in order if n % 2 == 0 else reversed(order):
            started = time.perf_counter()
            call(probe)
            times.append(time.perf_counter() - started)
    return direct_times, api_times


def server_timing(value: str) -> dict[str, float]:
    """``engine;dur=41.9, app;dur=43.2`` → {"engine": 0.0419, "app": 0.0432} (seconds)."""
    out = {}
    for part in value.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name and duration:
            out[name] = float(duration) / 1000
    return out


# ---- results -------------------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def summarize(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    total = sum(latencies)
    return {
        "searches": len(latencies),
        "p50_ms": round(percentile(ordered, 50) * 1000, 3),
        "p95_ms": round(percentile(ordered, 95) * 1000, 3),
        "mean_ms": round(total / len(latencies) * 1000, 3),
        "qps": round(len(latencies) / total, 1),
    }


def compare(direct: dict[str, float], api: dict[str, float]) -> dict[str, Any]:
    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    overhead = round(api["p50_ms"] - direct["p50_ms"], 3)
    return {
        "api_over_direct_p50": ratio(api["p50_ms"], direct["p50_ms"]),
        "api_over_direct_p95": ratio(api["p95_ms"], direct["p95_ms"]),
        "api_over_direct_qps": ratio(api["qps"], direct["qps"]),
        "p50_overhead_ms": overhead,
        "goal_met": overhead <= GOAL_MS,
    }


def environment() -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            return None

    packages = ["waza", "pymilvus", "milvus-lite", "qdrant-client", "numpy", "fastapi", "uvicorn"]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
        "packages": {p: version(p) for p in packages},
    }


def print_report(report: dict[str, Any]) -> None:
    cfg = report["config"]
    print(
        f"\nwaza vector search: {cfg['count']} x {cfg['dim']}-d vectors per engine, "
        f"{cfg['queries']} sequential searches (top {cfg['limit']} with metadata), "
        f"{report['environment']['cpu_count']} CPUs\n"
    )
    head = f"{'engine':<8}{'path':<13}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'QPS':>8}"
    print(head)
    print("-" * len(head))
    for engine, result in report["engines"].items():
        for path in PATHS:
            r = result[path]
            print(
                f"{engine:<8}{path:<13}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
                f"{r['mean_ms']:>9.2f}{r['qps']:>8.1f}"
            )
    print(
        "\napi_engine: the engine's time inside the API process (Server-Timing); api_platform: "
        "each API search's latency minus its engine time, split into api_server (the rest of "
        "the server's time, Server-Timing app - engine), api_client (the client thread's CPU "
        "time: JSON, HTTP, parsing the answer) and api_transport (the remainder: HTTP round "
        "trip, uvicorn); api_floor: client.vectors.get_db on the same server and connection "
        "(auth, no engine)"
    )
    for engine, result in report["engines"].items():
        c, ins = result["comparison"], result["insert"]
        met = "met" if c["goal_met"] else "NOT met"
        print(
            f"{engine}: API/direct p50 {c['api_over_direct_p50']}, p95 {c['api_over_direct_p95']}, "
            f"QPS {c['api_over_direct_qps']}; p50 overhead {c['p50_overhead_ms']:+.2f} ms "
            f"(goal <= +{GOAL_MS:g} ms: {met})"
        )
        engine_ratio = result["api_engine"]["p50_ms"] / result["direct"]["p50_ms"]
        print(
            f"  split: platform p50 {result['api_platform']['p50_ms']:.2f} ms (server "
            f"{result['api_server']['p50_ms']:.2f}, client {result['api_client']['p50_ms']:.2f},"
            f" transport {result['api_transport']['p50_ms']:.2f}); engine in the API p50 "
            f"{result['api_engine']['p50_ms']:.2f} ms = {engine_ratio:.3f} x direct"
        )
        print(
            f"  insert {ins['insert_seconds']} s ({ins['vectors_per_second']} vectors/s), "
            f"close {ins['close_seconds']} s; opening the engine: direct "
            f"{result['direct_open_ms']} ms, in the API {result['api_open_ms']} ms; "
            f"API errors {result['api_errors']}"
        )


# ---- main ----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="vectors per engine")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200, help="measured searches per path")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured searches per phase")
    parser.add_argument(
        "--rounds", type=int, default=10, help="fresh API process + direct client pairs"
    )
    parser.add_argument("--limit", type=int, default=10, help="hits per search")
    parser.add_argument("--batch", type=int, default=10_000, help="vectors per insert call")
    parser.add_argument("--engines", default="milvus,qdrant")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-level", default="INFO", help="the waza server's log level")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary WAZA_HOME")
    parser.add_argument(
        "--home", type=Path, help="WAZA_HOME to use and keep; its data is reused when it matches"
    )
    return parser.parse_args(argv)


def _create_dbs(home: Path, args: argparse.Namespace, engines: list[str]) -> tuple[str, dict]:
    with (
        waza_api(home, args.log_level) as server,
        httpx.Client(base_url=server.url, timeout=120, trust_env=False) as http,
    ):
        token = create_pat(http)
        dbs = {}
        for engine in engines:
            reply = http.post(
                "/api/context/vectordbs",
                json={"name": f"bench-{engine}", "engine": engine},
                headers={"Authorization": f"Bearer {token}"},
            )
            if reply.status_code != 201:
                raise SetupError(f"creating the {engine} DB failed: {reply.text}")
            dbs[engine] = reply.json()
    return token, dbs


def _copy_for_direct(endpoint: str) -> str:
    """A byte copy of the engine's files for the direct path (each process locks its own)."""
    source = Path(endpoint)
    target = source.with_name("direct-" + source.name)  # milvus-lite wants the .db suffix
    shutil.rmtree(target, ignore_errors=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return str(target)


def _paired_round(
    home: Path, args: argparse.Namespace, token: str, report: dict, warm: list, probes: list
) -> None:
    """Per engine, a fresh API process and a fresh direct client; searches alternate.

    Each engine gets its own API process so that both sides hold that engine alone (an API
    process that still held the other engine's files, threads and memory would be measured
    against a direct process that does not).
    """
    last = LastServerTiming()
    for result in report["engines"].values():
        with (
            waza_api(home, args.log_level) as server,
            Client(server.url, token, timeout=120) as client,
        ):
            client.transport.on_reply = last
            db_id = result["vectordb_id"]
            errors: list[str] = result["api_error_samples"]
            # per API search: engine and app seconds (Server-Timing), client CPU, latency
            split: list[tuple[float, float, float, float]] = []

            def api_search(
                query: list[float], db_id: str = db_id, errors: list = errors, split: list = split
            ) -> int:
                cpu, started = time.thread_time(), time.perf_counter()
                try:
                    hits = len(client.vectors.search(db_id, COLLECTION, [query], limit=args.limit))
                except WazaAPIError as exc:
                    errors.append(str(exc)[:200])
                    hits = 0
                elapsed = time.perf_counter() - started
                timing = server_timing(last.value)
                engine = timing.get("engine", 0.0)
                app = timing.get("app", engine)
                split.append((engine, app, time.thread_time() - cpu, elapsed))
                return hits

            opened = time.perf_counter()
            api_search(warm[0])  # the server opens the engine on first use
            result["api_open_ms"].append(round((time.perf_counter() - opened) * 1000, 1))
            opened = time.perf_counter()
            direct, close = direct_searcher(result["engine"], result["direct_endpoint"], args.limit)
            try:
                direct(warm[0])
                result["direct_open_ms"].append(round((time.perf_counter() - opened) * 1000, 1))
                for probe in warm:
                    api_search(probe)
                    direct(probe)
                del split[:]
                direct_times, api_times = time_alternating(direct, api_search, probes)
            finally:
                close()
            result["direct_latencies"] += direct_times
            result["api_latencies"] += api_times
            pairs = zip(api_times, direct_times, strict=True)
            result["paired_differences"] += [a - d for a, d in pairs]
            result["round_p50_ms"].append(
                [round(1000 * percentile(sorted(x), 50), 2) for x in (direct_times, api_times)]
            )
            for engine, app, cpu, elapsed in split:
                result["engine_in_api_latencies"].append(engine)
                result["platform_latencies"].append(elapsed - engine)
                result["server_latencies"].append(app - engine)
                result["client_latencies"].append(cpu)
                result["transport_latencies"].append(elapsed - app - cpu)

            def get_db(_: list[float], db_id: str = db_id) -> str:
                return str(client.vectors.get_db(db_id).id)

            result["floor_latencies"] += time_calls(get_db, warm, probes)


def _prepare(home: Path, args: argparse.Namespace, engines: list[str], vectors: np.ndarray) -> dict:
    """Create the DBs, fill them and copy their files for the direct path (or reuse --home)."""
    state_path = home / "bench-state.json"
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if (
            state["count"] == args.count
            and state["dim"] == args.dim
            and set(engines) <= set(state["engines"])
        ):
            print(f"reusing the data in {home}", flush=True)
            return state
    token, dbs = _create_dbs(home, args, engines)
    state = {"count": args.count, "dim": args.dim, "token": token, "engines": {}}
    for engine in engines:
        endpoint = dbs[engine]["endpoint"]
        print(f"{engine}: inserting {args.count} vectors into {endpoint}", flush=True)
        inserted = insert_direct(engine, endpoint, vectors, args.batch)
        state["engines"][engine] = {
            "engine": engine,
            "vectordb_id": dbs[engine]["id"],
            "endpoint": endpoint,
            "direct_endpoint": _copy_for_direct(endpoint),
            "insert": inserted,
        }
    state_path.write_text(json.dumps(state, indent=2))
    return state


def run(args: argparse.Namespace) -> dict[str, Any]:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    # The direct client gets the heap settings the API server gives itself (waza/heap.py), so
    # that both run the engine alike; without them a fresh process faults the engine's
    # temporaries in again on every milvus-lite search (35.1 vs 31.6 ms: benchmarks/heap.py).
    heap_settings = keep_freed_memory()
    env = environment() | {"keep_freed_memory": heap_settings}
    vectors, probes_np = make_data(args.count, args.dim, args.queries + args.warmup, args.seed)
    warm, probes = probes_np[: args.warmup].tolist(), probes_np[args.warmup :].tolist()
    if args.home:
        home = args.home
        home.mkdir(parents=True, exist_ok=True)
    else:
        home = Path(tempfile.mkdtemp(prefix="waza-bench-vectors-"))
    report: dict[str, Any] = {
        "benchmark": "vectors",
        "started_at": datetime.now(UTC).isoformat(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": env,
        "engines": {},
    }
    try:
        state = _prepare(home, args, engines, vectors)
        for engine in engines:
            report["engines"][engine] = dict(state["engines"][engine]) | {
                key: []
                for key in (
                    "direct_open_ms",
                    "api_open_ms",
                    "direct_latencies",
                    "api_latencies",
                    "paired_differences",
                    "round_p50_ms",
                    "floor_latencies",
                    "engine_in_api_latencies",
                    "platform_latencies",
                    "server_latencies",
                    "client_latencies",
                    "transport_latencies",
                    "api_error_samples",
                )
            }
        per_round = math.ceil(len(probes) / args.rounds)
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds}", flush=True)
            part = probes[n * per_round : (n + 1) * per_round]
            _paired_round(home, args, state["token"], report, warm, part)
        for result in report["engines"].values():
            result["direct"] = summarize(result.pop("direct_latencies"))
            result["api"] = summarize(result.pop("api_latencies"))
            result["api_floor"] = summarize(result.pop("floor_latencies"))
            result["api_engine"] = summarize(result.pop("engine_in_api_latencies"))
            result["api_platform"] = summarize(result.pop("platform_latencies"))
            result["api_server"] = summarize(result.pop("server_latencies"))
            result["api_client"] = summarize(result.pop("client_latencies"))
            result["api_transport"] = summarize(result.pop("transport_latencies"))
            differences = sorted(result.pop("paired_differences"))
            result["paired_difference_p50_ms"] = round(1000 * percentile(differences, 50), 3)
            result["api_errors"] = len(result["api_error_samples"])
            result["api_error_samples"] = result["api_error_samples"][:3]
            result["comparison"] = compare(result["direct"], result["api"])
    finally:
        if args.keep or args.home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    save(report, args.json)
    return 1 if any(r["api_errors"] for r in report["engines"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
