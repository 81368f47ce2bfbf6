"""Where does a waza request spend its CPU? An in-process companion to `api_overhead.py`.

Calls the same three targets as `api_overhead.py` straight through ASGI (no network, no uvicorn,
one request at a time), so each number is the app's own CPU cost of one request (process CPU
time, which a busy machine disturbs less than wall time):

1. CPU and wall-clock microseconds per request for each target, with FastAPI's thread pool as
   in production and with sync code run inline (the difference is the cost of the thread hops);
   wall time also counts waiting for the database server, CPU time does not;
2. CPU microseconds per call of the pieces of ``GET /api/auth/users/me``: PAT resolution, the
   ``me`` service call, a bare session, and one access-log line;
3. a cProfile of one target (``--profile a|b|c``, default ``a``; sync code inline, so that
   cProfile, which sees one thread only, sees all of it): top functions by cumulative and by own
   time. cProfile slows Python code down about 2x; read its numbers as shares, not as times.

Run from the repository root: ``python -m benchmarks.profile_request [--requests N]``.
Settings come from a temporary ``WAZA_HOME`` (SQLite) or ``--database-url``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread

from benchmarks._bench_app import BARE_PATH, plain_app, waza_app
from benchmarks.api_overhead import ADMIN_PASSWORD, ME_PATH, SECRET_KEY, fresh_postgres_database

ASGIApp = Callable[..., Awaitable[None]]


async def call(app: ASGIApp, path: str, headers: dict[str, str]) -> int:
    """One GET through the ASGI app; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7777),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def per_request_us(
    app: ASGIApp, path: str, headers: dict[str, str], n: int
) -> tuple[float, float]:
    """CPU and wall-clock microseconds per request, `n` requests one after the other."""
    for _ in range(min(n, 200)):  # warm-up
        await call(app, path, headers)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        status = await call(app, path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path} returned {status}")
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    started = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - started) / n * 1e6


@contextlib.contextmanager
def sync_code_inline() -> Iterator[None]:
    """Run what FastAPI would send to its thread pool on the event loop thread instead."""
    original = anyio.to_thread.run_sync

    async def inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:
        yield
    finally:
        anyio.to_thread.run_sync = original


def print_stats(profile: cProfile.Profile, sort: str, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    text = out.getvalue()
    print(text[text.index("   ncalls") :] if "   ncalls" in text else text)


async def main_async(args: argparse.Namespace) -> None:
    app, plain = waza_app(), plain_app()
    ctx = app.state.waza
    async with app.router.lifespan_context(app):
        admin = ctx.auth.user_id_for("admin")
        token = ctx.auth.issue_pat(admin, "bench", 3600, "read", None).token
        auth = {"Authorization": f"Bearer {token}"}
        targets = [
            ("(a) waza  GET /api/auth/users/me (PAT)", app, ME_PATH, auth),
            ("(b) waza  GET /bench/bare", app, BARE_PATH, {}),
            ("(c) plain GET /bench/bare", plain, BARE_PATH, {}),
        ]
        n = args.requests
        print(f"\n1. µs per request, in process, one at a time ({n} x, {ctx.db.dialect})")
        print(f"{'':<42}{'- thread pool -':>16}{'--- inline ---':>16}")
        print(f"{'target':<42}{'CPU':>8}{'wall':>8}{'CPU':>8}{'wall':>8}")
        for label, target_app, path, headers in targets:
            pooled = await per_request_us(target_app, path, headers, n)
            with sync_code_inline():
                inline = await per_request_us(target_app, path, headers, n)
            print(f"{label:<42}" + "".join(f"{v:>8.0f}" for v in (*pooled, *inline)))

        from waza.gateway.logging import get_logger

        principal = ctx.auth.resolve(token)
        log = get_logger("waza.access")

        def checkout() -> None:
            with ctx.db.session() as session:
                session.connection()

        print("\n2. CPU µs per call of the pieces of (a)")
        pieces = {
            "auth.resolve(PAT)  (1 SELECT PAT JOIN user)": lambda: ctx.auth.resolve(token),
            "auth.me(principal) (1 SELECT user by id)": lambda: ctx.auth.me(principal),
            "db.session() + connection checkout, no query": checkout,
            "one access-log line (log.info)": lambda: log.info(
                "request", method="GET", path=ME_PATH, status=200, ms=1.0, request_id="x" * 32
            ),
        }
        for label, fn in pieces.items():
            print(f"{label:<48}{per_call_us(fn, n):>8.0f}")

        label, target_app, path, headers = targets["abc".index(args.profile)]
        profile = cProfile.Profile()
        with sync_code_inline():
            profile.enable()
            for _ in range(n):
                await call(target_app, path, headers)
            profile.disable()
        print(f"\n3. cProfile of {n} x {label} (sync code inline), by cumulative time")
        print_stats(profile, "cumulative", args.top)
        print("   ... by own time")
        print_stats(profile, "tottime", args.top)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_request")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--top", type=int, default=30, help="rows of each profile table")
    parser.add_argument("--profile", choices="abc", default="a", help="target to profile")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp home")
    parser.add_argument(
        "--create-database",
        action="store_true",
        help="create a throw-away database on the PostgreSQL server of --database-url",
    )
    parser.add_argument("--log-level", default="INFO", help="WAZA_LOG_LEVEL")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="waza-profile-"))
        if args.create_database:
            args.database_url = stack.enter_context(fresh_postgres_database(args.database_url))
        for key in [k for k in os.environ if k.startswith("WAZA_")]:
            del os.environ[key]
        os.environ.update(
            WAZA_HOME=str(Path(tmp) / "home"),
            WAZA_DATABASE_URL=args.database_url,
            WAZA_ADMIN_PASSWORD=ADMIN_PASSWORD,
            WAZA_SECRET_KEY=SECRET_KEY,
            WAZA_LOG_LEVEL=args.log_level,
        )
        # The access log goes to a file, as in `api_overhead.py`, not to the terminal.
        with (Path(tmp) / "server.log").open("w") as log_file:
            real_stderr, sys.stderr = sys.stderr, log_file
            try:
                asyncio.run(main_async(args))
            finally:
                sys.stderr = real_stderr


if __name__ == "__main__":
    main()
