"""The cluster inventory API (`/api/cluster/...`) and its service, in process.

Responses are also validated with the kamiwaza-sdk 1.3 models, the contract this API keeps.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kamiwaza_sdk.schemas import cluster as sdk
from kamiwaza_sdk.schemas.federation import ClusterCapabilities
from sqlalchemy.engine import make_url

from waza.db import Database
from waza.db.migrate import upgrade
from waza.gateway.app import create_app
from waza.services.cluster.models import Hardware, Node
from waza.services.cluster.schemas import NodeListNode
from waza.services.cluster.service import ClusterService
from waza.settings import Settings

ADMIN_PASSWORD = "cluster-admin-pw-1"
SECRET_KEY = "cluster-test-kek-0123456789"
USER_PASSWORD = "cluster-user-pw-1"


@dataclass
class Api:
    client: TestClient
    admin: dict[str, str]
    settings: Settings


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Fresh settings and database: the shared `make_settings` fixture when there is one (it
    honours WAZA_TEST_DB=postgresql), else SQLite under `tmp_path`."""
    overrides: dict[str, Any] = {"admin_password": ADMIN_PASSWORD, "secret_key": SECRET_KEY}
    try:
        make = request.getfixturevalue("make_settings")
    except pytest.FixtureLookupError:
        return Settings(home=tmp_path, log_level="WARNING", **overrides)
    made: Settings = make(**overrides)
    return made


