"""A small HTTP load driver: N concurrent asyncio workers on one keep-alive httpx client per target.

Run as its own process (``python benchmarks/_load.py PLAN.json RESULT.json``) so that it never
shares a GIL with the server it measures. The plan names the targets and the timing::

    {"targets": [{"name": ..., "url": ..., "headers": {...}, "server_pid": 123}, ...],
     "concurrency": 16, "warmup": 2.0, "duration": 10.0, "rounds": 2}

Every target is first warmed up for ``warmup`` seconds (not measured). Then ``rounds`` rounds
run each target for ``duration / rounds`` seconds, back to back; odd rounds go in reverse order,
so that no target always runs first or last. A request counts as good only if it returns 200;
anything else (another status, a timeout, a refused connection) is an error.

The result holds, per target: good requests, errors (and a few samples), measured seconds,
the latency of every good request, the server's CPU seconds over the measured segments (from
/proc, Linux only; null elsewhere) and the driver's own CPU seconds over them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

MAX_ERROR_SAMPLES = 5


@dataclass
class Tally:
    """What one target did over its measured segments."""

    ok: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu_seconds: float | None = 0.0
    driver_cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(text)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads), or None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")" that ends the command name, utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_segment(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    tally: Tally,
) -> float:
    """Hammer `url` for `seconds` with `concurrency` workers; returns the elapsed time.

    Workers start no request after the deadline but finish the one in flight, and the segment
    lasts until the last one returns, so every counted request lies inside the elapsed time.
    """
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                tally.error(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code == 200:
                tally.latencies.append(time.perf_counter() - started)
                tally.ok += 1
            else:
                tally.error(f"HTTP {response.status_code}: {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run_plan(plan: dict[str, Any]) -> dict[str, Any]:
    targets = plan["targets"]
    concurrency = int(plan["concurrency"])
    rounds = int(plan["rounds"])
    segment = float(plan["duration"]) / rounds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = {
        t["name"]: httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) for t in targets
    }
    tallies = {t["name"]: Tally() for t in targets}
    try:
        for target in targets:  # warm-up: opens the keep-alive connections, fills caches
            await run_segment(
                clients[target["name"]],
                target["url"],
                target["headers"],
                concurrency,
                float(plan["warmup"]),
                Tally(),
            )
        for round_no in range(rounds):
            order = targets if round_no % 2 == 0 else targets[::-1]
            for target in order:
                tally = tallies[target["name"]]
                cpu_before = process_cpu_seconds(target["server_pid"])
                driver_before = time.process_time()
                tally.seconds += await run_segment(
                    clients[target["name"]],
                    target["url"],
                    target["headers"],
                    concurrency,
                    segment,
                    tally,
                )
                cpu_after = process_cpu_seconds(target["server_pid"])
                tally.driver_cpu_seconds += time.process_time() - driver_before
                if cpu_before is None or cpu_after is None or tally.server_cpu_seconds is None:
                    tally.server_cpu_seconds = None
                else:
                    tally.server_cpu_seconds += cpu_after - cpu_before
    finally:
        for client in clients.values():
            await client.aclose()
    return {
        "event_loop": type(asyncio.get_running_loop()).__module__,
        "driver_cpu_seconds": time.process_time(),
        "targets": {name: asdict(tally) for name, tally in tallies.items()},
    }


def main(argv: list[str]) -> None:
    plan_path, result_path = argv
    plan = json.loads(Path(plan_path).read_text())
    try:
        import uvloop  # a cheaper event loop leaves more CPU to the server under test
    except ImportError:
        result = asyncio.run(run_plan(plan))
    else:
        result = uvloop.run(run_plan(plan))
    Path(result_path).write_text(json.dumps(result))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the caller cleans up
        sys.exit(130)
