"""App logs: reading a log file's tail and naming the failure patterns found in it.

The patterns come from the logger service (`waza.services.logger.patterns.analyze`), so an
app's FAILED message, its ``/logs`` answer and the logger's ``/patterns`` routes agree. Only
the app's own output is analysed: the supervisor's notes (lines starting ``[waza]``, such as
"preferred port 8000 is in use: choosing a free one") are not the app's failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from waza.services.logger.patterns import analyze

MAX_TAIL_BYTES = 256 * 1024
NOTE_PREFIX = "[waza]"  # the supervisor's own lines in an app's log


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


def app_output(lines: Sequence[str]) -> list[str]:
    """The lines the app wrote (the supervisor's notes left out)."""
    return [line for line in lines if not line.startswith(NOTE_PREFIX)]


def detect(lines: Sequence[str]) -> dict[str, bool]:
    """Which of the logger's failure patterns appear in the app's lines."""
    return analyze(app_output(lines)).patterns_detected


def found(lines: Sequence[str]) -> list[str]:
    """The names of the patterns present."""
    return [name for name, hit in detect(lines).items() if hit]
