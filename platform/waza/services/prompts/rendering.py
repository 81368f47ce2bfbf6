"""Template rendering: `{{ name }}` variables in Jinja2's sandbox, run in worker processes.

`variables(text)` names what a template needs; `render(text, values)` fills it in. A missing value
or a syntax error is a `BadRequest` naming the variable or the line, never a half-rendered text.

Templates are written by users, so rendering happens in small worker processes
(`sandbox.py`, started on first use and reused) under a time limit, a memory limit and an output
cap: a template that loops for ever, recurses or builds a huge string is a 400, and the API
process is never the one that spins or runs out of memory.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import subprocess
import sys
import threading
from typing import IO, Any

from jinja2 import TemplateSyntaxError, nodes

from waza.errors import BadRequest, ServiceUnavailable
from waza.services.prompts.sandbox import environment

ELEMENTS = "elements"  # the name under which a template reaches the caller's elements
RENDER_SECONDS = 5.0
IDLE_WORKERS = 2
MAX_WORKERS = 4  # renders at once; more wait for a free worker
_BUILTINS = frozenset(environment().globals) | {"loop", "super", "self", "caller", "varargs",
                                                 "kwargs"}  # fmt: skip


def check(text: str) -> None:
    """400 with the line and message when `text` is not a valid template."""
    try:
        environment().parse(text)
    except TemplateSyntaxError as exc:
        raise BadRequest(f"Template syntax error on line {exc.lineno}: {exc.message}") from None


def variables(text: str) -> list[str]:
    """The names a template reads from its context, sorted (empty when it does not parse).

    Read from the syntax tree only: Jinja's own `meta.find_undeclared_variables` compiles the
    template, and compiling folds constant expressions (`'a'|center(10**9)`), which must only
    ever happen in a worker.
    """
    try:
        tree = environment().parse(text)
    except TemplateSyntaxError:
        return []
    names = list(tree.find_all(nodes.Name))
    loaded = {n.name for n in names if n.ctx == "load"}
    defined = {n.name for n in names if n.ctx in ("store", "param")}
    defined |= {m.name for m in tree.find_all(nodes.Macro)}
    return sorted(loaded - defined - _BUILTINS)


class _Worker:
    """One `python -m waza.services.prompts.sandbox` process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "waza.services.prompts.sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: bytes, timeout: float) -> bytes | None:
        """The answer line, or None when the worker overran `timeout` (it is then killed)."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        answer: list[bytes] = []
        try:
            stdin.write(request + b"\n")
            stdin.flush()
        except OSError:
            return b""
        reader = threading.Thread(target=_read_line, args=(stdout, answer), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self.kill()
            reader.join()
            return None
        return answer[0] if answer else b""

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()


def _read_line(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.readline())


_idle: list[_Worker] = []
_idle_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_WORKERS)


def _take() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive:
                return worker
    return _Worker()


def _give_back(worker: _Worker) -> None:
    with _idle_lock:
        if worker.alive and len(_idle) < IDLE_WORKERS:
            _idle.append(worker)
            return
    if worker.alive:
        worker.kill()


@atexit.register
def shutdown() -> None:
    """End the idle workers (a worker also ends when this process goes away)."""
    with _idle_lock:
        workers = list(_idle)
        _idle.clear()
    for worker in workers:
        worker.kill()


def render(text: str, values: dict[str, Any]) -> str:
    """Fill in a template; every variable it reads must be in `values`."""
    check(text)
    missing = [name for name in variables(text) if name not in values]
    if missing:
        raise BadRequest(f"Missing template variable(s): {', '.join(missing)}")
    request = json.dumps({"text": text, "values": values}).encode()
    if not _slots.acquire(timeout=RENDER_SECONDS):
        raise ServiceUnavailable("Too many templates are rendering at once; retry shortly")
    try:
        worker = _take()
        line = worker.call(request, RENDER_SECONDS)
        if line is None:
            raise BadRequest(f"Template took too long to render (over {RENDER_SECONDS:g} s)")
        _give_back(worker)
    finally:
        _slots.release()
    if not line:
        raise BadRequest("Template rendering failed: the renderer stopped (too much memory?)")
    answer = json.loads(line)
    if not answer["ok"]:
        raise BadRequest(answer["result"])
    return str(answer["result"])
