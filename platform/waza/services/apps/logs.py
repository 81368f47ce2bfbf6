"""App logs: reading a log file's tail and naming the failure patterns found in it.

The patterns are the ones the logger service reports for deployments (out of memory, CUDA
errors, missing files, port in use, a Python traceback).
"""

from __future__ import annotations

from pathlib import Path

PORT_IN_USE_NEEDLES = ("address already in use", "errno 98", "eaddrinuse")
LOG_PATTERNS: dict[str, tuple[str, ...]] = {
    "port_in_use": PORT_IN_USE_NEEDLES,
    "out_of_memory": ("out of memory", "outofmemory", "memoryerror", "oom-kill", "oomkilled"),
    "cuda_error": ("cuda error", "cudnn", "nccl"),
    "missing_file": ("no such file or directory", "filenotfounderror", "modulenotfounderror"),
    "traceback": ("traceback (most recent call last)",),
}
MAX_TAIL_BYTES = 256 * 1024


def tail_file(path: Path, lines: int = 200, since: int = 0) -> list[str]:
    """The last ``lines`` lines of ``path`` after byte ``since`` (at most 256 KiB read)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            start = max(since, size - MAX_TAIL_BYTES)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return []
    text = data.decode(errors="replace").splitlines()
    if start > since and text:
        text = text[1:]  # a partial first line
    return text[-lines:] if lines > 0 else text


def detect(lines: list[str]) -> dict[str, bool]:
    """Which known failure patterns appear in these lines."""
    lowered = "\n".join(lines).lower()
    return {name: any(n in lowered for n in needles) for name, needles in LOG_PATTERNS.items()}


def found(lines: list[str]) -> list[str]:
    """The names of the patterns present."""
    return [name for name, hit in detect(lines).items() if hit]
