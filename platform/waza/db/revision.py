"""Generate a new Alembic revision from the ORM models (a developer tool).

    python -m waza.db.revision "add cluster tables"

It upgrades a throw-away SQLite database to head, autogenerates the difference against
`waza.db.models`, and writes `migrations/versions/<NNNN>_<slug>.py`. Review the file before
committing it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from waza.db.engine import Database
from waza.db.migrate import MIGRATIONS_DIR, alembic_config, upgrade


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if not args:
        raise SystemExit("usage: python -m waza.db.revision 'message'")
    versions = MIGRATIONS_DIR / "versions"
    numbers = [int(p.name[:4]) for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py")]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'rev.db'}")
        upgrade(db)
        cfg = alembic_config(db)
        cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        command.revision(cfg, message=" ".join(args), autogenerate=True, rev_id=rev_id)
        db.dispose()


if __name__ == "__main__":
    main()
