"""The Jupyter Server extension app: settings and one platform client per API URL."""

from __future__ import annotations

import os
import threading

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode

from waza.client import Client


class WazaJupyterApp(ExtensionApp):
    """Serves the ``/waza/`` REST API that the JupyterLab panels use."""

    name = "waza_jupyter"
    load_other_extensions = True

    api_url = Unicode(
        "",
        config=True,
        help="The waza platform URL (default: WAZA_API_URL, then the CLI profile).",
    )

    def initialize_settings(self) -> None:
        self._clients: dict[tuple[str, str], Client] = {}
        self._lock = threading.Lock()

    def initialize_handlers(self) -> None:
        from waza_jupyter.handlers import handlers

        self.handlers.extend(handlers())

    def client(self, url_override: str | None = None) -> Client:
        """The platform client for this server's user (one per API URL, reused).

        Under JupyterHub the server's own hub token is the credential (never WAZA_API_KEY or a
        saved profile, which could belong to someone else); elsewhere `Client` resolves it.
        """
        url = url_override or self.api_url or None
        hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
        key = (url or "", hub_token or os.environ.get("WAZA_API_KEY") or "")
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = Client(url, hub_token) if hub_token else Client(url)
                self._clients[key] = client
            return client

    async def stop_extension(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
