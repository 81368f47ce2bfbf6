"""Single-user servers of the embedded default: local processes, homes under ``$WAZA_HOME/users``.

`SimpleLocalProcessSpawner` runs every server as the hub's own OS user, so it gives no
isolation between users: right for one machine and one team, wrong for production, where
DockerSpawner or KubeSpawner take its place (``docs/deployment.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner

# JupyterLab asks to fetch news from the internet on first start; platforms here are offline.
LAB_DEFAULTS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class WazaSpawner(SimpleLocalProcessSpawner):
    """A local process per user, home ``$WAZA_HOME/users/<name>``, JupyterLab by default."""

    def _seed_home(self) -> None:
        """Create the home and write default lab settings the user has not set yet."""
        home = Path(self.home_dir)
        home.mkdir(parents=True, exist_ok=True)
        settings_dir = home / ".jupyter" / "lab" / "user-settings"
        for relative, values in LAB_DEFAULTS.items():
            path = settings_dir / relative
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(values, indent=2))

    async def start(self) -> Any:
        self._seed_home()
        return await super().start()
