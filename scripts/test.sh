#!/usr/bin/env bash
# The whole test suite: lint, types, then the tests on SQLite and on PostgreSQL (see below).
# Installs what it needs (venv, Python packages, etcd, a PostgreSQL role); safe to re-run.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k auth`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
. .venv/bin/activate
export WAZA_REQUIRE_ETCD=1

echo "== ruff"  # two commands: a failure inside `a && b` would not stop a `set -e` script
ruff check .
ruff format --check .
echo "== mypy"; mypy
echo "== vitest (the JupyterLab extension's data layer, ~3 s)"
(cd jupyter_ext && npx --no-install vitest run)
echo "== vitest (the web UI's components and typed client, ~20 s)"
(cd frontend && npx --no-install vitest run)
echo "== eslint (the web UI, ~8 s)"
(cd frontend && npx --no-install eslint --max-warnings 0 .)
# The tests on the Ray cluster (marked `ray`: serving, grounded RAG, widgets, App Garden e2e,
# load) run in a pytest process of their own, one at a time on one Ray head, on PostgreSQL only
# (Ray does not depend on the database; the serving service's SQL runs on both databases
# through tests/unit/test_serving_api.py). That process starts first and runs next to both
# passes of everything else, which run on two xdist workers, a test file per worker at a time
# (module fixtures such as live servers are built once): most tests wait on subprocesses, so
# this roughly halves the wall time on 2 cores.
workers=(-n "${WAZA_TEST_WORKERS:-2}" --dist loadfile -m "not ray")
echo "== pytest, Ray tests on postgresql (in the background, log in .pytest-ray.log)"
WAZA_TEST_DB=postgresql python -m pytest -q -m ray "$@" >.pytest-ray.log 2>&1 &
ray_tests=$!
status=0
echo "== pytest on sqlite (all but the Ray tests)"
WAZA_TEST_DB=sqlite python -m pytest -q "${workers[@]}" "$@" || status=$?
# The stack and browser tests (marked `single_db`: hub, Lab, web UI) test no database code:
# they run once, on SQLite above, the database `waza up` uses by default.
echo "== pytest on postgresql (all but the Ray and the stack/browser tests)"
WAZA_TEST_DB=postgresql python -m pytest -q "${workers[@]}" -m "not ray and not single_db" "$@" \
  || status=$?
wait "$ray_tests" || { rc=$?; [ "$rc" -eq 5 ] || status=$rc; }  # 5: none selected
echo "== pytest on postgresql, Ray tests"
cat .pytest-ray.log
exit "$status"
