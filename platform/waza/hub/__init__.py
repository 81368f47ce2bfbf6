"""JupyterHub integration: the code `hub_config/jupyterhub_config.py` and `waza up` need.

- :mod:`waza.hub.options`: the stack's ports, URLs and hub settings (``WAZA_*`` environment).
- :mod:`waza.hub.config`: applies them to a JupyterHub config object (proxy, services, roles,
  spawner, culler, templates).
- :mod:`waza.hub.authenticator`: hub logins checked by the platform API (one identity).
- :mod:`waza.hub.spawner`: local single-user servers with homes under ``$WAZA_HOME/users``.
- :mod:`waza.hub.activity`: single-user server extension; busy kernels count as activity.
- :mod:`waza.hub.identity`: hub tokens and OAuth for the API (used by ``gateway.hub_auth``).
- :mod:`waza.hub.routes`: the API's pages under its hub prefix (OAuth callback, status).
- :mod:`waza.hub.runner`, :mod:`waza.hub.state`, :mod:`waza.hub.status`: start, stop, record
  and inspect the whole stack (`waza up | down | status`).
"""
