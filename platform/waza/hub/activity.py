"""Jupyter Server extension for single-user servers: a busy kernel counts as activity.

The hub's idle culler stops servers whose last activity is older than its timeout. Jupyter
Server counts requests and kernel messages, so a kernel computing for an hour in silence
looks idle. Every ``WAZA_BUSY_CHECK_SECONDS`` (default 30) this extension stamps
``web_app.settings["waza_busy_kernels_last_activity"]`` while any kernel is busy; Jupyter
Server adds every ``*_last_activity`` setting to the activity it reports to the hub, so such
servers are spared. `waza.hub.config` enables it for every single-user server.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

SETTING = "waza_busy_kernels_last_activity"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "waza.hub.activity"}]


def busy_kernels(kernel_manager: Any) -> int:
    """How many kernels report ``execution_state == "busy"``."""
    busy = 0
    for kernel_id in list(kernel_manager.list_kernel_ids()):
        try:
            if getattr(kernel_manager.get_kernel(kernel_id), "execution_state", "") == "busy":
                busy += 1
        except KeyError:  # shut down meanwhile
            continue
    return busy


def mark_if_busy(serverapp: Any) -> bool:
    """Stamp activity now if a kernel is busy; returns whether it did."""
    if busy_kernels(serverapp.kernel_manager):
        serverapp.web_app.settings[SETTING] = datetime.now(UTC)
        return True
    return False


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from tornado.ioloop import PeriodicCallback

    seconds = float(os.environ.get("WAZA_BUSY_CHECK_SECONDS", "30"))

    def check() -> None:
        mark_if_busy(serverapp)

    callback = PeriodicCallback(check, seconds * 1000)
    callback.start()
    serverapp.web_app.settings["waza_busy_kernels_callback"] = callback
    serverapp.log.info("waza: busy kernels count as activity (checked every %.0f s)", seconds)
