"""`client.cluster`: locations, clusters (admin), nodes and hardware."""

from __future__ import annotations

import uuid
from typing import Any

from waza.client.base import Transport, drop_none
from waza.services.cluster import schemas

Id = uuid.UUID | str


class ClusterAPI:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    # locations
    def locations(self, skip: int = 0, limit: int = 100) -> list[schemas.Location]:
        params = {"skip": skip, "limit": limit}
        return self._t.parse(list[schemas.Location], "GET", "cluster/locations", params=params)

    def location(self, location_id: Id) -> schemas.Location:
        return self._t.parse(schemas.Location, "GET", f"cluster/location/{location_id}")

    def create_location(self, name: str, **fields: Any) -> schemas.Location:
        """Create a location (admin); `fields`: region, zone, datacenter, contact_email, …"""
        body = {"name": name, **fields}
        return self._t.parse(schemas.Location, "POST", "cluster/location", json=body)

    def update_location(self, location_id: Id, name: str, **fields: Any) -> schemas.Location:
        body = {"name": name, **fields}
        path = f"cluster/location/{location_id}"
        return self._t.parse(schemas.Location, "PUT", path, json=body)

    def delete_location(self, location_id: Id) -> schemas.LocationDeleted:
        path = f"cluster/location/{location_id}"
        return self._t.parse(schemas.LocationDeleted, "DELETE", path)

    # clusters (admin)
    def clusters(self, skip: int = 0, limit: int = 100) -> list[schemas.Cluster]:
        params = {"skip": skip, "limit": limit}
        return self._t.parse(list[schemas.Cluster], "GET", "cluster/clusters", params=params)

    def cluster(self, cluster_id: Id) -> schemas.Cluster:
        return self._t.parse(schemas.Cluster, "GET", f"cluster/cluster/{cluster_id}")

    def create_cluster(self, name: str, location_id: Id) -> schemas.Cluster:
        body = {"name": name, "location_id": str(location_id)}
        return self._t.parse(schemas.Cluster, "POST", "cluster/cluster", json=body)

    def delete_cluster(self, cluster_id: Id) -> schemas.Deleted:
        return self._t.parse(schemas.Deleted, "DELETE", f"cluster/cluster/{cluster_id}")

    # nodes and hardware
    def nodes(
        self, skip: int = 0, limit: int = 100, active: bool | None = None
    ) -> list[schemas.Node]:
        params = drop_none(skip=skip, limit=limit, active=active)
        return self._t.parse(list[schemas.Node], "GET", "cluster/nodes", params=params)

    def node(self, node_id: Id) -> schemas.NodeDetails:
        return self._t.parse(schemas.NodeDetails, "GET", f"cluster/node/{node_id}")

    def running_nodes(self) -> list[schemas.NodeListNode]:
        return self._t.parse(list[schemas.NodeListNode], "GET", "cluster/get_running_nodes")

    def hardware(self, skip: int = 0, limit: int = 100) -> list[schemas.Hardware]:
        params = {"skip": skip, "limit": limit}
        return self._t.parse(list[schemas.Hardware], "GET", "cluster/hardware", params=params)

    def refresh_hardware(self) -> schemas.Hardware:
        """Detect this machine's hardware again (admin)."""
        return self._t.parse(schemas.Hardware, "POST", "cluster/refresh_hardware")

    def hostname(self) -> str:
        return str(self._t.json("GET", "cluster/get_hostname")["hostname"])

    def metrics(self) -> schemas.HostMetrics:
        """CPU, memory and GPU use of the platform's machine right now (waza only)."""
        return self._t.parse(schemas.HostMetrics, "GET", "cluster/metrics")

    def runtime_config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._t.json("GET", "cluster/runtime_config")
        return result
