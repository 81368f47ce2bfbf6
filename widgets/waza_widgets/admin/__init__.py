"""The admin dashboard (Panel): `AdminDashboard` and the hub service that serves it.

`python -m waza_widgets.admin` runs it as the JupyterHub-managed service ``waza-admin`` under
``/services/waza-admin/`` (hub OAuth; platform admins only, everyone else gets 403), or with
``--standalone --port P`` on this machine as whoever `waza.client.Client()` resolves to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waza_widgets.admin.app import AdminDashboard

__all__ = ["AdminDashboard"]


def __getattr__(name: str) -> Any:
    if name == "AdminDashboard":
        from waza_widgets.admin.app import AdminDashboard

        return AdminDashboard
    raise AttributeError(name)