def _login(client: TestClient, username: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/token", data={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    client.cookies.clear()  # the session cookie would authenticate "anonymous" calls too
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """A started app (migrated, admin created, this machine registered) and admin headers."""
    with TestClient(create_app(settings)) as client:
        yield Api(client, _login(client, "admin", ADMIN_PASSWORD), settings)


@pytest.fixture
def user_headers(api: Api) -> dict[str, str]:
    body = {"username": "alice", "password": USER_PASSWORD, "roles": ["user"]}
    reply = api.client.post("/api/auth/users/local", json=body, headers=api.admin)
    assert reply.status_code == 201, reply.text
    return _login(api.client, "alice", USER_PASSWORD)


def _pat(api: Api, headers: dict[str, str], scope: str) -> dict[str, str]:
    reply = api.client.post(f"/api/auth/pats?scope={scope}&name=x", headers=headers)
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def _location(api: Api, **fields: object) -> dict[str, object]:
    body = {"name": "lab", "region": "us-east", **fields}
    reply = api.client.post("/api/cluster/location", json=body, headers=api.admin)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


# ---- locations ----------------------------------------------------------------------------------
def test_location_crud(api: Api) -> None:
    c, h = api.client, api.admin
    assert c.get("/api/cluster/locations", headers=h).json() == []

    # The SDK sends every field, nulls included.
    body = sdk.CreateLocation(
        name="dc-1", region="eu-west", contact_email="ops@example.com"
    ).model_dump()
    reply = c.post("/api/cluster/location", json=body, headers=h)
    assert reply.status_code == 200, reply.text
    loc = sdk.Location.model_validate(reply.json())
    assert (loc.name, loc.region, loc.contact_email) == ("dc-1", "eu-west", "ops@example.com")

    got = c.get(f"/api/cluster/location/{loc.id}", headers=h)
    assert got.status_code == 200
    assert sdk.Location.model_validate(got.json()) == loc

    update = sdk.CreateLocation(name="dc-1b", zone="z1").model_dump()
    reply = c.put(f"/api/cluster/location/{loc.id}", json=update, headers=h)
    assert reply.status_code == 200, reply.text
    updated = sdk.Location.model_validate(reply.json())
    assert (updated.id, updated.name, updated.zone) == (loc.id, "dc-1b", "z1")
    assert updated.region is None  # PUT replaces every field
    assert updated.created_at == loc.created_at

    _location(api, name="dc-2")
    listed = c.get("/api/cluster/locations", headers=h).json()
    assert [x["name"] for x in listed] == ["dc-1b", "dc-2"]
    page = c.get("/api/cluster/locations?skip=1&limit=1", headers=h).json()
    assert [x["name"] for x in page] == ["dc-2"]

    reply = c.delete(f"/api/cluster/location/{loc.id}", headers=h)
    assert reply.status_code == 200, reply.text
    assert reply.json()["deleted"] is True
    missing = c.get(f"/api/cluster/location/{loc.id}", headers=h)
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"Location {loc.id} not found"
    assert c.delete(f"/api/cluster/location/{loc.id}", headers=h).status_code == 404


def test_location_validation(api: Api) -> None:
    c, h = api.client, api.admin
    bad = c.post(
        "/api/cluster/location", json={"name": "x", "contact_email": "not-an-email"}, headers=h
    )
    assert bad.status_code == 422
    assert any("contact_email" in e["loc"] for e in bad.json()["detail"])
    assert c.post("/api/cluster/location", json={"region": "r"}, headers=h).status_code == 422
    loc = _location(api)
    bad_put = c.put(
        f"/api/cluster/location/{loc['id']}", json={"name": "x", "contact_email": "a@"}, headers=h
    )
    assert bad_put.status_code == 422
    unknown = uuid.uuid4()
    reply = c.put(f"/api/cluster/location/{unknown}", json={"name": "x"}, headers=h)
    assert reply.status_code == 404
    assert reply.json()["detail"] == f"Location {unknown} not found"


# ---- clusters -----------------------------------------------------------------------------------
def test_cluster_crud(api: Api) -> None:
    c, h = api.client, api.admin
    loc = _location(api)
    assert c.get("/api/cluster/clusters", headers=h).json() == []

    body = sdk.CreateCluster(name="main", location_id=loc["id"]).model_dump(mode="json")
    reply = c.post("/api/cluster/cluster", json=body, headers=h)
    assert reply.status_code == 200, reply.text
    cl = sdk.Cluster.model_validate(reply.json())
    assert (cl.name, str(cl.location_id)) == ("main", loc["id"])

    assert (
        sdk.Cluster.model_validate(c.get(f"/api/cluster/cluster/{cl.id}", headers=h).json()) == cl
    )
    listed = [
        sdk.Cluster.model_validate(x) for x in c.get("/api/cluster/clusters", headers=h).json()
    ]
    assert listed == [cl]

    assert c.delete(f"/api/cluster/cluster/{cl.id}", headers=h).status_code == 200
    missing = c.get(f"/api/cluster/cluster/{cl.id}", headers=h)
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"Cluster {cl.id} not found"


def test_cluster_needs_an_existing_location(api: Api) -> None:
    unknown = uuid.uuid4()
    reply = api.client.post(
        "/api/cluster/cluster", json={"name": "x", "location_id": str(unknown)}, headers=api.admin
    )
    assert reply.status_code == 404
    assert reply.json()["detail"] == f"Location {unknown} not found"
    bad = api.client.post(
        "/api/cluster/cluster", json={"name": "x", "location_id": "nope"}, headers=api.admin
    )
    assert bad.status_code == 422


def test_deleting_a_location_deletes_its_clusters(api: Api) -> None:
    c, h = api.client, api.admin
    loc, other = _location(api), _location(api, name="other")
    ids = []
    for name, where in (("a", loc), ("b", loc), ("c", other)):
        reply = c.post(
            "/api/cluster/cluster", json={"name": name, "location_id": where["id"]}, headers=h
        )
        ids.append(reply.json()["id"])
    reply = c.delete(f"/api/cluster/location/{loc['id']}", headers=h)
    assert reply.status_code == 200
    assert reply.json()["clusters_deleted"] == 2
    remaining = [x["id"] for x in c.get("/api/cluster/clusters", headers=h).json()]
    assert remaining == [ids[2]]


# ---- hardware -----------------------------------------------------------------------------------
def test_hardware_crud(api: Api) -> None:
    c, h = api.client, api.admin
    body = sdk.CreateHardware(
        name="gpu-box",
        gpus=[{"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559}],
        processors=["AMD EPYC 9654"],
        processor_vendor="AMD",
        os="Linux",
        platform="x86_64",
        configuration={"rack": 4},
    ).model_dump()
    reply = c.post("/api/cluster/hardware", json=body, headers=h)
    assert reply.status_code == 200, reply.text
    made = sdk.Hardware.model_validate(reply.json())
    assert made.gpus == body["gpus"] and made.configuration == {"rack": 4}
    assert made.node_id is None

    got = c.get(f"/api/cluster/hardware/{made.id}", headers=h)
    assert sdk.Hardware.model_validate(got.json()) == made

    listed = [
        sdk.Hardware.model_validate(x) for x in c.get("/api/cluster/hardware", headers=h).json()
    ]
    assert len(listed) == 2  # this machine's profile, then the new one
    assert listed[0].node_id is not None and listed[1] == made
    assert len(c.get("/api/cluster/hardware?limit=1", headers=h).json()) == 1

    assert c.delete(f"/api/cluster/hardware/{made.id}", headers=h).status_code == 200
    missing = c.get(f"/api/cluster/hardware/{made.id}", headers=h)
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"Hardware {made.id} not found"


def test_local_hardware_delete_and_refresh(api: Api) -> None:
    c, h = api.client, api.admin
    (node,) = c.get("/api/cluster/nodes", headers=h).json()
    old_hw = node["hardware_id"]
    assert c.delete(f"/api/cluster/hardware/{old_hw}", headers=h).status_code == 200
    (node,) = c.get("/api/cluster/nodes", headers=h).json()
    assert node["hardware_id"] is None and node["hardware"] is None

    reply = c.post("/api/cluster/refresh_hardware", headers=h)
    assert reply.status_code == 200, reply.text
    fresh = sdk.Hardware.model_validate(reply.json())
    assert str(fresh.node_id) == node["id"] and fresh.active is True
    (node,) = c.get("/api/cluster/nodes", headers=h).json()
    assert node["hardware_id"] == str(fresh.id)


# ---- nodes --------------------------------------------------------------------------------------
def test_this_machine_is_a_node(api: Api) -> None:
    c, h = api.client, api.admin
    raw = c.get("/api/cluster/nodes", headers=h).json()
    nodes = [sdk.Node.model_validate(x) for x in raw]
    assert len(nodes) == 1
    node = nodes[0]
    assert raw[0]["hostname"] == socket.gethostname()
    assert node.active and node.last_seen is not None
    assert node.hardware is not None and node.hardware_id == node.hardware.id
    assert node.hardware.node_id == node.id
    assert node.hardware.os and node.hardware.platform and node.hardware.processors
    assert node.last_config["resources"]["CPU"] >= 1

    assert len(c.get("/api/cluster/nodes?active=True", headers=h).json()) == 1
    assert c.get("/api/cluster/nodes?active=False", headers=h).json() == []

    reply = c.get(f"/api/cluster/node/{node.id}", headers=h)
    assert reply.status_code == 200, reply.text
    details = sdk.NodeDetails.model_validate(reply.json())
    assert details.node.id == node.id
    assert details.hardware is not None and details.hardware.id == node.hardware_id
    assert details.location is None
    assert details.node_list_node is not None
    assert details.node_list_node.alive is True
    assert details.node_list_node.node_manager_hostname == socket.gethostname()

    unknown = uuid.uuid4()
    missing = c.get(f"/api/cluster/node/{unknown}", headers=h)
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"Node {unknown} not found"


def test_running_nodes_hostname_and_capabilities(api: Api, user_headers: dict[str, str]) -> None:
    c = api.client
    running = [
        sdk.NodeListNode.model_validate(x)
        for x in c.get("/api/cluster/get_running_nodes", headers=user_headers).json()
    ]
    assert len(running) == 1
    live = running[0]
    assert live.alive is True and live.node_ip and live.node_manager_hostname
    assert live.resources is not None
    assert set(live.resources) >= {"CPU", "memory", "GPU"}
    assert live.resources["memory"] > 0

    assert c.get("/api/cluster/get_hostname", headers=user_headers).json() == {
        "hostname": socket.gethostname()
    }
    caps = ClusterCapabilities.model_validate(
        c.get("/api/cluster/cluster_capabilities", headers=user_headers).json()
    )
    assert caps.federation_count == 0 and caps.local_node_id == live.node_id
    assert c.get("/api/cluster/federations", headers=user_headers).json() == []


def test_runtime_config_has_no_secrets(api: Api) -> None:
    reply = api.client.get("/api/cluster/runtime_config", headers=api.admin)
    assert reply.status_code == 200
    config = reply.json()
    url = make_url(api.settings.effective_database_url)
    assert config["database"]["dialect"] == url.get_backend_name()
    assert config["kv_backend"] == "embedded"
    assert config["version"] and config["hostname"] == socket.gethostname()
    text = json.dumps(config)
    assert ADMIN_PASSWORD not in text
    assert SECRET_KEY not in text
    assert api.settings.effective_database_url not in text
    assert (api.settings.home / "secret.key").exists() is False or (
        (api.settings.home / "secret.key").read_text().strip() not in text
    )

    def keys(value: object) -> Iterator[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield str(k).lower()
                yield from keys(v)

    assert not [k for k in keys(config) if any(w in k for w in ("password", "secret", "token"))]


def test_runtime_config_strips_credentials_from_ray_address(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "ray://user:hunter2@head:10001")
    config = api.client.get("/api/cluster/runtime_config", headers=api.admin).json()
    assert config["ray"]["address"] == "ray://head:10001"


# ---- access -------------------------------------------------------------------------------------
def test_unauthenticated_gets_401(api: Api) -> None:
    c = api.client
    some = uuid.uuid4()
    for method, path in [
        ("GET", "/api/cluster/nodes"),
        ("GET", "/api/cluster/locations"),
        ("GET", "/api/cluster/clusters"),
        ("GET", f"/api/cluster/node/{some}"),
        ("GET", "/api/cluster/get_running_nodes"),
        ("GET", "/api/cluster/get_hostname"),
        ("GET", "/api/cluster/runtime_config"),
        ("POST", "/api/cluster/location"),
        ("POST", "/api/cluster/refresh_hardware"),
        ("DELETE", f"/api/cluster/hardware/{some}"),
    ]:
        reply = c.request(method, path, json={"name": "x"} if method == "POST" else None)
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["detail"] == "Not authenticated"


def _admin_only(api: Api) -> list[tuple[str, str, dict[str, object] | None]]:
    loc = _location(api)
    cl = api.client.post(
        "/api/cluster/cluster", json={"name": "c", "location_id": loc["id"]}, headers=api.admin
    ).json()
    hw = api.client.post("/api/cluster/hardware", json={"name": "h"}, headers=api.admin).json()
    return [
        ("GET", "/api/cluster/clusters", None),
        ("GET", f"/api/cluster/cluster/{cl['id']}", None),
        ("POST", "/api/cluster/location", {"name": "x"}),
        ("PUT", f"/api/cluster/location/{loc['id']}", {"name": "x"}),
        ("DELETE", f"/api/cluster/location/{loc['id']}", None),
        ("POST", "/api/cluster/cluster", {"name": "x", "location_id": loc["id"]}),
        ("DELETE", f"/api/cluster/cluster/{cl['id']}", None),
        ("POST", "/api/cluster/hardware", {"name": "x"}),
        ("DELETE", f"/api/cluster/hardware/{hw['id']}", None),
        ("POST", "/api/cluster/refresh_hardware", None),
    ]


def _readable(api: Api) -> list[str]:
    node = api.client.get("/api/cluster/nodes", headers=api.admin).json()[0]
    loc = _location(api, name="readable")
    return [
        "/api/cluster/nodes",
        f"/api/cluster/node/{node['id']}",
        "/api/cluster/locations",
        f"/api/cluster/location/{loc['id']}",
        "/api/cluster/hardware",
        f"/api/cluster/hardware/{node['hardware_id']}",
        "/api/cluster/get_running_nodes",
        "/api/cluster/get_hostname",
        "/api/cluster/runtime_config",
        "/api/cluster/cluster_capabilities",
        "/api/cluster/federations",
    ]


def test_normal_user_reads_but_cannot_change(api: Api, user_headers: dict[str, str]) -> None:
    for path in _readable(api):
        assert api.client.get(path, headers=user_headers).status_code == 200, path
    for method, path, body in _admin_only(api):
        reply = api.client.request(method, path, json=body, headers=user_headers)
        assert reply.status_code == 403, (method, path, reply.text)
        assert reply.json()["detail"] == "Admin privileges required"


def test_write_pat_of_an_admin_is_not_admin(api: Api) -> None:
    write = _pat(api, api.admin, "write")
    assert api.client.get("/api/cluster/clusters", headers=write).status_code == 403
    for path in _readable(api):
        assert api.client.get(path, headers=write).status_code == 200, path
    for method, path, body in _admin_only(api):
        reply = api.client.request(method, path, json=body, headers=write)
        assert reply.status_code == 403, (method, path, reply.text)
    admin_pat = _pat(api, api.admin, "admin")
    assert api.client.get("/api/cluster/clusters", headers=admin_pat).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/cluster/location/not-a-uuid",
        "/api/cluster/cluster/not-a-uuid",
        "/api/cluster/node/not-a-uuid",
        "/api/cluster/hardware/12345",
    ],
)
def test_malformed_ids_are_422(api: Api, path: str) -> None:
    reply = api.client.get(path, headers=api.admin)
    assert reply.status_code == 422, reply.text


def test_bad_paging_is_422(api: Api) -> None:
    c, h = api.client, api.admin
    assert c.get("/api/cluster/locations?skip=-1", headers=h).status_code == 422
    assert c.get("/api/cluster/nodes?limit=0", headers=h).status_code == 422


def test_openapi_declares_errors(api: Api) -> None:
    paths = api.client.get("/api/openapi.json").json()["paths"]
    assert "403" in paths["/api/cluster/clusters"]["get"]["responses"]
    assert "404" in paths["/api/cluster/location/{location_id}"]["get"]["responses"]
    assert "403" in paths["/api/cluster/location/{location_id}"]["delete"]["responses"]
    assert "404" in paths["/api/cluster/node/{node_id}"]["get"]["responses"]
    assert "401" in paths["/api/cluster/nodes"]["get"]["responses"]
    for route in (
        "/api/cluster/location",
        "/api/cluster/locations",
        "/api/cluster/cluster",
        "/api/cluster/cluster/{cluster_id}",
        "/api/cluster/nodes",
        "/api/cluster/get_running_nodes",
        "/api/cluster/hardware",
        "/api/cluster/hardware/{hardware_id}",
        "/api/cluster/runtime_config",
        "/api/cluster/get_hostname",
        "/api/cluster/refresh_hardware",
        "/api/cluster/federations",
        "/api/cluster/cluster_capabilities",
    ):
        assert route in paths, route


# ---- the service itself -------------------------------------------------------------------------
@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A migrated database (no app)."""
    database = Database(settings.effective_database_url)
    upgrade(database)
    yield database
    database.dispose()


def _local_rows(db: Database) -> tuple[list[Node], list[Hardware]]:
    with db.session() as s:
        return list(s.query(Node).all()), list(s.query(Hardware).all())


def test_register_local_node_is_idempotent(settings: Settings, db: Database) -> None:
    service = ClusterService(db, settings)
    first = service.register_local_node()
    second = ClusterService(db, settings).register_local_node()  # a restart
    assert first.id == second.id
    assert first.hardware_id == second.hardware_id
    assert second.last_seen is not None and first.last_seen is not None
    assert second.last_seen >= first.last_seen
    nodes, hardware = _local_rows(db)
    assert len(nodes) == 1 and len(hardware) == 1


def test_register_local_node_concurrently(settings: Settings, db: Database) -> None:
    """Several processes starting at once (one engine each) end up with one node."""
    dbs = [Database(settings.effective_database_url) for _ in range(6)]
    barrier = threading.Barrier(len(dbs))
    results: list[uuid.UUID] = []
    errors: list[BaseException] = []

    def start(database: Database) -> None:
        try:
            barrier.wait()
            results.append(ClusterService(database, settings).register_local_node().id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(d,)) for d in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(set(results)) == 1 and len(results) == len(dbs)
    nodes, hardware = _local_rows(db)
    assert len(nodes) == 1 and len(hardware) == 1
    assert nodes[0].hardware_id == hardware[0].id
    for d in dbs:
        d.dispose()


def test_ray_seam(settings: Settings, db: Database) -> None:
    service = ClusterService(db, settings)
    node = service.register_local_node()
    local = service.running_nodes()
    assert [n.node_id for n in local] == [str(node.id)]

    ray_nodes = [
        NodeListNode(node_id="a" * 56, alive=True, node_ip="10.0.0.1", resources={"GPU": 8.0}),
        NodeListNode(node_id="b" * 56, alive=True, node_ip="10.0.0.2", resources={"GPU": 8.0}),
    ]
    service.ray_nodes = lambda: ray_nodes
    assert service.running_nodes() == ray_nodes

    def broken() -> list[NodeListNode]:
        raise RuntimeError("ray is down")

    service.ray_nodes = broken
    assert [n.node_id for n in service.running_nodes()] == [str(node.id)]
