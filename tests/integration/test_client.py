"""The typed Python client (`waza.client`) against a live server."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import ADMIN_PASSWORD, LiveServer, free_port, start_server, stop_server
from waza.client import (
    AuthenticationError,
    Client,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from waza.settings import Settings


def test_zero_config_from_environment(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Client(live_server.url, username="admin", password=ADMIN_PASSWORD)
    token = admin.auth.create_token("env", scope="read").token
    monkeypatch.setenv("WAZA_API_URL", live_server.api)
    monkeypatch.setenv("WAZA_API_KEY", token)
    with Client() as client:
        assert client.url == live_server.api
        me = client.auth.me()
        assert me.username == "admin" and me.auth_method == "pat" and me.scope == "read"
        assert client.ping()["status"] == "pong"


def test_hub_token_is_used_when_no_api_key(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Client(live_server.url, username="admin", password=ADMIN_PASSWORD)
    monkeypatch.delenv("WAZA_API_KEY", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", admin.auth.create_token("hub").token)
    assert Client(live_server.url).auth.me().username == "admin"


def test_typed_errors_carry_the_detail(live_server: LiveServer) -> None:
    admin = Client(live_server.url, username="admin", password=ADMIN_PASSWORD)
    name = f"u{uuid.uuid4().hex[:8]}"
    user = admin.auth.create_user(name, "client-pass-1", email=f"{name}@example.com")
    assert user.roles == ["user"]
    with pytest.raises(ConflictError, match="already exists"):
        admin.auth.create_user(name, "client-pass-1")
    with pytest.raises(NotFoundError) as missing:
        admin.auth.get_user(uuid.uuid4())
    assert missing.value.status_code == 404 and missing.value.request_id
    with pytest.raises(ValidationError, match="password"):
        admin.auth.create_user("x" + name, "short1234"[:4])
    normal = Client(live_server.url, username=name, password="client-pass-1")
    with pytest.raises(PermissionDenied, match="Admin privileges required"):
        normal.auth.list_users()
    with pytest.raises(AuthenticationError, match="Invalid credentials"):
        Client(live_server.url, username=name, password="wrong-password")


def test_tokens_round_trip(live_server: LiveServer) -> None:
    admin = Client(live_server.url, username="admin", password=ADMIN_PASSWORD)
    created = admin.auth.create_token("round", scope="write", ttl_seconds=600)
    assert created.pat.scope == "write" and created.pat.ttl_seconds == 600
    assert created.pat.jti in {t.jti for t in admin.auth.list_tokens()}
    pat_client = Client(live_server.url, created.token)
    assert pat_client.auth.me().scope == "write"
    admin.auth.revoke_token(created.pat.jti)
    with pytest.raises(AuthenticationError):
        pat_client.auth.me()


def test_session_refreshes_itself_when_the_access_token_expires(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("short")
    from tests.conftest import create_database

    url, drop = create_database(home)
    server = start_server(
        Settings(home=home, database_url=url),  # type: ignore[call-arg]
        extra_env={"WAZA_ACCESS_TOKEN_TTL": "2"},
    )
    try:
        client = Client(server.url, username="admin", password=ADMIN_PASSWORD)
        first = client.transport.token
        time.sleep(3)
        assert client.auth.me().username == "admin"  # 401, refresh, replay
        assert client.transport.token != first
    finally:
        stop_server(server)
        drop()


def test_unreachable_platform_is_a_clear_error() -> None:
    with pytest.raises(ConnectionFailed, match="cannot reach the waza platform"):
        Client(f"http://127.0.0.1:{free_port()}", "token", timeout=2).auth.me()


def test_cluster_inventory_through_the_client(live_server: LiveServer) -> None:
    admin = Client(live_server.url, username="admin", password=ADMIN_PASSWORD)
    location = admin.cluster.create_location("lab", region="eu", contact_email="ops@example.com")
    cluster = admin.cluster.create_cluster("gpu-pool", location.id)
    assert cluster.location_id == location.id
    assert cluster.id in {c.id for c in admin.cluster.clusters()}
    nodes = admin.cluster.nodes()
    assert any(n.hostname == admin.cluster.hostname() for n in nodes)
    details = admin.cluster.node(nodes[0].id)
    assert details.node.id == nodes[0].id and details.hardware is not None
    assert details.hardware.processors
    assert admin.cluster.running_nodes()[0].alive is True
    assert "database_url" not in admin.cluster.runtime_config()
    deleted = admin.cluster.delete_location(location.id)
    assert deleted.clusters_deleted == 1
    with pytest.raises(NotFoundError):
        admin.cluster.cluster(cluster.id)
