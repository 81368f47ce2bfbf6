"""Which server-side paths a caller may ingest, and walking a folder safely.

Non-admin users may read only inside the *data roots*: `settings.data_roots` (a root may contain
`{username}`), or when none are configured `$WAZA_HOME/data` and `$WAZA_HOME/users/<username>`.
Paths are checked after resolving symlinks and `..`, so a link inside a root that points outside
it is refused like the target itself. Admins may ingest any path the server can read.

The order of checks matters: containment (403) comes before existence (404), so a user cannot
probe which paths exist outside their roots.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from waza.errors import BadRequest, Forbidden, NotFound
from waza.gateway.principal import Principal
from waza.services.ingestion.formats import detect_format
from waza.settings import Settings

MAX_FILES = 100_000


def _safe_name(username: str) -> bool:
    return bool(username) and username not in {".", ".."} and "/" not in username


def allowed_roots(settings: Settings, principal: Principal) -> list[Path]:
    """The folders this user may ingest from (resolved); admins are not limited by them."""
    name = principal.username
    if settings.data_roots:
        raw = [
            Path(str(root).replace("{username}", name))
            for root in settings.data_roots
            if "{username}" not in str(root) or _safe_name(name)
        ]
    else:
        raw = [settings.home / "data"]
        if _safe_name(name):
            raw.append(settings.home / "users" / name)
    return [Path(os.path.realpath(r.expanduser())) for r in raw]


def within(path: Path, roots: list[Path]) -> bool:
    """Whether a resolved path is one of the roots or inside one."""
    return any(path == root or root in path.parents for root in roots)


def resolve_path(settings: Settings, principal: Principal, raw: str) -> Path:
    """The resolved path a caller asked for: 400 relative, 403 outside the roots, 404 missing."""
    if not raw or not raw.strip():
        raise BadRequest("path is required: an absolute path to a file or folder on the server")
    given = Path(raw.strip()).expanduser()
    if not given.is_absolute():
        raise BadRequest(f"path must be absolute, got {raw!r}")
    resolved = Path(os.path.realpath(given))
    if not principal.is_admin:
        roots = allowed_roots(settings, principal)
        if not within(resolved, roots):
            allowed = ", ".join(str(r) for r in roots) or "(none configured)"
            raise Forbidden(
                f"{raw} is outside the folders you may ingest from ({allowed}); "
                "copy the data into one of them or ask an admin"
            )
    if not resolved.exists():
        raise NotFound(f"No such file or folder: {raw}")
    if not os.access(resolved, os.R_OK):
        raise Forbidden(f"The platform cannot read {raw} (permission denied)")
    return resolved


@dataclass
class Listing:
    """The files found under a path: supported ones, skipped ones, and refused links."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        total = 0
        for path, _ in self.files:
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total


def list_files(
    settings: Settings,
    principal: Principal,
    root: Path,
    *,
    recursive: bool = True,
    include_unsupported: bool = False,
) -> Listing:
    """Files under a resolved `root` (or `root` itself), sorted, with their formats.

    Hidden files and folders (names starting with `.`) are skipped, symlinked folders are not
    followed, and a symlinked file whose target lies outside the caller's roots is refused (an
    error entry). Unsupported formats are skipped, or listed as `binary` with
    `include_unsupported`.
    """
    listing = Listing()
    roots = None if principal.is_admin else allowed_roots(settings, principal)

    def consider(path: Path) -> None:
        target = Path(os.path.realpath(path))
        if roots is not None and not within(target, roots):
            listing.errors.append(f"{path}: links outside the folders you may ingest from")
            return
        if not target.is_file():
            return
        fmt = detect_format(target.name)
        if fmt is None:
            if not include_unsupported:
                listing.skipped.append(str(path))
                return
            fmt = "binary"
        listing.files.append((target, fmt))

    if root.is_file():
        consider(root)
        return listing
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            consider(Path(dirpath) / name)
            if len(listing.files) > MAX_FILES:
                raise BadRequest(f"More than {MAX_FILES} files under {root}: ingest sub-folders")
    seen: set[Path] = set()
    unique = []
    for path, fmt in listing.files:  # two links to one file: ingest it once
        if path not in seen:
            seen.add(path)
            unique.append((path, fmt))
    listing.files = unique
    return listing
