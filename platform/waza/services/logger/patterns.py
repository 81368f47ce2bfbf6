"""Failure patterns in log lines: out of memory, CUDA errors, missing files, ports in use, ...

`analyze(lines)` is the one implementation: the logger's `/patterns` routes and serving's
`.../logs/patterns` both call it. Patterns are case-insensitive regular expressions with word
boundaries where a bare substring would match ordinary words (``oom`` in ``room``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

PATTERNS: dict[str, tuple[str, str]] = {
    # name: (regular expression, what it means)
    "out_of_memory": (
        r"out of memory|outofmemory|\boom\b|oom[-_ ]kill|memoryerror|cannot allocate memory"
        r"|std::bad_alloc|exit code 137\b",
        "The process or the GPU ran out of memory.",
    ),
    "cuda_error": (
        r"cuda error|cuda_error|cudnn_status|\bnccl\b.*(error|failure)|cublas_status"
        r"|no cuda gpus are available|cuda driver version is insufficient|device-side assert",
        "A CUDA, cuDNN or NCCL error.",
    ),
    "missing_file": (
        r"no such file or directory|filenotfounderror|file not found|\[errno 2\]|not found at ",
        "A file or folder the process needs does not exist.",
    ),
    "port_in_use": (
        r"address already in use|eaddrinuse|\[errno 98\]|port is already allocated"
        r"|port \d+ is (already )?in use",
        "The port the process wants to listen on is taken.",
    ),
    "model_loading_failure": (
        r"model_loading_failure|load failed|failed to load (the )?model|error loading model",
        "The model could not be loaded.",
    ),
    "permission_denied": (
        r"permission denied|permissionerror|\[errno 13\]|operation not permitted",
        "The process may not read or write something it needs.",
    ),
    "import_error": (
        r"modulenotfounderror|importerror|no module named",
        "A Python package is missing or broken.",
    ),
    "connection_refused": (
        r"connection refused|econnrefused|connectionrefusederror"
        r"|temporary failure in name resolution|name or service not known",
        "A service the process calls is not reachable.",
    ),
    "disk_full": (
        r"no space left on device|\[errno 28\]|disk quota exceeded",
        "The disk is full.",
    ),
    "insufficient_resources": (
        r"insufficient_resources|not enough (\w+ )?(gpus?|cpus?|memory|resources)",
        "The cluster cannot place the replicas.",
    ),
    "startup_timeout": (
        r"startup_timeout|timed out waiting for",
        "The process did not become ready in time.",
    ),
    "crashed": (
        r"segmentation fault|core dumped|killed by signal|\bsigkill\b|\bsigsegv\b"
        r"|exited with (code|status) [1-9]\d*",
        "The process died.",
    ),
    "traceback": (
        r"traceback \(most recent call last\)",
        "A Python exception was raised.",
    ),
}
_COMPILED = {name: re.compile(rx, re.IGNORECASE) for name, (rx, _) in PATTERNS.items()}
_LEVEL = re.compile(r"\b(ERROR|CRITICAL|FATAL)\b|\[[A-Z_]*(FAILURE|ERROR|TIMEOUT)\]")
MAX_FAILURE_LINES = 50


@dataclass(frozen=True)
class FailureLine:
    """A line that names an error: its 1-based number, the text and the patterns it shows."""

    line_number: int
    line: str
    patterns: tuple[str, ...]


@dataclass
class Analysis:
    """Which patterns occur, the last failure lines (at most 50) and how many there were."""

    patterns_detected: dict[str, bool]
    failure_lines: list[FailureLine] = field(default_factory=list)
    total_errors_found: int = 0

    @property
    def has_errors(self) -> bool:
        return self.total_errors_found > 0


def match(line: str) -> tuple[str, ...]:
    """The names of the patterns one line shows."""
    return tuple(name for name, rx in _COMPILED.items() if rx.search(line))


def analyze(lines: Sequence[str]) -> Analysis:
    """Scan the lines once; a failure line matches a pattern or carries an error level."""
    detected = dict.fromkeys(PATTERNS, False)
    failures: list[FailureLine] = []
    total = 0
    for number, line in enumerate(lines, start=1):
        found = match(line)
        for name in found:
            detected[name] = True
        if found or _LEVEL.search(line):
            total += 1
            failures.append(FailureLine(number, line, found))
            if len(failures) > MAX_FAILURE_LINES:
                del failures[0]
    return Analysis(detected, failures, total)
