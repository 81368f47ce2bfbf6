"""Server-Timing for a request: the time spent in backends, reported in the response header.

The request middleware starts a collector per request (`begin`); code that calls a backend (a
vector engine, ...) wraps the call in `timed("engine")`; the middleware then sends
``Server-Timing: engine;dur=41.9, app;dur=43.2`` (milliseconds; ``app`` is the whole time in the
platform up to the response start). Browsers' dev tools show it, and benchmarks use it to split
a request's latency into the engine's share and the platform's. Timings cross into threadpool
routes because Starlette copies the request's context into the worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[dict[str, float] | None] = ContextVar("waza_server_timing", default=None)


def begin() -> dict[str, float]:
    """Start collecting for the current request; the returned dict fills up as it runs."""
    timings: dict[str, float] = {}
    _current.set(timings)
    return timings


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Add the block's duration (in seconds) to `name` for the current request, if any."""
    timings = _current.get()
    if timings is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


def header(timings: dict[str, float], total: float) -> bytes:
    """The Server-Timing header value for `timings` plus ``app`` = `total` (seconds)."""
    parts = [f"{name};dur={seconds * 1000:.2f}" for name, seconds in timings.items()]
    parts.append(f"app;dur={total * 1000:.2f}")
    return ", ".join(parts).encode()
