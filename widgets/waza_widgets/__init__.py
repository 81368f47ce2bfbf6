"""waza's notebook widgets: one-line panels over the typed client `waza.client.Client`.

    from waza_widgets import ModelBrowser, DeployPanel, ChatPlayground
    ModelBrowser()

Inside the hub every panel works with no configuration (the notebook's hub token); elsewhere
pass ``client=Client(url, token)`` or set ``WAZA_API_URL``/``WAZA_API_KEY``. The Panel admin
dashboard is :mod:`waza_widgets.admin` (the hub service ``waza-admin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "CatalogBrowser",
    "ChatPlayground",
    "ClusterMonitor",
    "DeployPanel",
    "ModelBrowser",
    "VectorSearch",
]

_WHERE = {
    "CatalogBrowser": "waza_widgets.catalog",
    "ChatPlayground": "waza_widgets.chat",
    "ClusterMonitor": "waza_widgets.cluster",
    "DeployPanel": "waza_widgets.deploy",
    "ModelBrowser": "waza_widgets.models",
    "VectorSearch": "waza_widgets.vectors",
}

if TYPE_CHECKING:
    from waza_widgets.catalog import CatalogBrowser
    from waza_widgets.chat import ChatPlayground
    from waza_widgets.cluster import ClusterMonitor
    from waza_widgets.deploy import DeployPanel
    from waza_widgets.models import ModelBrowser
    from waza_widgets.vectors import VectorSearch


def __getattr__(name: str) -> Any:
    """Import a panel's module on first use (bqplot only for the cluster monitor)."""
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'waza_widgets' has no attribute {name!r}")
