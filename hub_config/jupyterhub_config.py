"""JupyterHub configuration of the waza platform.

Everything comes from waza's settings and the stack's ``WAZA_*`` variables (see
``waza.hub.options``); `waza up` runs the hub with this file. Run by hand:

    jupyterhub -f hub_config/jupyterhub_config.py

Overrides go below the `configure` call, or in a file named by ``WAZA_HUB_EXTRA_CONFIG``
(for example a container spawner: see docs/deployment.md).
"""

import os
from pathlib import Path

from waza.hub.config import configure

c = get_config()  # type: ignore[name-defined]  # noqa: F821 (provided by traitlets)

configure(c, templates=Path(__file__).resolve().parent / "templates")

extra = os.environ.get("WAZA_HUB_EXTRA_CONFIG")
if extra:
    load_subconfig(extra)  # type: ignore[name-defined]  # noqa: F821
