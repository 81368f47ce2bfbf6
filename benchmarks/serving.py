"""Serving overhead: the same tiny model called in-process, through a Ray Serve handle, and
through waza's OpenAI-compatible runtime route, in one run.

1. builds the tiny random-weights chat model (``waza.services.models.tiny``) in a temp folder;
2. **in-process**: loads it with the ``transformers`` engine in this process and streams answers;
3. starts a local Ray head (``ray start --head``, ``--cpus`` logical CPUs) and a ``waza api``
   on it (temporary ``WAZA_HOME``, SQLite); imports the model, deploys it through
   ``POST /api/serving/deploy_model`` and times the deploy (request → DEPLOYED);
4. **handle**: this process joins the Ray cluster and calls the deployment's Serve handle
   (``chat_stream`` / ``chat``, the methods the gateway calls);
5. **runtime**: the same requests as HTTP to ``/runtime/models/{id}/v1/chat/completions`` with a
   personal access token (keep-alive ``httpx.AsyncClient``), streamed over SSE or not.

Measured: streamed tokens/s (``--tokens`` per answer, ``--streams`` answers, one at a time) for
the three paths, and p50 latency of short non-streamed requests (``--short-tokens``) at
concurrency 1 and 16 for handle and runtime; the paths alternate each round. Goals (issue 3):
runtime ≥ 0.95 x handle throughput, ≤ 5 ms added p50 at concurrency 1, deploy ≤ 30 s.

    python -m benchmarks.serving              # full run
    python -m benchmarks.serving --quick      # smoke run

Results: ``benchmarks/results/serving.json``. Exit 0 on success, 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks._results import save

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ADMIN_PASSWORD = "bench-admin-password"  # noqa: S105 (a throw-away local server)
PROMPT = [{"role": "user", "content": "Tell me a long story about the sea."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- processes -----------------------------------------------------------------------------------
@contextlib.contextmanager
def ray_head(tmp: Path, cpus: int) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "WAZA_"))}
    env["RAY_AUTH_MODE"] = "disabled"  # loopback only; drivers below use the same
    cmd = [
        str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
        "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={cpus}", "--num-gpus=0",
        "--include-dashboard=false", "--disable-usage-stats",
        f"--temp-dir=/tmp/waza-bench-ray-{port}",
    ]  # fmt: skip
    with (tmp / "ray.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def waza_api(tmp: Path, ray_address: str) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "WAZA_"))}
    env.update(
        RAY_AUTH_MODE="disabled",
        WAZA_HOME=str(tmp / "home"), WAZA_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WAZA_RAY_ADDRESS=ray_address, WAZA_LOG_LEVEL="WARNING",
    )  # fmt: skip
    with (tmp / "api.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "waza", "api", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/api/ping", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("waza api did not start: " + (tmp / "api.log").read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        proc.kill()


# --- the three paths -----------------------------------------------------------------------------
def body(tokens: int, stream: bool) -> dict[str, Any]:
    return {"model": "x", "messages": PROMPT, "max_tokens": tokens, "temperature": 0,
            "stream": stream}  # fmt: skip


async def stream_in_process(engine: Any, tokens: int) -> int:
    from waza.services.serving.engines.base import SamplingParams

    count = 0
    async for delta in engine.chat_stream(PROMPT, SamplingParams(max_tokens=tokens, temperature=0)):
        if delta.text:
            count += 1
        if delta.completion_tokens is not None:
            count = delta.completion_tokens
    return count


async def stream_handle(handle: Any, tokens: int) -> int:
    count = 0
    async for item in handle.options(stream=True).chat_stream.remote(body(tokens, True)):
        if not isinstance(item, str):
            count = int(item["usage"]["completion_tokens"])
    return count


async def stream_runtime(http: httpx.AsyncClient, url: str, tokens: int) -> int:
    payload = {**body(tokens, True), "stream_options": {"include_usage": True}}
    count = 0
    async with http.stream("POST", url, json=payload) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if line.startswith("data: {") and '"usage"' in line:
                usage = json.loads(line[6:]).get("usage")
                if usage:
                    count = int(usage["completion_tokens"])
    return count


async def tokens_per_s(run: Callable[[], Awaitable[int]], streams: int) -> float:
    total_tokens, total_time = 0, 0.0
    for _ in range(streams):
        start = time.perf_counter()
        total_tokens += await run()
        total_time += time.perf_counter() - start
    return total_tokens / total_time


async def latencies(
    call: Callable[[], Awaitable[Any]], requests: int, concurrency: int
) -> list[float]:
    out: list[float] = []
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            queue.pop()
            start = time.perf_counter()
            await call()
            out.append((time.perf_counter() - start) * 1000.0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


# --- main ----------------------------------------------------------------------------------------
def deploy_tiny(url: str, model_dir: Path) -> tuple[str, str, float, str]:
    with httpx.Client(base_url=url, timeout=60) as api:
        token = api.post(
            "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        pat = api.post("/api/auth/pats?name=bench&scope=read", headers=auth).json()["token"]
        model = api.post(
            "/api/models/import",
            json={
                "path": str(model_dir),
                "name": "tiny-bench",
                "config": {"engine": "transformers"},
            },
            headers=auth,
        ).json()
        start = time.monotonic()
        dep_id = api.post(
            "/api/serving/deploy_model", json={"m_id": model["id"]}, headers=auth
        ).json()
        while True:
            dep = api.get(f"/api/serving/deployment/{dep_id}", headers=auth).json()
            if dep["status"] in {"DEPLOYED", "FAILED", "ERROR"}:
                break
            time.sleep(0.2)
        took = time.monotonic() - start
        if dep["status"] != "DEPLOYED":
            raise RuntimeError(f"deploy failed: {dep}")
        apps = api.get("/api/serving/status", headers=auth).json()["applications"]
        app = next(a for a in apps if dep_id.replace("-", "") in a)
        return dep_id, pat, took, app


async def measure(
    args: argparse.Namespace, engine: Any, handle: Any, url: str, pat: str
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {pat}"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as http:
        tps: dict[str, list[float]] = {"in_process": [], "handle": [], "runtime": []}
        lat: dict[str, list[float]] = {
            f"{p}_c{c}": [] for p in ("handle", "runtime") for c in (1, 16)
        }
        short = body(args.short_tokens, False)

        async def handle_call() -> Any:
            return await handle.chat.remote(short)

        async def runtime_call() -> Any:
            r = await http.post(url, json=short)
            r.raise_for_status()
            return r

        # warm-up: every path once
        await stream_in_process(engine, 8)
        await stream_handle(handle, 8)
        await stream_runtime(http, url, 8)
        await latencies(handle_call, 20, 4)
        await latencies(runtime_call, 20, 4)
        for rnd in range(args.rounds):
            paths = ["in_process", "handle", "runtime"]
            if rnd % 2:
                paths.reverse()
            for path in paths:
                run: Callable[[], Awaitable[int]] = {
                    "in_process": lambda: stream_in_process(engine, args.tokens),
                    "handle": lambda: stream_handle(handle, args.tokens),
                    "runtime": lambda: stream_runtime(http, url, args.tokens),
                }[path]
                tps[path].append(await tokens_per_s(run, args.streams))
            for conc in (1, 16):
                order = [("handle", handle_call), ("runtime", runtime_call)]
                if rnd % 2:
                    order.reverse()
                for name, call in order:
                    lat[f"{name}_c{conc}"] += await latencies(call, args.requests, conc)
    result: dict[str, Any] = {
        "tokens_per_s": {k: statistics.mean(v) for k, v in tps.items()},
        "p50_ms": {k: p50(v) for k, v in lat.items()},
    }
    t, p = result["tokens_per_s"], result["p50_ms"]
    result["ratios"] = {
        "runtime_vs_handle_throughput": t["runtime"] / t["handle"],
        "handle_vs_in_process_throughput": t["handle"] / t["in_process"],
        "runtime_vs_in_process_throughput": t["runtime"] / t["in_process"],
    }
    result["added_p50_ms"] = {
        "c1": p["runtime_c1"] - p["handle_c1"],
        "c16": p["runtime_c16"] - p["handle_c16"],
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256, help="tokens per streamed answer")
    parser.add_argument("--streams", type=int, default=4, help="streamed answers per round")
    parser.add_argument("--short-tokens", type=int, default=2, help="tokens of a short request")
    parser.add_argument("--requests", type=int, default=80, help="short requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=4, help="logical CPUs of the Ray head")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--json", type=Path, default=RESULTS / "serving.json")
    args = parser.parse_args()
    if args.quick:
        args.streams, args.requests, args.rounds = 2, 16, 1

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    from waza.services.models.tiny import build_tiny_chat_model
    from waza.services.serving.engines import get_engine
    from waza.services.serving.engines.base import EngineSpec

    with tempfile.TemporaryDirectory(prefix="waza-bench-serving-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir = build_tiny_chat_model(tmp / "tiny")
        spec = EngineSpec(engine="transformers", model_path=str(model_dir), model_name="tiny-bench")
        engine = get_engine("transformers")(spec)
        try:
            with ray_head(tmp, args.cpus) as address, waza_api(tmp, address) as url:
                dep_id, pat, deploy_s, app = deploy_tiny(url, model_dir)
                import ray
                from ray import serve

                ray.init(
                    address=address,
                    namespace="waza",
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
                handle = serve.get_app_handle(app)
                runtime = f"{url}/runtime/models/{dep_id}/v1/chat/completions"
                result = asyncio.run(measure(args, engine, handle, runtime, pat))
                ray.shutdown()
        except Exception as exc:
            print(f"setup failed: {exc!r}", file=sys.stderr)
            return 2
    result["deploy_seconds"] = deploy_s
    result["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    result["at"] = datetime.now(UTC).isoformat()
    t, p, r, a = result["tokens_per_s"], result["p50_ms"], result["ratios"], result["added_p50_ms"]
    print(f"deploy (request → DEPLOYED, Ray already up): {deploy_s:.1f} s  (goal ≤ 30 s)")
    print(
        f"streamed tokens/s:  in-process {t['in_process']:.0f}   handle {t['handle']:.0f}   "
        f"runtime {t['runtime']:.0f}"
    )
    print(f"  runtime / handle: {r['runtime_vs_handle_throughput']:.2f}  (goal ≥ 0.95)   "
          f"handle / in-process: {r['handle_vs_in_process_throughput']:.2f}")  # fmt: skip
    for c in (1, 16):
        print(f"p50 short request, concurrency {c:>2}: handle {p[f'handle_c{c}']:.1f} ms   "
              f"runtime {p[f'runtime_c{c}']:.1f} ms   added {a[f'c{c}']:+.1f} ms")  # fmt: skip
    print("  goal: ≤ 5 ms added at concurrency 1")
    save(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
