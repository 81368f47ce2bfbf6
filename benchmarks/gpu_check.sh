#!/usr/bin/env bash
# Serving on one NVIDIA H100/H200 in under 8 minutes (see benchmarks/gpu_check.py):
# the transformers engine on CUDA through Ray Serve vs called directly (tokens/s ratio), and two
# replicas of 0.5 GPU each placed on the one card.
#
# Needs a Python with waza installed and CUDA builds of torch (the CPU wheel pinned for this
# project's dev machines will not do): PYTHON=/path/to/python benchmarks/gpu_check.sh
# Output: one JSON object on stdout and in $OUT/gpu_check.json (or ./gpu_check.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout 470 "$PY" -m benchmarks.gpu_check --json "${OUT:-.}/gpu_check.json" "$@"
