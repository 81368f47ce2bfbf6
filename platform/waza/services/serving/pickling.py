"""Thread-safe "pickle by value" registrations for Ray Serve in a multi-threaded process.

Ray Serve registers a module with cloudpickle, pickles a class and unregisters the module again
whenever it builds or decodes a deployment config (``RequestRouterConfig`` and friends). In the
API process that happens on several threads at once — deploys, handles receiving config
updates — and cloudpickle's registry is a plain set: two threads register the same module, one
unregisters it, and the other's unregister fails with "... is not registered for pickle by
value", failing a deploy (seen in CI).

`make_registry_thread_safe` counts registrations per module under a lock: the module stays
registered until its last user unregisters it. Called once before Serve is used.
"""

from __future__ import annotations

import threading
import types
from collections import Counter
from typing import Any

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_installed = False


def make_registry_thread_safe() -> None:
    """Replace ``ray.cloudpickle``'s register/unregister with counting ones (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        from ray import cloudpickle
        from ray.cloudpickle import cloudpickle as implementation

        register = implementation.register_pickle_by_value
        unregister = implementation.unregister_pickle_by_value

        def counted_register(module: types.ModuleType) -> Any:
            with _lock:
                register(module)  # validates the module; a set, so adding twice is harmless
                _counts[module.__name__] += 1

        def counted_unregister(module: types.ModuleType) -> Any:
            with _lock:
                if _counts[module.__name__] > 1:
                    _counts[module.__name__] -= 1
                    return
                _counts.pop(module.__name__, None)
                unregister(module)

        for target in (cloudpickle, implementation):
            target.register_pickle_by_value = counted_register  # type: ignore[attr-defined]
            target.unregister_pickle_by_value = counted_unregister  # type: ignore[attr-defined]
        _installed = True
