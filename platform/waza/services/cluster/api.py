"""Routes of the cluster service (`/api/cluster/...`), wire-compatible with kamiwaza-sdk 1.3 (§11).

Every route needs a logged-in user. Every change, and reading clusters (`GET /cluster/clusters`,
`GET /cluster/cluster/{id}`), needs admin rights: a `write`-scope token gets 403 there.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from waza.gateway.bounds import MAX_OFFSET
from waza.gateway.deps import AdminUser, Context, CurrentUser
from waza.gateway.openapi import error_responses
from waza.services.cluster import schemas

router = APIRouter(prefix="/cluster", tags=["cluster"])

USER = error_responses(401)
ADMIN = error_responses(401, 403)


NOT_FOUND = error_responses(404)


Skip = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Most rows to return")]


# ---- locations ----------------------------------------------------------------------------------
@router.post("/location", response_model=schemas.Location, responses=ADMIN)
def create_location(ctx: Context, _: AdminUser, body: schemas.CreateLocation) -> schemas.Location:
    """Record a location (admin)."""
    return ctx.cluster.create_location(body)


@router.put(
    "/location/{location_id}",
    response_model=schemas.Location,
    responses={**ADMIN, **NOT_FOUND},
)
def update_location(
    ctx: Context, _: AdminUser, location_id: uuid.UUID, body: schemas.CreateLocation
) -> schemas.Location:
    """Replace a location's fields (admin)."""
    return ctx.cluster.update_location(location_id, body)


@router.get(
    "/location/{location_id}",
    response_model=schemas.Location,
    responses={**USER, **NOT_FOUND},
)
def get_location(ctx: Context, _: CurrentUser, location_id: uuid.UUID) -> schemas.Location:
    """One location."""
    return ctx.cluster.get_location(location_id)


@router.delete(
    "/location/{location_id}",
    response_model=schemas.LocationDeleted,
    responses={**ADMIN, **NOT_FOUND},
)
def delete_location(ctx: Context, _: AdminUser, location_id: uuid.UUID) -> schemas.LocationDeleted:
    """Delete a location and its clusters; nodes there stay, without a location (admin)."""
    return ctx.cluster.delete_location(location_id)


@router.get("/locations", response_model=list[schemas.Location], responses=USER)
def list_locations(
    ctx: Context, _: CurrentUser, skip: Skip = 0, limit: Limit = 100
) -> list[schemas.Location]:
    """Every location, oldest first."""
    return ctx.cluster.list_locations(skip=skip, limit=limit)


# ---- clusters -----------------------------------------------------------------------------------
@router.post(
    "/cluster",
    response_model=schemas.Cluster,
    responses={**ADMIN, 404: {"description": "Unknown location"}},
)
def create_cluster(ctx: Context, _: AdminUser, body: schemas.CreateCluster) -> schemas.Cluster:
    """Record a cluster at a location (admin)."""
    return ctx.cluster.create_cluster(body)


@router.get(
    "/cluster/{cluster_id}",
    response_model=schemas.Cluster,
    responses={**ADMIN, **NOT_FOUND},
)
def get_cluster(ctx: Context, _: AdminUser, cluster_id: uuid.UUID) -> schemas.Cluster:
    """One cluster (admin)."""
    return ctx.cluster.get_cluster(cluster_id)


@router.delete(
    "/cluster/{cluster_id}",
    response_model=schemas.Deleted,
    responses={**ADMIN, **NOT_FOUND},
)
def delete_cluster(ctx: Context, _: AdminUser, cluster_id: uuid.UUID) -> schemas.Deleted:
    """Delete a cluster record (admin)."""
    return ctx.cluster.delete_cluster(cluster_id)


@router.get("/clusters", response_model=list[schemas.Cluster], responses=ADMIN)
def list_clusters(
    ctx: Context, _: AdminUser, skip: Skip = 0, limit: Limit = 100
) -> list[schemas.Cluster]:
    """Every cluster, oldest first (admin)."""
    return ctx.cluster.list_clusters(skip=skip, limit=limit)


