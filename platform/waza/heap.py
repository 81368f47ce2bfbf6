"""Keep freed memory for reuse: glibc malloc settings for the long-running API server.

By default glibc gives memory back to the kernel as soon as it can: a block over 128 KiB is
`mmap`ed and unmapped again when freed, and the top of a heap is trimmed once more than 128 KiB
of it is free. A server that builds and drops the same large temporaries on every call then
faults the same pages in again on every call. milvus-lite is the case in point: each search
builds ~8 MB of temporaries (a dict and lists over every row) and frees them, so at 100k rows
each search took ~2 000 page faults, and 35.1 ms instead of 31.6 ms, on the benchmark VM
(`benchmarks/heap.py`, docs/performance.md).

`keep_freed_memory` raises the thresholds, so freed blocks stay in the process and the next call
reuses them: no page faults, the same results. The price is that the process keeps its peak heap
instead of shrinking after each call. Explicit glibc settings (the ``MALLOC_*_`` variables or
``glibc.malloc`` tunables) win, and other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os

# mallopt() parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {
    M_MMAP_THRESHOLD: 32 << 20,  # blocks below 32 MiB (glibc's maximum) come from the heap
    M_TRIM_THRESHOLD: 128 << 20,  # trim a heap's top only when 128 MiB of it is free
    M_TOP_PAD: 16 << 20,  # grow a heap 16 MiB at a time
}
EXPLICIT = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_MMAP_MAX_",
)


def is_glibc() -> bool:
    """Whether this process runs on glibc (the settings are glibc's `mallopt`)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # no such name / no confstr on this system
        return False


def keep_freed_memory() -> bool:
    """Apply `SETTINGS` to this process; False when skipped (explicit settings, not glibc)."""
    explicit = any(os.environ.get(name) for name in EXPLICIT)
    if explicit or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") or not is_glibc():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
