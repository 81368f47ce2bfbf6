#!/usr/bin/env bash
# Install (if needed) and start waza on the embedded default. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/waza up "$@"
