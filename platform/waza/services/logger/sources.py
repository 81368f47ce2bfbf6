"""Log sources: where the logger finds logs, one plug-in per producer.

A source is any object with this shape (`LogSource`):

- ``types``: the deployment types it serves (e.g. ``{"app_garden"}``);
- ``entries()``: every log it holds, as `LogEntry` (owner, size, times, orphaned, active);
- ``find(deployment_id)``: one entry or None;
- ``read(entry, tail)``: the lines (`LogText`);
- ``delete(entry)``: remove the log, returning what was removed.

`FileLogSource` serves log files under ``<logs dir>/<type>/<deployment_id>.log`` (plus rotated
``.log.1``, ``.log.2``... and ``.gz`` copies), with a resolver that tells the owner of a
deployment id and whether it is still running (None: the deployment is gone, the log orphaned).
The serving source lives in `serving_source.py`.
"""

from __future__ import annotations

import collections
import gzip
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILE = re.compile(
    r"^(?P<id>[A-Za-z0-9][A-Za-z0-9._-]{0,127}?)\.log(?:\.(?P<n>\d+))?(?P<gz>\.gz)?$"
)


@dataclass(frozen=True)
class LogEntry:
    """One deployment's log as a source reports it."""

    deployment_id: str
    deployment_type: str
    location: str
    size: int
    created_at: datetime
    modified_at: datetime
    owner_id: uuid.UUID | None = None  # None: unknown (only admins see it)
    orphaned: bool = False  # the deployment no longer exists
    active: bool = False  # still being written


@dataclass(frozen=True)
class LogText:
    """The lines of a log (the last ones when a tail was asked) and how many there are."""

    lines: list[str]
    total_lines: int
    capture_active: bool = False
    compressed: bool = False


@dataclass(frozen=True)
class DeploymentRef:
    """What a resolver knows of a deployment id: its owner and whether it still runs."""

    owner_id: uuid.UUID | None
    active: bool = False


Resolver = Callable[[str], DeploymentRef | None]


@runtime_checkable
class LogSource(Protocol):
    """A producer of deployment logs (see the module docstring)."""

    types: frozenset[str]

    def entries(self) -> Iterable[LogEntry]: ...

    def find(self, deployment_id: str) -> LogEntry | None: ...

    def read(self, entry: LogEntry, tail: int | None = None) -> LogText: ...

    def delete(self, entry: LogEntry) -> list[str]: ...


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            yield line.rstrip("\r\n")


class FileLogSource:
    """Log files of one deployment type under ``root/<type>/``."""

    def __init__(self, root: Path, deployment_type: str, resolve: Resolver) -> None:
        self.directory = root / deployment_type
        self.deployment_type = deployment_type
        self.types = frozenset({deployment_type})
        self.resolve = resolve

    def path_for(self, deployment_id: str) -> Path:
        """Where a deployment's current log file goes (the folder is created)."""
        if not SAFE_ID.match(deployment_id):
            raise ValueError(f"not a usable deployment id for a file name: {deployment_id!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f"{deployment_id}.log"

    def _files(self) -> dict[str, list[Path]]:
        """Files by deployment id, oldest part first (`.log.3`, `.log.2`, `.log.1`, `.log`)."""
        found: dict[str, list[tuple[int, Path]]] = collections.defaultdict(list)
        if not self.directory.is_dir():
            return {}
        for path in self.directory.iterdir():
            m = _FILE.match(path.name)
            if m and path.is_file() and not path.is_symlink():
                found[m["id"]].append((int(m["n"] or 0), path))
        return {k: [p for _, p in sorted(v, key=lambda t: -t[0])] for k, v in found.items()}

    def _entry(self, deployment_id: str, files: list[Path]) -> LogEntry | None:
        stats = []
        for path in files:
            try:
                stats.append(path.stat())
            except FileNotFoundError:  # removed meanwhile
                continue
        if not stats:
            return None
        ref = self.resolve(deployment_id)
        return LogEntry(
            deployment_id=deployment_id,
            deployment_type=self.deployment_type,
            location=str(files[-1]),
            size=sum(st.st_size for st in stats),
            created_at=_stamp(min(st.st_mtime for st in stats)),  # no birth time on Linux
            modified_at=_stamp(max(st.st_mtime for st in stats)),
            owner_id=ref.owner_id if ref else None,
            orphaned=ref is None,
            active=bool(ref and ref.active),
        )

    def entries(self) -> Iterable[LogEntry]:
        for deployment_id, files in self._files().items():
            entry = self._entry(deployment_id, files)
            if entry is not None:
                yield entry

    def find(self, deployment_id: str) -> LogEntry | None:
        files = self._files().get(deployment_id)
        return self._entry(deployment_id, files) if files else None

    def read(self, entry: LogEntry, tail: int | None = None) -> LogText:
        files = self._files().get(entry.deployment_id, [])
        kept: collections.deque[str] = collections.deque(maxlen=tail)
        total = 0
        for path in files:
            try:
                for line in _lines(path):
                    kept.append(line)
                    total += 1
            except FileNotFoundError:
                continue
        return LogText(
            list(kept), total, capture_active=entry.active,
            compressed=any(p.suffix == ".gz" for p in files),
        )  # fmt: skip

    def delete(self, entry: LogEntry) -> list[str]:
        removed = []
        for path in self._files().get(entry.deployment_id, []):
            path.unlink(missing_ok=True)
            removed.append(str(path))
        return removed
