"""Request and response bodies of the cluster service (kamiwaza-sdk 1.3 `schemas/cluster.py`).

Field names, types and required-ness follow the SDK's models exactly; a few extra response
fields (e.g. ``Node.hostname``) are ignored by the SDK and help everyone else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class CreateLocation(BaseModel):
    """A location as sent on create and update (`PUT` replaces every field)."""

    name: str = Field(min_length=1, max_length=256, description="Name of the location")
    datacenter: str | None = Field(
        default=None, max_length=256, description="Datacenter of the location"
    )
    region: str | None = Field(default=None, max_length=256, description="Region of the location")
    zone: str | None = Field(default=None, max_length=256, description="Zone of the location")
    building: str | None = Field(
        default=None, max_length=256, description="Building of the location"
    )
    address: str | None = Field(
        default=None, max_length=1024, description="Address of the location"
    )
    contact_phone: str | None = Field(
        default=None, max_length=64, description="Contact phone for the location"
    )
    contact_name: str | None = Field(
        default=None, max_length=256, description="Contact name for the location"
    )
    contact_email: EmailStr | None = Field(
        default=None, description="Contact email for the location"
    )
    placement_group_id: str | None = Field(
        default=None, max_length=256, description="Ray placement group ID"
    )


class Location(CreateLocation):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Unique identifier for the location")
    created_at: datetime = Field(description="Time the location was created")


class CreateCluster(BaseModel):
    location_id: uuid.UUID = Field(description="Unique identifier for the location of the cluster")
    name: str = Field(min_length=1, max_length=256, description="Name of the cluster")


class Cluster(CreateCluster):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Unique identifier for the cluster")
    created_at: datetime = Field(description="Time the cluster was created")


class CreateHardware(BaseModel):
    """A hardware profile; every field is optional."""

    name: str | None = Field(default=None, max_length=256, description="Name of the hardware")
    gpus: list[dict[str, Any]] | None = Field(
        default=None, description="GPU configuration of the hardware"
    )
    cluster_ip: str | None = Field(
        default=None, max_length=64, description="Cluster IP of the hardware"
    )
    processors: list[str] | None = Field(
        default=None, description="Processor configuration of the hardware"
    )
    processor_vendor: str | None = Field(
        default=None, max_length=128, description="Processor vendor of the hardware"
    )
    os: str | None = Field(
        default=None, max_length=128, description="Operating system of the hardware"
    )
    platform: str | None = Field(
        default=None, max_length=128, description="Platform of the hardware"
    )
    local_node_id: str | None = Field(
        default=None, max_length=128, description="Local node ID of the hardware"
    )
    ray_node_id: str | None = Field(
        default=None, max_length=128, description="Ray node ID of the hardware"
    )
    configuration: dict[str, Any] | None = Field(
        default=None, description="Configuration of the hardware"
    )


class Hardware(CreateHardware):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Unique identifier for the hardware")
    created_at: datetime = Field(description="Time the hardware was created")
    node_id: uuid.UUID | None = Field(default=None, description="ID of the associated Node")
    active: bool | None = Field(
        default=None,
        description="Active status of the hardware, pulled from the associated Node if any",
    )


class Node(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="Unique identifier for the node")
    hostname: str | None = Field(default=None, description="Host name of the machine")
    hardware_id: uuid.UUID | None = Field(
        default=None, description="Hardware configuration of the node"
    )
    ray_id: str | None = Field(default=None, description="Ray identifier for the node")
    last_seen: datetime | None = Field(
        default=None, description="Last time the node was seen (start-up, refresh or Ray)"
    )
    last_config: dict[str, Any] = Field(description="Last Ray configuration of the node")
    created_at: datetime = Field(description="Time the node was created")
    hardware: Hardware | None = None
    location_id: uuid.UUID | None = Field(default=None, description="Location ID of the node")
    active: bool = Field(default=True, description="Active status of the node")


class NodeListNode(BaseModel):
    """A running node as Ray's node list reports it; every field is optional."""

    node_id: str | None = Field(default=None, description="Node ID")
    alive: bool | None = Field(default=None, description="Node alive status")
    node_manager_address: str | None = Field(default=None, description="Node Manager Address")
    node_manager_hostname: str | None = Field(default=None, description="Node Manager Hostname")
    node_manager_port: int | None = Field(default=None, description="Node Manager Port")
    object_manager_port: int | None = Field(default=None, description="Object Manager Port")
    object_store_socket_name: str | None = Field(
        default=None, description="Object Store Socket Name"
    )
    raylet_socket_name: str | None = Field(default=None, description="Raylet Socket Name")
    metrics_export_port: int | None = Field(default=None, description="Metrics Export Port")
    resources: dict[str, Any] | None = Field(default=None, description="Resources")
    node_ip: str | None = Field(default=None, description="Node IP")


class NodeDetails(BaseModel):
    """`GET /cluster/node/{id}`: the node with its location, hardware and live status."""

    node: Node
    location: Location | None = None
    hardware: Hardware | None = None
    node_list_node: NodeListNode | None = None


class Deleted(BaseModel):
    """The answer to a successful delete."""

    message: str
    id: uuid.UUID
    deleted: bool = True


class LocationDeleted(Deleted):
    clusters_deleted: int = Field(default=0, description="Clusters removed with the location")
    nodes_detached: int = Field(default=0, description="Nodes whose location was cleared")


class ClusterCapabilities(BaseModel):
    """`GET /cluster/cluster_capabilities` (kamiwaza-sdk `ClusterCapabilities`)."""

    model_config = ConfigDict(extra="allow")

    system_type: str
    os: str
    gpu_count: int = 0
    available_platforms: list[str] = Field(default_factory=list)
    federation_count: int = 0
    active_deployments: int = 0
    ray_ready: bool = False
    local_node_id: str | None = None


class GpuUse(BaseModel):
    """One GPU's use now (``nvidia-smi``)."""

    index: int
    name: str
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    utilization_pct: int | None = None


class HostMetrics(BaseModel):
    """`GET /cluster/metrics`: this machine's CPU, memory and GPU use right now (waza only)."""

    hostname: str
    at: datetime = Field(description="When the sample was taken (UTC)")
    cpu_count: int
    cpu_percent: float = Field(description="CPU use over the last ~0.1 s, 0-100")
    load_average: list[float] = Field(default_factory=list, description="1, 5 and 15 min")
    memory_total: int = Field(description="Bytes")
    memory_used: int = Field(description="Bytes")
    memory_percent: float
    gpus: list[GpuUse] = Field(default_factory=list)
