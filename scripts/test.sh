#!/usr/bin/env bash
# The whole test suite: lint, types, then every test once on SQLite and once on PostgreSQL.
# Installs what it needs (venv, Python packages, etcd, a PostgreSQL role); safe to re-run.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k auth`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
. .venv/bin/activate
export WAZA_REQUIRE_ETCD=1

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
# Two workers, one test file each at a time (module fixtures such as live servers and Ray
# deployments are built once per file): most tests wait on subprocesses, so this roughly halves
# the wall time on 2 cores.
for db in sqlite postgresql; do
  echo "== pytest on $db"
  WAZA_TEST_DB=$db python -m pytest -q -n "${WAZA_TEST_WORKERS:-2}" --dist loadfile "$@"
done
