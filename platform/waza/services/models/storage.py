"""Where model files live on disk, and walking, sizing and removing them safely.

Layout under ``settings.effective_models_dir``: ``hub/`` (the shared Hugging Face cache),
``uploads/<model id>/`` (uploaded files) and ``builtin/`` (built-in models built here). Imported
models and built-ins shipped in Python packages stay where they are and are never deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from waza.errors import BadRequest, Forbidden
from waza.services.ingestion.paths import within
from waza.settings import Settings

MAX_FILES = 10_000


@dataclass(frozen=True)
class NewFile:
    """A file to record with a new model."""

    name: str
    path: Path | None
    size: int | None
    storage_type: str | None = "file"
    hub: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None


def models_root(settings: Settings) -> Path:
    return settings.effective_models_dir


def uploads_dir(settings: Settings) -> Path:
    return models_root(settings) / "uploads"


def builtin_dir(settings: Settings) -> Path:
    return models_root(settings) / "builtin"


def managed(settings: Settings, path: Path) -> bool:
    """Whether waza owns this path (hub cache or uploads), so deleting a model may remove it."""
    resolved = Path(os.path.abspath(path))
    roots = [
        Path(os.path.abspath(models_root(settings) / "hub")),
        Path(os.path.abspath(uploads_dir(settings))),
    ]
    return any(root in resolved.parents for root in roots)


def size_on_disk(path: Path) -> int:
    """Bytes of a file (through links), or of every file under a folder; 0 when missing."""
    try:
        if path.is_file():
            return path.stat().st_size
        total = 0
        for dirpath, _, filenames in os.walk(path):
            for name in filenames:
                with contextlib.suppress(OSError):
                    total += (Path(dirpath) / name).stat().st_size
        return total
    except OSError:
        return 0


def walk_model(root: Path, allowed: list[Path] | None) -> list[tuple[str, Path, int]]:
    """``(relative name, path, size)`` of the files of a model folder (or the file itself).

    Hidden files and folders are skipped; folder links are not followed; a file link whose
    target lies outside ``allowed`` (when given) is refused with 403. Paths keep their links
    (a Hugging Face snapshot folder links into ``blobs/``), names are relative to ``root``.
    """

    def check(path: Path) -> int:
        target = Path(os.path.realpath(path))
        if allowed is not None and not within(target, allowed):
            raise Forbidden(f"{path} links outside the folders you may import from")
        return target.stat().st_size

    if root.is_file():
        return [(root.name, root, check(root))]
    found: list[tuple[str, Path, int]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if not path.is_file():  # a dangling link
                continue
            found.append((path.relative_to(root).as_posix(), path, check(path)))
            if len(found) > MAX_FILES:
                raise BadRequest(f"More than {MAX_FILES} files under {root}: not a model folder")
    if not found:
        raise BadRequest(f"{root} holds no files")
    return found


def safe_relative(filename: str | None) -> str:
    """A relative upload name without ``..``, absolute parts or hidden components."""
    if not filename or not filename.strip():
        raise BadRequest("every uploaded file needs a file name")
    pure = PurePosixPath(filename.strip().replace("\\", "/"))
    parts = [p for p in pure.parts if p not in ("", ".")]
    if pure.is_absolute() or not parts or any(p == ".." or p.startswith(".") for p in parts):
        raise BadRequest(f"{filename!r} is not an acceptable file name")
    return "/".join(parts)


def remove(settings: Settings, paths: list[Path]) -> None:
    """Delete waza-managed files/folders (never anything outside the hub cache or uploads)."""
    for path in paths:
        if not managed(settings, path):
            continue
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                target = Path(os.path.realpath(path)) if path.is_symlink() else None
                path.unlink(missing_ok=True)
                if target is not None and managed(settings, target):
                    target.unlink(missing_ok=True)
