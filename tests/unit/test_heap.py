"""`waza.heap`: freed memory stays in the process for the next call instead of being faulted in
again. Each case runs in a fresh interpreter, since the settings are process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from waza.heap import is_glibc

pytestmark = pytest.mark.skipif(not is_glibc(), reason="the settings are glibc's")

# What a milvus-lite search does per call, in a worker thread as in the server: a dict keyed by
# every row and lists over every row (~8 MB at 100k rows), built and dropped. Prints the minor
# page faults of each call after the first few.
WORKLOAD = """
import json, resource, sys, threading
from waza.heap import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tune" else None
keys = [f"row-{i:08d}" for i in range(100_000)]
faults = []
def calls():
    for n in range(12):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        latest = dict.fromkeys(list(keys))
        order = sorted(latest, reverse=True)
        del latest, order
        if n >= 4:
            faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
worker = threading.Thread(target=calls)
worker.start()
worker.join()
print(json.dumps({"applied": applied, "faults": faults}))
"""


def run_workload(mode: str, env: dict[str, str] | None = None) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    clean.pop("GLIBC_TUNABLES", None)
    out = subprocess.run(
        [sys.executable, "-c", WORKLOAD, mode],
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_same_temporaries_are_not_faulted_in_again_on_every_call() -> None:
    default = run_workload("default")
    tuned = run_workload("tune")
    assert tuned["applied"] is True
    # the control: glibc's defaults give the memory back after each call and fault it in again
    assert min(default["faults"]) > 500, default
    assert max(tuned["faults"]) < 20, tuned


@pytest.mark.parametrize(
    "env",
    [
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
    ],
)
def test_explicit_glibc_settings_win(env: dict[str, str]) -> None:
    result = run_workload("tune", env)
    assert result["applied"] is False
    assert min(result["faults"]) > 500, result  # the explicit (small) threshold is in force