# ---- nodes --------------------------------------------------------------------------------------
@router.get("/nodes", response_model=list[schemas.Node], responses=USER)
def list_nodes(
    ctx: Context,
    _: CurrentUser,
    skip: Skip = 0,
    limit: Limit = 100,
    active: bool | None = None,
) -> list[schemas.Node]:
    """Every known node with its hardware, running or not (`active` filters)."""
    return ctx.cluster.list_nodes(skip=skip, limit=limit, active=active)


@router.get(
    "/node/{node_id}",
    response_model=schemas.NodeDetails,
    responses={**USER, **NOT_FOUND},
)
def get_node_by_id(ctx: Context, _: CurrentUser, node_id: uuid.UUID) -> schemas.NodeDetails:
    """A node with its location, hardware and live status."""
    return ctx.cluster.get_node(node_id)


@router.get("/get_running_nodes", response_model=list[schemas.NodeListNode], responses=USER)
def get_running_nodes(ctx: Context, _: CurrentUser) -> list[schemas.NodeListNode]:
    """Nodes that are up now (Ray's node list when Ray is connected, else this machine)."""
    return ctx.cluster.running_nodes()


# ---- hardware -----------------------------------------------------------------------------------
@router.post("/hardware", response_model=schemas.Hardware, responses=ADMIN)
def create_hardware(ctx: Context, _: AdminUser, body: schemas.CreateHardware) -> schemas.Hardware:
    """Record a hardware profile (admin)."""
    return ctx.cluster.create_hardware(body)


@router.get("/hardware", response_model=list[schemas.Hardware], responses=USER)
def list_hardware(
    ctx: Context, _: CurrentUser, skip: Skip = 0, limit: Limit = 100
) -> list[schemas.Hardware]:
    """Every hardware profile, oldest first (this machine's first)."""
    return ctx.cluster.list_hardware(skip=skip, limit=limit)


@router.get(
    "/hardware/{hardware_id}",
    response_model=schemas.Hardware,
    responses={**USER, **NOT_FOUND},
)
def get_hardware(ctx: Context, _: CurrentUser, hardware_id: uuid.UUID) -> schemas.Hardware:
    """One hardware profile."""
    return ctx.cluster.get_hardware(hardware_id)


@router.delete(
    "/hardware/{hardware_id}",
    response_model=schemas.Deleted,
    responses={**ADMIN, **NOT_FOUND},
)
def delete_hardware(ctx: Context, _: AdminUser, hardware_id: uuid.UUID) -> schemas.Deleted:
    """Delete a hardware profile; a node using it is kept, without hardware (admin)."""
    return ctx.cluster.delete_hardware(hardware_id)


@router.post("/refresh_hardware", response_model=schemas.Hardware, responses=ADMIN)
def refresh_hardware(ctx: Context, _: AdminUser) -> schemas.Hardware:
    """Detect this machine's hardware again and update its records (admin)."""
    return ctx.cluster.refresh_hardware()


# ---- runtime facts ------------------------------------------------------------------------------
@router.get("/runtime_config", responses=USER)
def runtime_config(ctx: Context, _: CurrentUser) -> dict[str, Any]:
    """Non-secret runtime facts: versions, database dialect, config store, Ray address."""
    return ctx.cluster.runtime_config()


@router.get("/get_hostname", responses=USER)
def get_hostname(ctx: Context, _: CurrentUser) -> dict[str, str]:
    """This machine's host name: `{"hostname": ...}`."""
    return ctx.cluster.hostname()


@router.get("/cluster_capabilities", response_model=schemas.ClusterCapabilities, responses=USER)
def cluster_capabilities(ctx: Context, _: CurrentUser) -> schemas.ClusterCapabilities:
    """What this cluster offers (OS, GPUs, platforms, federation and Ray readiness)."""
    return ctx.cluster.capabilities()


@router.get("/metrics", response_model=schemas.HostMetrics, responses=USER)
def host_metrics(ctx: Context, _: CurrentUser) -> schemas.HostMetrics:
    """This machine's CPU, memory and GPU use right now (waza; for live charts)."""
    return ctx.cluster.metrics()


@router.get("/federations", responses=USER)
def list_federations(
    _: CurrentUser,
    skip: Skip = 0,
    limit: Limit = 100,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Federations with other clusters: always empty (waza runs a single cluster)."""
    return []
