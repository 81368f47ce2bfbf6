"""`waza up` on the embedded default (Traefik file provider), driven over HTTP.

One stack for the module, started exactly as a user does (`python -m waza up --port P`) with no
admin password configured, so the generated one must be printed. Covers routing through
Traefik, hub logins backed by waza users, hub tokens at the API, the OAuth browser flow,
`waza status`, the kamiwaza-sdk at the public API root, a crashed API service, and a clean stop.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.authentication import UserPasswordAuthenticator
from kamiwaza_sdk.exceptions import AuthenticationError
from kamiwaza_sdk.schemas.auth import PATCreate

from tests.e2e.hubstack import (
    HubStack,
    api_login,
    create_user,
    hub_login,
    hub_token,
    start_stack,
)
from waza.hub.status import stack_status

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStack]:
    started = start_stack(tmp_path_factory.mktemp("hubstack"), admin_password=None)
    match = re.search(r"password\s+(\S+)", started.output())
    assert match, started.output()
    started.admin_password = match.group(1)
    try:
        yield started
    finally:
        survivors = started.stop("down")  # normally already stopped by the last test
        assert not survivors, f"left running after `waza down`: {survivors}"


@pytest.fixture(scope="module")
def admin(stack: HubStack) -> dict[str, str]:
    return api_login(stack.url, "admin", stack.admin_password)


@pytest.fixture(scope="module")
def bob(stack: HubStack, admin: dict[str, str]) -> tuple[str, str]:
    return "bob", create_user(stack.url, admin, "bob")


def test_up_prints_url_and_generated_admin_password_once(stack: HubStack) -> None:
    out = stack.output()
    assert f"URL       {stack.url}/hub/" in out
    assert f"API       {stack.url}/api" in out
    assert "shown once" in out
    assert stack.state()["ready_seconds"] <= 60
    reply = httpx.post(
        stack.url + "/api/auth/token",
        data={"username": "admin", "password": stack.admin_password},
    )
    assert reply.status_code == 200


def test_one_public_port_routes_hub_api_service_runtime_and_ui(stack: HubStack) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        assert http.get("/hub/api/").json()["version"]
        assert http.get("/api/ping").json()["status"] == "pong"
        assert http.get("/services/waza/api/ping").json()["status"] == "pong"
        # Not hub pages: the API answers (JSON 401), through the same port.
        reply = http.get("/runtime/models/x/v1/models")
        assert reply.headers["content-type"].startswith("application/json")
        assert reply.status_code == 401, reply.text
        # The web UI is the API process's too (built by scripts/setup.sh), any client route.
        for path in ("/ui/", "/ui/models"):
            reply = http.get(path)
            assert reply.status_code == 200, (path, reply.text[:300])
            assert reply.headers["content-type"].startswith("text/html"), path
            assert '<div id="root">' in reply.text, path
        docs = http.get("/services/waza/api/docs")
        assert docs.status_code == 200
        assert "/services/waza/api/openapi.json" in docs.text  # the prefix is the root path


def test_wrong_password_gets_login_error_and_no_session(
    stack: HubStack, bob: tuple[str, str]
) -> None:
    client, reply = hub_login(stack.url, bob[0], "not-the-password")
    assert reply.status_code == 403
    assert "Invalid username or password" in reply.text
    assert "jupyterhub-hub-login" not in client.cookies
    assert client.get("/hub/api/user").status_code == 403


def test_repeated_failures_lock_the_hub_login_too(stack: HubStack, admin: dict[str, str]) -> None:
    password = create_user(stack.url, admin, "locky")
    for _ in range(5):  # WAZA_LOGIN_MAX_FAILURES
        assert hub_login(stack.url, "locky", "wrong-password")[1].status_code == 403
    client, reply = hub_login(stack.url, "locky", password)  # right password, locked account
    assert reply.status_code == 429
    assert "Too many failed logins" in reply.text
    assert "jupyterhub-hub-login" not in client.cookies


def test_hub_login_is_platform_login_and_admin_flag_follows_waza_roles(
    stack: HubStack, bob: tuple[str, str]
) -> None:
    client, reply = hub_login(stack.url, *bob)
    assert reply.status_code == 302
    me = client.get("/hub/api/user").json()
    assert (me["name"], me["admin"]) == ("bob", False)
    admin_client, _ = hub_login(stack.url, "admin", stack.admin_password)
    assert admin_client.get("/hub/api/user").json()["admin"] is True


def test_hub_tokens_at_the_api(stack: HubStack, bob: tuple[str, str]) -> None:
    client, _ = hub_login(stack.url, *bob)
    narrow = hub_token(client, "bob", ["read:users:name!user"])
    good = hub_token(client, "bob", ["access:services!service=waza"])
    for root in ("/api", "/services/waza/api"):
        me = httpx.get(f"{stack.url}{root}/auth/users/me", headers=_bearer(good))
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["auth_method"]) == ("bob", "hub")
        denied = httpx.get(f"{stack.url}{root}/auth/users/me", headers=_bearer(narrow))
        assert denied.status_code == 403
        assert "access:services" in denied.json()["detail"]
        unknown = httpx.get(f"{stack.url}{root}/auth/users/me", headers=_bearer(uuid.uuid4().hex))
        assert (unknown.status_code, unknown.json()["detail"]) == (401, "Invalid token")
    jupyterhub_style = httpx.get(
        stack.url + "/api/auth/users/me", headers={"Authorization": f"token {good}"}
    )
    assert jupyterhub_style.json()["username"] == "bob"
    # A hub user's token acts with the waza roles: no admin rights for bob.
    assert httpx.get(stack.url + "/api/auth/users/", headers=_bearer(good)).status_code == 403


def test_browser_without_session_goes_through_hub_oauth(
    stack: HubStack, bob: tuple[str, str]
) -> None:
    client, _ = hub_login(stack.url, *bob)
    page = client.get("/services/waza/", headers={"Accept": "text/html"}, follow_redirects=True)
    assert page.status_code == 200
    assert "Signed in as <b>bob</b>" in page.text
    steps = [str(r.url) for r in page.history]
    assert any("/hub/api/oauth2/authorize" in s and "code_challenge=" in s for s in steps)
    assert client.get("/services/waza/api/auth/users/me").json()["username"] == "bob"
    # The cookie is the service's: it is not sent to (nor accepted at) other paths.
    assert client.get("/api/auth/users/me").status_code == 401
    # A non-browser request without credentials gets 401, not a redirect.
    assert httpx.get(stack.url + "/services/waza/api/auth/users/me").status_code == 401


def test_oauth_callback_rejects_a_forged_state(stack: HubStack, bob: tuple[str, str]) -> None:
    client, _ = hub_login(stack.url, *bob)
    start = client.get("/services/waza/oauth_login")
    assert start.status_code == 302
    authorize = client.get(start.headers["location"])
    callback = authorize.headers["location"]
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    assert client.get(forged).status_code == 403
    client.cookies.delete("service-waza-oauth-state")
    assert client.get(callback).status_code == 403  # no state cookie: refused as well


def test_platform_status_is_for_admins(
    stack: HubStack, admin: dict[str, str], bob: tuple[str, str]
) -> None:
    client, _ = hub_login(stack.url, "admin", stack.admin_password)
    reply = client.get(
        "/services/waza/oauth_login?next=/services/waza/platform-status", follow_redirects=True
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["api"]["state"] == "up"
    assert body["checks"]["database"] == "ok"
    assert "state" in body["ray"]
    home = client.get("/hub/home").text
    assert 'id="waza-platform-nav"' in home and 'id="waza-platform-status"' in home
    bob_client, _ = hub_login(stack.url, *bob)
    bob_home = bob_client.get("/hub/home").text
    assert "waza-platform-nav" not in bob_home and "waza-platform-status" not in bob_home
    assert (
        bob_client.get(
            "/services/waza/oauth_login?next=/services/waza/platform-status", follow_redirects=True
        ).status_code
        == 403
    )


def test_waza_status_shows_the_stack(stack: HubStack) -> None:
    done = stack.waza("status")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("hub", "api (public /api)", "api process", "traefik", "hub services"):
        assert name in done.stdout
    assert "file provider" in done.stdout
    assert "idle-culler" in done.stdout and "waza" in done.stdout


def test_kamiwaza_sdk_flows_1_and_2_at_the_public_api_root(
    stack: HubStack, admin: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "KAMIWAZA_BASE_URL",
        "KAMIWAZA_BASE_URI",
        "KAMIWAZA_API_KEY",
        "KAMIWAZA_API_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAMIWAZA_TOKEN_PATH", str(tmp_path / "token.json"))
    password = create_user(stack.url, admin, "sdkuser", admin_role=True)

    # flow 2: password session -> PAT -> use -> list -> revoke
    c = KamiwazaClient(stack.api)
    c.authenticator = UserPasswordAuthenticator("sdkuser", password, c.auth)
    me = c.auth.get_current_user()
    assert me.username == "sdkuser" and "admin" in me.roles
    r = c.auth.create_pat(
        PATCreate(name="hub-flow2", ttl_seconds=900, scope="admin", aud="kamiwaza-platform")
    )
    pc = KamiwazaClient(stack.api, api_key=r.token)
    assert pc.auth.get_current_user().sub == me.sub
    assert isinstance(pc.cluster.list_locations(), list)
    assert r.pat.jti in {p.jti for p in c.auth.list_pats().pats}

    # flow 1: the PAT from the environment
    monkeypatch.setenv("KAMIWAZA_BASE_URL", stack.api + "/")
    monkeypatch.setenv("KAMIWAZA_API_KEY", r.token)
    assert KamiwazaClient().auth.get_current_user().username == "sdkuser"

    c.auth.revoke_pat(r.pat.jti)
    with pytest.raises(AuthenticationError):
        pc.auth.get_current_user()


def test_stopped_api_service_is_reported_and_restarted_by_the_hub(stack: HubStack) -> None:
    api = stack.api_process()
    assert api is not None
    old_pid = api.pid
    api.terminate()  # exits at once; stays a zombie until the hub's next poll reaps it
    deadline = time.monotonic() + 15
    while api.is_running() and api.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status = stack_status(stack.home)
    process = next(c for c in status.components if c.name == "api process")
    assert not process.ok and not status.healthy  # `waza status` reports it at once
    assert httpx.get(stack.url + "/api/ping", timeout=5).status_code == 502  # Traefik: no backend
    deadline = time.monotonic() + 90  # the hub polls its services every ~30 s
    while "Service waza exited" not in stack.log():
        assert time.monotonic() < deadline, stack.log()[-3000:]
        time.sleep(0.5)
    while True:
        try:
            if httpx.get(stack.url + "/api/ping", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, stack.log()[-3000:]
        time.sleep(0.5)
    restarted = stack.api_process()
    assert restarted is not None and restarted.pid != old_pid
    assert stack_status(stack.home).healthy


def test_waza_down_stops_every_process(stack: HubStack) -> None:
    """Last test of the module: with a notebook server running, `waza down` ends it all."""
    client, _ = hub_login(stack.url, "admin", stack.admin_password)
    spawn = client.post(
        "/hub/api/users/admin/server", headers={"X-XSRFToken": client.cookies.get("_xsrf", "")}
    )
    assert spawn.status_code in {201, 202}, spawn.text
    deadline = time.monotonic() + 90
    while not client.get("/hub/api/user").json()["servers"].get("", {}).get("ready"):
        assert time.monotonic() < deadline, stack.log()[-3000:]
        time.sleep(0.5)
    tree = stack.processes()
    names = " ".join(" ".join(p.cmdline()) for p in tree)
    for program in ("jupyterhub-singleuser", "traefik", "waza api", "jupyterhub_idle_culler"):
        assert program in names
    done = stack.waza("down")
    assert done.returncode == 0 and "stopped waza" in done.stdout, done.stdout + done.stderr
    stack.process.wait(30)
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not (stack.home / "run" / "stack.json").exists()
    assert stack.waza("status").returncode == 1


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
