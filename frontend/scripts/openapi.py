"""Dump the platform's OpenAPI document and regenerate the web UI's typed client from it.

    .venv/bin/python frontend/scripts/openapi.py          # write openapi.json + src/api/schema.ts
    .venv/bin/python frontend/scripts/openapi.py --check  # exit 1 when either is stale

The document comes from the app factory itself (``create_app(...).openapi()``: no server, no
database); ``openapi-typescript`` (npm) turns it into ``src/api/schema.ts``, the types the axios
client in ``src/api/client.ts`` is checked against. ``tests/unit/test_webui_client.py`` runs the
check, so a route change without a regenerated client fails the suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FRONTEND = Path(__file__).resolve().parent.parent
DOCUMENT = FRONTEND / "openapi.json"
SCHEMA = FRONTEND / "src" / "api" / "schema.ts"


def document() -> dict[str, Any]:
    """The OpenAPI document of an app built with throw-away settings."""
    from waza.gateway.app import create_app
    from waza.settings import Settings

    with tempfile.TemporaryDirectory() as home:
        app = create_app(Settings(home=Path(home)))
        return app.openapi()


def document_text() -> str:
    return json.dumps(document(), indent=1, sort_keys=True) + "\n"


def typescript(document_path: Path) -> str:
    """``openapi-typescript`` output for a document (the frontend's node_modules)."""
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "schema.ts"
        subprocess.run(
            [
                "npx",
                "--no-install",
                "openapi-typescript",
                str(document_path),
                "--default-non-nullable=false",  # a field with a default may be left out
                "-o",
                str(target),
            ],
            cwd=FRONTEND,
            check=True,
            capture_output=True,
        )
        return target.read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the files are stale")
    args = parser.parse_args(argv)
    text = document_text()
    if args.check:
        stale = []
        if not DOCUMENT.is_file() or DOCUMENT.read_text() != text:
            stale.append(str(DOCUMENT))
        elif not SCHEMA.is_file() or SCHEMA.read_text() != typescript(DOCUMENT):
            stale.append(str(SCHEMA))
        if stale:
            print(f"stale: {', '.join(stale)}; run frontend/scripts/openapi.py", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA.write_text(typescript(DOCUMENT))
    print(f"wrote {DOCUMENT} and {SCHEMA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
