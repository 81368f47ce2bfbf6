#!/usr/bin/env bash
# Make the external services the integration tests use available on this machine:
# the Debian etcd binary (tests start their own etcd) and a running PostgreSQL 15 with a
# `waza` role (password `waza`, may create databases). Safe to re-run.
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root su postgres -s /bin/sh -c "$1"; }

if ! command -v etcd >/dev/null 2>&1; then
  as_root apt-get install -y -q etcd-server >/dev/null 2>&1 \
    || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q etcd-server >/dev/null; }
  as_root systemctl disable --now etcd >/dev/null 2>&1 || true
fi

# Debian chromium for the browser tests (Playwright drives it; no browser download).
command -v chromium >/dev/null 2>&1 || as_root apt-get install -y -q chromium >/dev/null

if command -v pg_ctlcluster >/dev/null 2>&1; then
  as_root pg_ctlcluster 15 main start 2>/dev/null || true
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done
  as_postgres "psql -q -v ON_ERROR_STOP=1 -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'waza') THEN CREATE ROLE waza LOGIN CREATEDB PASSWORD 'waza'; END IF; END \\\$\\\$;\"" >/dev/null
  # DROP DATABASE ... WITH (FORCE) in the tests may have to end an autovacuum worker.
  as_postgres "psql -q -c 'GRANT pg_signal_backend TO waza'" >/dev/null
else
  echo "PostgreSQL is not installed: the PostgreSQL pass of the tests cannot run" >&2
  exit 1
fi
