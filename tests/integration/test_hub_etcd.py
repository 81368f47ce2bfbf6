"""`waza up` with ``WAZA_ETCD_URL``: Traefik reads its routes from a real etcd.

The hub writes its routes (and the platform's extra routes) under ``traefik/`` and
``jupyterhub/`` in etcd; requests through the public port must flow through Traefik to the hub,
the API, and a notebook server whose route appears and disappears with the server. The
platform's own config store uses the same etcd (under its ``kv_prefix``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import etcd3
import httpx
import pytest

from tests.e2e.hubstack import HubStack, hub_login, start_stack
from tests.fixtures.etcd import EtcdServer

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(600)]
USER_ROUTER = "traefik/http/routers/router__2Fuser_2Fadmin_2F/rule"


@pytest.fixture(scope="module")
def kv_prefix() -> str:
    return f"hubtest-{uuid.uuid4().hex[:8]}/"


@pytest.fixture(scope="module")
def stack(
    etcd_server: EtcdServer, kv_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubStack]:
    started = start_stack(
        tmp_path_factory.mktemp("hubetcd"),
        extra_env={"WAZA_ETCD_URL": etcd_server.url, "WAZA_KV_PREFIX": kv_prefix},
    )
    try:
        yield started
    finally:
        survivors = started.stop("sigint")  # Ctrl-C
        assert not survivors, f"left running after Ctrl-C: {survivors}"


@pytest.fixture(scope="module")
def etcd(etcd_server: EtcdServer) -> Iterator[etcd3.Etcd3Client]:
    url = urlsplit(etcd_server.url)
    client = etcd3.client(host=url.hostname, port=url.port)
    try:
        yield client
    finally:
        client.close()


def keys(etcd: etcd3.Etcd3Client, prefix: str) -> dict[str, str]:
    return {meta.key.decode(): value.decode() for value, meta in etcd.get_prefix(prefix)}


def test_routes_live_in_etcd(stack: HubStack, etcd: etcd3.Etcd3Client) -> None:
    routers = keys(etcd, "traefik/http/routers/")
    rules = {k.split("/")[3]: v for k, v in routers.items() if k.endswith("/rule")}
    assert rules["router__2F"] == "PathPrefix(`/`)"
    assert "/services/waza/" in rules["router__2Fservices_2Fwaza_2F"]
    assert "PathPrefix(`/api/`)" in rules["waza-platform"]
    assert "PathPrefix(`/runtime/`)" in rules["waza-platform"]
    services = keys(etcd, "traefik/http/services/")
    api_url = f"http://127.0.0.1:{stack.state()['api_port']}"
    assert services["traefik/http/services/waza-platform/loadBalancer/servers/0/url"] == api_url
    assert any(k.startswith("jupyterhub/routes/") for k in keys(etcd, "jupyterhub/"))
    assert not (stack.home / "hub" / "rules.toml").exists()  # no file provider in this mode


def test_requests_flow_through_traefik(stack: HubStack) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        assert http.get("/hub/api/").status_code == 200
        assert http.get("/api/ping").json()["status"] == "pong"
        assert http.get("/services/waza/api/ping").json()["status"] == "pong"
    status = stack.waza("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "etcd http://127.0.0.1" in status.stdout


def test_platform_config_store_uses_the_same_etcd(
    stack: HubStack, etcd: etcd3.Etcd3Client, kv_prefix: str
) -> None:
    registered = keys(etcd, kv_prefix + "services/api/")
    assert registered, keys(etcd, kv_prefix)
    assert stack.url + "/api" in next(iter(registered.values()))


def test_a_notebook_server_route_comes_and_goes_in_etcd(
    stack: HubStack, etcd: etcd3.Etcd3Client
) -> None:
    client, _ = hub_login(stack.url, "admin", stack.admin_password)
    xsrf = {"X-XSRFToken": client.cookies.get("_xsrf", "")}
    assert client.post("/hub/api/users/admin/server", headers=xsrf).status_code in {201, 202}
    deadline = time.monotonic() + 90
    while not client.get("/hub/api/user").json()["servers"].get("", {}).get("ready"):
        assert time.monotonic() < deadline, stack.log()[-3000:]
        time.sleep(0.5)
    assert "/user/admin/" in keys(etcd, USER_ROUTER)[USER_ROUTER]
    lab = client.get("/user/admin/lab", follow_redirects=True)  # through Traefik to the server
    assert lab.status_code == 200 and "JupyterLab" in lab.text

    assert client.delete("/hub/api/users/admin/server", headers=xsrf).status_code in {202, 204}
    while keys(etcd, USER_ROUTER):
        assert time.monotonic() < deadline + 30, "route not removed from etcd"
        time.sleep(0.5)
