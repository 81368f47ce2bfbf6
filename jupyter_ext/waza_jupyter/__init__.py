"""waza in JupyterLab: a Jupyter Server extension (REST under ``<base_url>/waza/``) and the
prebuilt JupyterLab extension ``waza-jupyter`` (the left-sidebar panels).

The server extension calls the platform through `waza.client.Client` as the user the server
belongs to: under JupyterHub with the server's own hub token, in a plain ``jupyter lab`` with
``WAZA_API_URL`` + ``WAZA_API_KEY`` (or the ``waza`` CLI profile of this machine).
"""

from __future__ import annotations

from typing import Any

from waza_jupyter.app import WazaJupyterApp

__version__ = "0.1.0"
__all__ = ["WazaJupyterApp", "__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "waza_jupyter", "app": WazaJupyterApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "waza-jupyter"}]
