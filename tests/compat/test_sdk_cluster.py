"""Cluster inventory through the real kamiwaza-sdk (digest §11; core flow 16)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from kamiwaza_sdk import KamiwazaClient
from kamiwaza_sdk.exceptions import APIError, NotFoundError
from kamiwaza_sdk.schemas.cluster import (
    CreateCluster,
    CreateHardware,
    CreateLocation,
    Hardware,
    Node,
    NodeDetails,
    NodeListNode,
)

from tests.compat.conftest import Account

Login = Callable[[str, str], KamiwazaClient]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def is_this_machine(raw: dict[str, Any]) -> bool:
    """A node record (raw JSON) that describes the machine running the tests."""
    here = socket.gethostname()
    hardware = raw.get("hardware") or {}
    names = {
        raw.get("hostname"),
        (raw.get("last_config") or {}).get("hostname"),
        hardware.get("name"),
    }
    return here in names


def test_inventory_flow(admin_sdk: KamiwazaClient) -> None:
    """Flow 16, in the order the digest gives it."""
    c = admin_sdk.cluster
    assert isinstance(c.list_locations(), list)

    name = unique("loc")
    loc = c.create_location(CreateLocation(name=name, region="eu-west", zone="a"))
    assert loc.name == name
    assert loc.region == "eu-west"
    assert loc.zone == "a"
    assert loc.datacenter is None
    assert loc.created_at is not None

    got = c.get_location(loc.id)
    assert (got.id, got.name, got.region) == (loc.id, name, "eu-west")
    updated = c.update_location(
        loc.id,
        CreateLocation(
            name=name + "-2",
            region="eu-central",
            datacenter="dc1",
            contact_email="ops@example.com",
        ),
    )
    assert updated.id == loc.id
    assert (updated.name, updated.region, updated.datacenter) == (name + "-2", "eu-central", "dc1")
    assert updated.contact_email == "ops@example.com"
    assert c.get_location(loc.id).name == name + "-2"
    assert loc.id in {x.id for x in c.list_locations()}

    cl = c.create_cluster(CreateCluster(name=unique("cl"), location_id=loc.id))
    assert cl.location_id == loc.id
    fetched = c.get_cluster(cl.id)
    assert (fetched.id, fetched.name, fetched.location_id) == (cl.id, cl.name, loc.id)
    assert cl.id in {x.id for x in c.list_clusters()}

    nodes = c.list_nodes()
    assert nodes and all(isinstance(n, Node) for n in nodes)
    raw_nodes = admin_sdk.get("/cluster/nodes")
    here = [n for n in raw_nodes if is_this_machine(n)]
    assert len(here) == 1, raw_nodes
    node_id = uuid.UUID(here[0]["id"])
    this = next(n for n in nodes if n.id == node_id)
    assert this.active is True
    assert this.last_seen is not None

    details = c.get_node_by_id(node_id)
    assert isinstance(details, NodeDetails)
    assert details.node.id == node_id
    assert details.hardware is not None  # this machine's detected hardware
    assert details.hardware.id == this.hardware_id
    assert details.hardware.processors

    hw_name = unique("hw")
    gpus = [{"name": "Test GPU", "memory_mb": 16384}]
    created = c.create_hardware(
        CreateHardware(
            name=hw_name,
            gpus=gpus,
            processors=["Test CPU"],
            processor_vendor="TestVendor",
            os="Linux",
            platform="linux-x86_64",
            configuration={"rack": 7},
        )
    )
    assert created.name == hw_name
    assert created.gpus == gpus
    assert created.processors == ["Test CPU"]
    assert created.configuration == {"rack": 7}
    got_hw = c.get_hardware(created.id)
    assert (got_hw.id, got_hw.name, got_hw.os) == (created.id, hw_name, "Linux")
    listed = c.list_hardware()
    assert all(isinstance(h, Hardware) for h in listed)
    assert created.id in {h.id for h in listed}
    assert this.hardware_id in {h.id for h in listed}

    running = c.get_running_nodes()
    assert running and all(isinstance(n, NodeListNode) for n in running)
    assert any(n.alive and n.node_manager_hostname == socket.gethostname() for n in running), (
        running
    )

    host = c.get_hostname()
    assert host["hostname"] == socket.gethostname()
    config = c.get_runtime_config()
    assert isinstance(config, dict)
    assert config


def test_list_nodes_filters_on_active(admin_sdk: KamiwazaClient) -> None:
    """The SDK sends `?active=True` / `?active=False` (capitalised)."""
    active = admin_sdk.cluster.list_nodes(active=True)
    assert active and all(n.active for n in active)
    ids = {n.id for n in active}
    inactive = admin_sdk.cluster.list_nodes(active=False)
    assert all(not n.active for n in inactive)
    assert not ids & {n.id for n in inactive}


def test_list_paging(admin_sdk: KamiwazaClient) -> None:
    c = admin_sdk.cluster
    made = [c.create_location(CreateLocation(name=unique("page"))).id for _ in range(3)]
    everything = [x.id for x in c.list_locations()]
    assert set(made) <= set(everything)
    assert len(c.list_locations(limit=2)) == 2
    assert [x.id for x in c.list_locations(skip=1, limit=2)] == everything[1:3]


def test_unknown_ids_are_not_found(admin_sdk: KamiwazaClient) -> None:
    c = admin_sdk.cluster
    missing = uuid.uuid4()
    for call in (c.get_location, c.get_cluster, c.get_hardware, c.get_node_by_id):
        with pytest.raises(NotFoundError):
            call(missing)
    with pytest.raises(NotFoundError):
        c.create_cluster(CreateCluster(name=unique("orphan"), location_id=missing))


def test_malformed_contact_email_is_rejected(
    http: httpx.Client, admin_auth: dict[str, str]
) -> None:
    """The SDK validates `contact_email` itself; the server must too (raw HTTP here)."""
    body = {"name": unique("bad"), "contact_email": "not-an-email"}
    reply = http.post("/api/cluster/location", json=body, headers=admin_auth)
    assert reply.status_code == 422, reply.text


def test_deletes(admin_sdk: KamiwazaClient) -> None:
    """The harness deletes what it created with DELETE /cluster/{location,cluster,hardware}/{id}."""
    c = admin_sdk.cluster
    loc = c.create_location(CreateLocation(name=unique("del")))
    cl = c.create_cluster(CreateCluster(name=unique("del"), location_id=loc.id))
    other = c.create_cluster(CreateCluster(name=unique("del"), location_id=loc.id))
    hw = c.create_hardware(CreateHardware(name=unique("del")))

    admin_sdk.delete(f"/cluster/cluster/{cl.id}")
    with pytest.raises(NotFoundError):
        c.get_cluster(cl.id)
    admin_sdk.delete(f"/cluster/hardware/{hw.id}")
    with pytest.raises(NotFoundError):
        c.get_hardware(hw.id)
    admin_sdk.delete(f"/cluster/location/{loc.id}")
    with pytest.raises(NotFoundError):
        c.get_location(loc.id)
    with pytest.raises(NotFoundError):  # a cluster cannot outlive its location
        c.get_cluster(other.id)
    assert loc.id not in {x.id for x in c.list_locations()}
    assert other.id not in {x.id for x in c.list_clusters()}
    with pytest.raises(NotFoundError):
        admin_sdk.delete(f"/cluster/location/{loc.id}")
    assert c.list_nodes(active=True)  # nodes are never deleted with a location


def test_refresh_hardware_keeps_this_machine(admin_sdk: KamiwazaClient) -> None:
    before = {n.id for n in admin_sdk.cluster.list_nodes()}
    out = Hardware.model_validate(admin_sdk.post("/cluster/refresh_hardware"))
    assert out.node_id is not None
    assert out.node_id in before
    assert {n.id for n in admin_sdk.cluster.list_nodes()} == before  # updated, not duplicated


def test_single_cluster_has_no_federations(admin_sdk: KamiwazaClient) -> None:
    assert admin_sdk.get("/cluster/federations") == []


def test_a_normal_user_reads_the_inventory_but_not_clusters(
    make_account: Callable[..., Account], sdk_login: Login
) -> None:
    user = make_account("clusteruser")
    c = sdk_login(user.username, user.password).cluster

    assert isinstance(c.list_locations(), list)
    assert c.list_nodes()
    assert c.get_hostname()["hostname"]
    assert c.get_running_nodes()

    with pytest.raises(APIError) as exc:
        c.list_clusters()
    assert exc.value.status_code == 403
    with pytest.raises(APIError) as exc:
        c.create_location(CreateLocation(name=unique("nope")))
    assert exc.value.status_code == 403
    with pytest.raises(APIError) as exc:
        c.create_hardware(CreateHardware(name=unique("nope")))
    assert exc.value.status_code == 403
