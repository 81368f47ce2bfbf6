"""Where a benchmark's report goes: one JSON file (default under `benchmarks/results/`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save(report: dict[str, Any], path: Path) -> None:
    """Write the report as indented JSON, creating the folder, and say where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {path}")
