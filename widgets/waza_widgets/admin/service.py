"""Serve the admin dashboard with Panel, as a JupyterHub-managed service or standalone.

As the hub service ``waza-admin`` (the hub sets ``JUPYTERHUB_*``; waza's hub config adds
``WAZA_API_URL`` and ``WAZA_PUBLIC_URL``): Panel's generic OAuth provider logs the browser in
through the hub (authorization code with PKCE and a state cookie), the hub token it gets is
kept in an encrypted cookie, and every session builds its own `waza.client.Client` with that
token: the dashboard acts as the signed-in user. Only platform admins are let in; anyone else
gets Panel's 403 page. The hub grants the token ``access:services!service=waza`` too (the
service's ``oauth_client_allowed_scopes``), which is what lets it call the platform API.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import secrets
import signal
import time
from typing import Any
from urllib.parse import urlsplit

import panel as pn
from cryptography.fernet import Fernet

from waza.client import Client, WazaAPIError
from waza_widgets.admin.app import AdminDashboard

log = logging.getLogger("waza.admin")
ADMIN_ROLE = "admin"
_verdicts: dict[str, tuple[float, bool]] = {}  # token hash -> (expires, is admin)


def is_admin(api_url: str, token: str | None, ttl: float = 30.0) -> bool:
    """Whether the token's user is a platform admin (asked of the platform, cached briefly)."""
    if not token:
        return False
    key = hashlib.sha256(token.encode()).hexdigest()
    cached = _verdicts.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        with Client(api_url, token) as client:
            verdict = ADMIN_ROLE in client.auth.me().roles
    except WazaAPIError as exc:
        log.warning("admin check failed: %s", exc)
        verdict = False
    _verdicts[key] = (time.monotonic() + ttl, verdict)
    return verdict


def session_view(api_url: str, token: str | None, interval_ms: int = 2000) -> Any:
    """One browser session's dashboard, acting with ``token``."""
    client = Client(api_url, token)
    dashboard = AdminDashboard(client, interval_ms=interval_ms)
    dashboard.start_live()
    pn.state.on_session_destroyed(lambda _ctx: client.close())
    return dashboard.view


def origins(public_url: str) -> list[str]:
    """Hosts the browser may open the dashboard's websocket from."""
    parts = urlsplit(public_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    names = {host} | ({"127.0.0.1", "localhost"} if host in {"127.0.0.1", "localhost"} else set())
    return sorted(f"{name}:{port}" for name in names)


def hub_settings(env: dict[str, str]) -> dict[str, Any]:
    """`pn.serve` keyword arguments for the hub service, from its environment."""
    prefix = env["JUPYTERHUB_SERVICE_PREFIX"].rstrip("/")  # /services/waza-admin
    service = urlsplit(env["JUPYTERHUB_SERVICE_URL"])
    hub_api = env["JUPYTERHUB_API_URL"].rstrip("/")  # the hub's own API, on loopback
    name = env.get("JUPYTERHUB_SERVICE_NAME", "waza-admin")
    platform = env.get("WAZA_PLATFORM_SERVICE", "waza")
    return {
        "address": service.hostname or "127.0.0.1",
        "port": service.port,
        "prefix": prefix,
        "websocket_origin": origins(env.get("WAZA_PUBLIC_URL", "http://127.0.0.1:8000")),
        "oauth_provider": "generic",
        "oauth_key": env["JUPYTERHUB_CLIENT_ID"],
        "oauth_secret": env["JUPYTERHUB_API_TOKEN"],
        # Panel's login handler; waza's hub config registers this same relative path (the
        # hub's JUPYTERHUB_OAUTH_CALLBACK_URL names the default .../oauth_callback instead)
        "oauth_redirect_uri": f"{prefix}/login",
        "oauth_extra_params": {
            "AUTHORIZE_URL": "/hub/api/oauth2/authorize",
            "TOKEN_URL": f"{hub_api}/oauth2/token",
            "USER_URL": f"{hub_api}/user",
            "USER_KEY": "name",
            "scope": [f"access:services!service={name}", f"access:services!service={platform}"],
        },
        "cookie_secret": secrets.token_urlsafe(32),
        "oauth_encryption_key": Fernet.generate_key().decode(),
    }


def serve(settings: dict[str, Any], api_url: str, *, check_admin: bool) -> None:
    """Run the Panel server until SIGINT or SIGTERM."""
    if check_admin:
        pn.config.authorize_callback = lambda _user_info: is_admin(api_url, pn.state.access_token)
    token = None if check_admin else Client().transport.token

    def app() -> Any:
        return session_view(api_url, pn.state.access_token if check_admin else token)

    server = pn.serve(
        {"/": app}, title="waza admin", show=False, start=False, threaded=False, **settings
    )

    def stop(*_: object) -> None:
        server.io_loop.add_callback_from_signal(server.io_loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    log.info("waza admin dashboard on %s:%s%s", settings.get("address"), settings.get("port"),
             settings.get("prefix", ""))  # fmt: skip
    server.io_loop.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m waza_widgets.admin", description=__doc__)
    parser.add_argument("--standalone", action="store_true", help="no hub: Client() on this host")
    parser.add_argument("--port", type=int, default=7779)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    env = dict(os.environ)
    if args.standalone or "JUPYTERHUB_SERVICE_PREFIX" not in env:
        api_url = Client().url
        settings = {"address": args.address, "port": args.port}
        serve(settings, api_url, check_admin=False)
        return 0
    serve(hub_settings(env), env["WAZA_API_URL"], check_admin=True)
    return 0
