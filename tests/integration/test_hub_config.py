"""The hub integration's pieces in process: config, OAuth state, prefix routing, busy kernels,
and the stack runner's bookkeeping (no hub started here; the live tests are the other modules)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from traitlets.config import Config

from waza.gateway.hub_auth import ServicePrefix, is_hub_token, safe_next
from waza.hub import activity, runner
from waza.hub import state as stack_state
from waza.hub.config import api_environment, configure, platform_routes
from waza.hub.identity import HubIdentity, OAuthStateError
from waza.hub.options import HubOptions
from waza.hub.status import stack_status
from waza.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[2] / "hub_config" / "templates"


@pytest.fixture
def options(tmp_path: Path) -> HubOptions:
    return HubOptions(home=tmp_path, public_port=18123, api_port=17777, stack_token="t" * 64)


def test_options_round_trip_through_the_environment(
    options: HubOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in options.env().items():
        monkeypatch.setenv(key, value)
    again = HubOptions.from_env(Settings())  # type: ignore[call-arg]
    assert again == options
    assert again.url == "http://127.0.0.1:18123"


def test_configure_file_flavour(options: HubOptions) -> None:
    c = Config()
    configure(c, options, TEMPLATES)
    assert c.JupyterHub.proxy_class == "traefik_file"
    assert c.JupyterHub.bind_url == "http://127.0.0.1:18123"
    assert c.TraefikProxy.extra_dynamic_config == platform_routes(options)
    assert c.JupyterHub.template_paths == [str(TEMPLATES)]
    services = {s["name"]: s for s in c.JupyterHub.services}
    api = services["waza"]
    assert api["command"][1:4] == ["-m", "waza", "api"] and api["command"][-1] == "17777"
    assert api["environment"]["WAZA_PUBLIC_URL"] == "http://127.0.0.1:18123"
    assert set(services) == {"waza", "waza-admin", "idle-culler", "waza-stack"}
    admin = services["waza-admin"]
    assert admin["command"][1:] == ["-m", "waza_widgets.admin"]
    assert admin["url"] == options.admin_url and admin["oauth_redirect_uri"].endswith("/login")
    assert admin["oauth_client_allowed_scopes"] == ["access:services!service=waza"]
    assert admin["environment"]["WAZA_API_URL"] == "http://127.0.0.1:17777/api"
    assert "WAZA_API_KEY" not in admin["environment"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["user"]["scopes"] == ["self", "access:services"]
    assert "delete:servers" in roles["idle-culler"]["scopes"]
    assert not any(s.startswith(("admin", "tokens")) for s in roles["waza-stack"]["scopes"])
    assert c.Spawner.environment["WAZA_API_URL"] == "http://127.0.0.1:18123/api"
    assert "access:services!service=waza" in c.Spawner.server_token_scopes
    extension = Path(c.Spawner.environment["JUPYTER_CONFIG_PATH"]) / "jupyter_server_config.d"
    assert "waza.hub.activity" in (extension / "waza-hub.json").read_text()
    assert c.WazaSpawner.home_dir_template == str(options.home / "users" / "{username}")
    if os.geteuid() == 0:
        assert c.Spawner.args == ["--allow-root"]


def test_configure_etcd_flavour_and_no_culler(options: HubOptions) -> None:
    c = Config()
    etcd = HubOptions(home=options.home, etcd_url="http://127.0.0.1:2379", idle_timeout=0)
    configure(c, etcd)
    assert c.JupyterHub.proxy_class == "traefik_etcd"
    assert c.TraefikEtcdProxy.etcd_url == "http://127.0.0.1:2379"
    assert "idle-culler" not in {s["name"] for s in c.JupyterHub.services}


def test_api_service_environment_keeps_hub_secrets_out(
    options: HubOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAZA_TRAEFIK_API_PASSWORD", "secret")
    monkeypatch.setenv("WAZA_HUB_STACK_TOKEN", "secret")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "not-for-the-api")
    monkeypatch.setenv("WAZA_DATABASE_URL", "sqlite:///x.db")
    env = api_environment(options)
    assert "secret" not in env.values() and "JUPYTERHUB_API_TOKEN" not in env
    assert env["WAZA_DATABASE_URL"] == "sqlite:///x.db"
    assert (env["WAZA_HOST"], env["WAZA_PORT"]) == ("127.0.0.1", "17777")


def test_authenticator_keeps_username_case() -> None:
    from waza.hub.authenticator import WazaAuthenticator

    auth = WazaAuthenticator(api_url="http://127.0.0.1:1/api")
    assert auth.normalize_username(" Alice.B@x ") == "Alice.B@x"
    assert auth.allow_all is True


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> HubIdentity:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "service-token")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", "waza")
    monkeypatch.setenv("JUPYTERHUB_CLIENT_ID", "service-waza")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/services/waza/")
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:1/hub/api")
    return HubIdentity(cache_ttl=5)


def test_oauth_state_round_trip_and_pkce(hub: HubIdentity) -> None:
    url, cookie = hub.start_login("/services/waza/api/docs")
    assert url.startswith("/hub/api/oauth2/authorize?client_id=service-waza")
    assert "code_challenge_method=S256" in url
    state = url.split("state=")[1].split("&")[0]
    verifier, next_url = hub.check_state(state, cookie)
    assert next_url == "/services/waza/api/docs" and len(verifier) >= 43
    assert hub.cookie_name == "service-waza"
    assert hub.required_scopes == {"access:services!service=waza"}


def test_oauth_state_rejects_tampering(hub: HubIdentity, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cookie = hub.start_login("/x")
    state = url.split("state=")[1].split("&")[0]
    payload, signature = cookie.rsplit(".", 1)
    for bad_state, bad_cookie in [
        ("other", cookie),
        (state, None),
        (state, payload + ".AAAA"),
        (state, payload[:-2] + "xx." + signature),
    ]:
        with pytest.raises(OAuthStateError):
            hub.check_state(bad_state, bad_cookie)
    monkeypatch.setattr(time, "time", lambda: 10**10)
    with pytest.raises(OAuthStateError, match="too long"):
        hub.check_state(state, cookie)


def test_token_kinds_and_safe_redirects() -> None:
    assert is_hub_token("0123456789abcdef0123456789abcdef")
    assert not is_hub_token("wzp_" + "a" * 43)
    assert not is_hub_token("aaa.bbb.ccc")
    assert safe_next("/services/waza/x?y=1", "/d") == "/services/waza/x?y=1"
    for bad in ("//evil.example/x", "https://evil.example", "/\\evil", "javascript:x"):
        assert safe_next(bad, "/d") == "/d"


def test_service_prefix_routes_to_the_same_app() -> None:
    app = FastAPI()

    @app.get("/api/where")
    def where() -> dict[str, str]:
        return {"ok": "yes"}

    wrapped = ServicePrefix(app, "/services/waza/")
    with TestClient(wrapped) as client:  # type: ignore[arg-type]
        assert client.get("/api/where").json() == {"ok": "yes"}
        assert client.get("/services/waza/api/where").json() == {"ok": "yes"}
        assert client.get("/services/waza-admin/api/where").status_code == 404


def test_busy_kernels_count_as_activity() -> None:
    kernels = {"a": SimpleNamespace(execution_state="idle")}
    manager = SimpleNamespace(
        list_kernel_ids=lambda: list(kernels), get_kernel=lambda k: kernels[k]
    )
    server: Any = SimpleNamespace(kernel_manager=manager, web_app=SimpleNamespace(settings={}))
    assert activity.mark_if_busy(server) is False
    assert activity.SETTING not in server.web_app.settings
    kernels["b"] = SimpleNamespace(execution_state="busy")
    assert activity.mark_if_busy(server) is True
    assert server.web_app.settings[activity.SETTING].tzinfo is not None
    assert activity.SETTING.endswith("_last_activity")  # what Jupyter Server adds up


def test_stack_bookkeeping_without_a_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert stack_status(tmp_path).running is False
    assert runner.stop_recorded(tmp_path) is None
    # A record whose pids now belong to someone else: `waza down` must not touch them.
    record = stack_state.StackState(
        pid=os.getpid(), hub_pid=os.getppid(), url="http://127.0.0.1:1", public_port=1,
        hub_port=2, api_port=3, traefik_api_port=4, traefik_api_password="x", stack_token="y",
        proxy="file", etcd_url="", log_path="", started_at=time.time() - 3600 * 24 * 365,
    )  # fmt: skip
    stack_state.save(tmp_path, record)
    assert oct(stack_state.state_path(tmp_path).stat().st_mode & 0o777) == "0o600"
    assert stack_state.load(tmp_path) == record
    assert runner.stop_recorded(tmp_path) == record  # nothing killed: we are still here
    assert not stack_state.state_path(tmp_path).exists()


def test_hub_config_file_falls_back_to_a_generated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAZA_HUB_CONFIG", str(tmp_path / "mine.py"))
    assert runner.hub_config_file(tmp_path) == tmp_path / "mine.py"
    monkeypatch.delenv("WAZA_HUB_CONFIG")
    found = runner.hub_config_file(tmp_path)
    assert found.name == "jupyterhub_config.py" and found.is_file()


def test_plan_uses_free_internal_ports(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)  # type: ignore[call-arg]
    stack = runner.Stack.plan(settings, port=18555)
    o = stack.options
    assert o.public_port == 18555
    assert len({o.hub_port, o.api_port, o.traefik_api_port, o.public_port}) == 4
    assert len(o.stack_token) == 64
    assert sys.executable  # the hub runs with this interpreter
