"""pytest-jupyter's Jupyter Server fixtures (`jp_fetch`, `jp_serverapp`...), for tests/lab only.

Imported here rather than listed in the root `pytest_plugins`, so that its autouse fixtures
(an event loop, server clean-up) apply to these tests alone.
"""

from pytest_jupyter.jupyter_server import *  # noqa: F403
