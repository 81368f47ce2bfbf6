"""The local CLI profile: where this machine's platform answers and a token to call it.

`waza up` writes ``$WAZA_HOME/cli.json`` (mode 0600) with the API URL behind its proxy and a
personal access token of the first admin, so that right after `make up` the CLI and a notebook
on this machine can call the platform (`waza chat SmolLM2-135M-Instruct`) without copying
credentials around. Explicit arguments and ``WAZA_API_URL`` / ``WAZA_API_KEY`` always win.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "cli.json"


def profile_path(home: Path | None = None) -> Path | None:
    """``$WAZA_HOME/cli.json``; ``WAZA_CLI_PROFILE`` names another file ("" turns it off)."""
    override = os.environ.get("WAZA_CLI_PROFILE")
    if override is not None and home is None:
        return Path(override).expanduser() if override else None
    base = home or Path(os.environ.get("WAZA_HOME", "~/.waza")).expanduser()
    return base / FILE_NAME


def load_profile(home: Path | None = None) -> dict[str, Any]:
    """The saved ``{"url", "token"}``, or an empty dict when there is none (or it is unreadable)."""
    path = profile_path(home)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_profile(url: str, token: str, home: Path | None = None) -> Path:
    """Write the profile atomically, readable by this user only."""
    path = profile_path(home)
    if path is None:
        raise ValueError("the CLI profile is turned off (WAZA_CLI_PROFILE is empty)")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "token": token}, fh)
    tmp.replace(path)
    return path
