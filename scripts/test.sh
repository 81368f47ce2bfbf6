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
# Two workers, one test file each at a time (module fixtures such as live servers are built
# once per file; the tests on the Ray cluster form one group on one worker): most tests wait on
# subprocesses, so this roughly halves the wall time on 2 cores. The Ray tests (serving, marked
# `ray`) run in the PostgreSQL pass only: Ray does not depend on the database, and the serving
# service's SQL runs on both databases through tests/unit/test_serving_api.py.
workers=(-n "${WAZA_TEST_WORKERS:-2}" --dist loadgroup)
echo "== pytest on sqlite"
WAZA_TEST_DB=sqlite python -m pytest -q "${workers[@]}" -m "not ray" "$@"
echo "== pytest on postgresql"
WAZA_TEST_DB=postgresql python -m pytest -q "${workers[@]}" "$@"
