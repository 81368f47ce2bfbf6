"""How much does the waza request path cost next to a bare FastAPI route?

Measures, in one run, requests/s and p50/p99 latency of

  (a) ``GET /api/auth/users/me`` with a personal access token, on the real waza app;
  (b) ``GET /bench/bare`` (async, no auth, no dependencies) on the same waza app and server;
  (c) the same bare route on a plain ``FastAPI()`` app, in its own server with the same settings;

and reports the ratios (a)/(b) (goal: at least 0.5) and (a)/(c) of requests/s.

Both servers are ``uvicorn`` subprocesses started like ``waza api`` (see ``_bench_app.py``); the
waza one gets a temporary ``WAZA_HOME`` and SQLite, or the database given by ``--database-url``.
The load comes from a separate process (``_load.py``). Run from the repository root::

    python -m benchmarks.api_overhead            # full run, SQLite
    python -m benchmarks.api_overhead --quick    # smoke run
    python -m benchmarks.api_overhead --create-database \\
        --database-url postgresql+psycopg://waza:waza@127.0.0.1:5432/postgres

Exit status: 0 on success, 1 if any request failed (or with ``--fail-below``, if (a)/(b) is
below that ratio), 2 if the setup failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from benchmarks._bench_app import BARE_PATH
from benchmarks._results import save

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_JSON = HERE / "results" / "api_overhead.json"
ME_PATH = "/api/auth/users/me"
ADMIN_PASSWORD = "bench-admin-pw-1"  # noqa: S105 (a throw-away benchmark account)
# Fixed, so that a reused --database-url can still decrypt the signing keys it holds.
SECRET_KEY = "waza-bench-kek"  # noqa: S105
GOAL = 0.5
TARGETS = {  # name: (label, server, path)
    "waza_me": ("(a) waza  GET /api/auth/users/me (PAT)", "waza", ME_PATH),
    "waza_bare": ("(b) waza  GET /bench/bare", "waza", BARE_PATH),
    "plain_bare": ("(c) plain GET /bench/bare", "plain", BARE_PATH),
}


class SetupError(RuntimeError):
    """The benchmark could not start (a server, the database, the token)."""


# ---- servers -------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python_path() -> str:
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


@contextlib.contextmanager
def serve(app: str, workdir: Path, waza_env: dict[str, str]) -> Iterator[Server]:
    """Run `_bench_app <app>` on a free port until the block ends; wait until it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAZA_")}
    env.update(waza_env, WAZA_HOST="127.0.0.1", WAZA_PORT=str(port), PYTHONPATH=_python_path())
    log_path = workdir / f"{app}-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._bench_app", app, "--port", str(port)],
            cwd=workdir,  # not the repository: no stray .env file is read
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(app, f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SetupError(f"{server.name} server exited early:\n{server.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(server.url + BARE_PATH, timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.2)
    message = f"{server.name} server did not answer in {timeout:.0f} s"
    raise SetupError(f"{message}:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- database and token --------------------------------------------------------------------------
@contextlib.contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """Create a throw-away database on the server of `server_url`; drop it afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.get_backend_name() != "postgresql":
        raise SetupError("--create-database needs a postgresql:// --database-url")
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"waza_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SetupError(f"cannot create database {name}: {exc}") from exc
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_pat(server: Server, password: str) -> str:
    """Log in as the admin and create a read-scoped PAT; check that /users/me accepts it."""
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        reply = http.post("/api/auth/token", data={"username": "admin", "password": password})
        if reply.status_code != 200:
            raise SetupError(f"admin login failed: {reply.status_code} {reply.text}")
        session = {"Authorization": f"Bearer {reply.json()['access_token']}"}
        reply = http.post("/api/auth/pats?scope=read&name=bench", headers=session)
        if reply.status_code != 201:
            raise SetupError(f"creating the PAT failed: {reply.status_code} {reply.text}")
        token = str(reply.json()["token"])
        me = http.get(ME_PATH, headers={"Authorization": f"Bearer {token}"})
        if me.status_code != 200 or me.json().get("auth_method") != "pat":
            raise SetupError(f"the PAT does not work: {me.status_code} {me.text}")
    return token


# ---- the load driver -----------------------------------------------------------------------------
def run_driver(plan: dict[str, Any], workdir: Path) -> dict[str, Any]:
    plan_path, result_path = workdir / "plan.json", workdir / "result.json"
    plan_path.write_text(json.dumps(plan))
    driver = subprocess.Popen([sys.executable, str(HERE / "_load.py"), plan_path, result_path])
    try:
        if driver.wait() != 0:
            raise SetupError(f"the load driver failed (exit status {driver.returncode})")
    finally:
        _stop(driver)
    return dict(json.loads(result_path.read_text()))


# ---- results -------------------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_values:
        return None
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def summarize(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    latencies = sorted(raw["latencies"])
    ok, seconds, cpu = raw["ok"], raw["seconds"], raw["server_cpu_seconds"]

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    def percent(cpu_seconds: float | None) -> float | None:
        return round(cpu_seconds / seconds * 100, 1) if cpu_seconds is not None else None

    return {
        "label": TARGETS[name][0],
        "path": TARGETS[name][2],
        "requests": ok,
        "errors": raw["errors"],
        "error_samples": raw["error_samples"],
        "seconds": round(seconds, 3),
        "rps": round(ok / seconds, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "mean_ms": ms(sum(latencies) / len(latencies)) if latencies else None,
        "server_cpu_us_per_request": round(cpu / ok * 1e6, 1) if cpu is not None and ok else None,
        "server_cpu_percent": percent(cpu),
        "driver_cpu_percent": percent(raw["driver_cpu_seconds"]),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def environment(
    dialect: str, driver: dict[str, Any], load_before: tuple[float, ...] | None
) -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    packages = ["waza", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "httpx"]
    packages += ["sqlalchemy", "psycopg", "pydantic", "structlog"]
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_before": load_before,
        "database_dialect": dialect,
        "driver_event_loop": driver.get("event_loop"),
        "driver_cpu_seconds": round(driver.get("driver_cpu_seconds", 0.0), 2),
        "packages": {p: version(p) for p in packages},
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(report: dict[str, Any]) -> None:
    cfg, env, targets = report["config"], report["environment"], report["targets"]
    load = ", ".join(f"{x:.2f}" for x in env["load_average_before"] or ())
    print(
        f"\nwaza API overhead: {env['database_dialect']}, {cfg['concurrency']} workers, "
        f"{cfg['duration']:g} s per target in {cfg['rounds']} rounds "
        f"(+{cfg['warmup']:g} s warm-up), waza log level {cfg['log_level']}\n"
        f"{env['cpu_count']} CPUs, load average before the run: {load or '-'}\n"
    )
    header = f"{'target':<40}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
    header += f"{'server CPU':>11}{'µs/req':>7}{'driver CPU':>11}"
    print(header)
    print("-" * len(header))
    for t in targets.values():
        print(
            f"{t['label']:<40}{t['requests']:>9}{t['rps']:>8.0f}"
            f"{_fmt(t['p50_ms'], '.2f'):>8}{_fmt(t['p99_ms'], '.2f'):>8}{t['errors']:>7}"
            f"{_fmt(t['server_cpu_percent'], '.0f') + '%':>11}"
            f"{_fmt(t['server_cpu_us_per_request'], '.0f'):>7}"
            f"{_fmt(t['driver_cpu_percent'], '.0f') + '%':>11}"
        )
    r = report["ratios"]
    met = "met" if report["goal_met"] else "NOT met"
    print(f"\nreq/s ratio (a)/(b): {_fmt(r['a_over_b'], '.3f')}  (goal >= {GOAL}: {met})")
    print(f"req/s ratio (a)/(c): {_fmt(r['a_over_c'], '.3f')}")
    print(f"req/s ratio (b)/(c): {_fmt(r['b_over_c'], '.3f')}  (the waza app and middleware alone)")
    print(
        f"server CPU per request, (b)/(a): {_fmt(r['cpu_b_over_a'], '.3f')}, "
        f"(c)/(a): {_fmt(r['cpu_c_over_a'], '.3f')}  (the req/s ratios if the server had the CPUs)"
    )
    for t in targets.values():
        for sample in t["error_samples"]:
            print(f"error on {t['path']}: {sample}")


# ---- main ----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.api_overhead",
        description="Requests/s and latency of the waza request path next to a bare route.",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured s per target")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured s per target")
    parser.add_argument("--rounds", type=int, default=2, help="measured segments per target")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent workers")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s, 0.5 s warm-up")
    parser.add_argument(
        "--database-url", default="", help="waza database (default: SQLite in a temp WAZA_HOME)"
    )
    parser.add_argument(
        "--create-database",
        action="store_true",
        help="create a throw-away database on the PostgreSQL server of --database-url",
    )
    parser.add_argument(
        "--admin-password",
        default=ADMIN_PASSWORD,
        help="admin password (for a reused --database-url whose admin already exists)",
    )
    parser.add_argument("--log-level", default="INFO", help="WAZA_LOG_LEVEL of the waza server")
    parser.add_argument(
        "--auth-cache-ttl",
        default=None,
        help="WAZA_AUTH_CACHE_TTL of the waza server (0 = resolve every token in the database)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument(
        "--fail-below", type=float, default=None, help="exit 1 if (a)/(b) is below this"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 2.0, 0.5
    if args.create_database and not args.database_url:
        parser.error("--create-database needs --database-url (the PostgreSQL server)")
    if args.rounds < 1 or args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--rounds and --concurrency must be >= 1, --duration > 0, --warmup >= 0")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="waza-bench-")))
        database_url = args.database_url
        if args.create_database:
            database_url = stack.enter_context(fresh_postgres_database(database_url))
        waza_env = {
            "WAZA_HOME": str(workdir / "home"),
            "WAZA_DATABASE_URL": database_url,
            "WAZA_ADMIN_PASSWORD": args.admin_password,
            "WAZA_SECRET_KEY": SECRET_KEY,
            "WAZA_LOG_LEVEL": args.log_level,
            **({"WAZA_AUTH_CACHE_TTL": args.auth_cache_ttl} if args.auth_cache_ttl else {}),
        }
        servers = {
            "waza": stack.enter_context(serve("waza", workdir, waza_env)),
            "plain": stack.enter_context(serve("plain", workdir, {})),
        }
        auth = {"Authorization": f"Bearer {create_pat(servers['waza'], args.admin_password)}"}
        plan = {
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "duration": args.duration,
            "rounds": args.rounds,
            "targets": [
                {
                    "name": name,
                    "url": servers[server].url + path,
                    "headers": auth if path == ME_PATH else {},
                    "server_pid": servers[server].process.pid,
                }
                for name, (_, server, path) in TARGETS.items()
            ],
        }
        print(
            f"measuring {len(TARGETS)} targets for {args.warmup + args.duration:g} s each ...",
            file=sys.stderr,
            flush=True,
        )
        load_before = (
            tuple(round(x, 2) for x in os.getloadavg()) if hasattr(os, "getloadavg") else None
        )
        driver = run_driver(plan, workdir)
        if any(t["errors"] for t in driver["targets"].values()):
            print(f"waza server log (tail):\n{servers['waza'].log_tail()}", file=sys.stderr)

    targets = {name: summarize(name, driver["targets"][name]) for name in TARGETS}
    a, b, c = (targets[n]["rps"] for n in ("waza_me", "waza_bare", "plain_bare"))
    cpu_a, cpu_b, cpu_c = (
        targets[n]["server_cpu_us_per_request"] for n in ("waza_me", "waza_bare", "plain_bare")
    )
    ratios = {
        "a_over_b": ratio(a, b),
        "a_over_c": ratio(a, c),
        "b_over_c": ratio(b, c),
        "cpu_b_over_a": ratio(cpu_b, cpu_a),
        "cpu_c_over_a": ratio(cpu_c, cpu_a),
    }
    dialect = database_url.split(":", 1)[0].split("+", 1)[0] if database_url else "sqlite"
    return {
        "benchmark": "api_overhead",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "concurrency": args.concurrency,
            "duration": args.duration,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "log_level": args.log_level,
        },
        "environment": environment(dialect, driver, load_before),
        "targets": targets,
        "ratios": ratios,
        "goal": {"a_over_b_at_least": GOAL},
        "goal_met": ratios["a_over_b"] is not None and ratios["a_over_b"] >= GOAL,
        "errors": sum(t["errors"] for t in targets.values()),
    }


def _exit_on_sigterm() -> Callable[[], object]:
    """Turn SIGTERM into SystemExit so that the clean-up in `run` happens; returns an undo."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return lambda: signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    restore = _exit_on_sigterm()
    try:
        report = run(args)
    except SetupError as exc:
        print(f"benchmark setup failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; servers stopped, temporary files removed", file=sys.stderr)
        return 130
    finally:
        restore()
    print_report(report)
    save(report, args.json)
    if report["errors"]:
        print(f"FAILED: {report['errors']} requests did not return 200", file=sys.stderr)
        return 1
    if args.fail_below is not None and (report["ratios"]["a_over_b"] or 0) < args.fail_below:
        print(f"FAILED: (a)/(b) is below {args.fail_below}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
