"""Cluster inventory: locations, clusters, nodes and hardware, plus this machine's registration.

Today the inventory holds this machine (registered at API start-up) and whatever admins
record. Ray nodes plug in through :attr:`ClusterService.ray_nodes`: a callable that returns
Ray's live node list; when set, :meth:`ClusterService.running_nodes` reports those nodes instead
of the local one.
"""

from __future__ import annotations

import os
import platform
import random
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psutil
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import waza
from waza.db import Database, utcnow
from waza.errors import NotFound
from waza.gateway.logging import get_logger
from waza.services.cluster import hardware as hw
from waza.services.cluster import schemas
from waza.services.cluster.models import Cluster, Hardware, Location, Node
from waza.settings import Settings

log = get_logger("waza.cluster")

T = TypeVar("T")
RayNodesProvider = Callable[[], list[schemas.NodeListNode]]

_REGISTER_ATTEMPTS = 6


def location_response(row: Location) -> schemas.Location:
    return schemas.Location.model_validate(row)


def cluster_response(row: Cluster) -> schemas.Cluster:
    return schemas.Cluster.model_validate(row)


def hardware_response(row: Hardware, node: Node | None = None) -> schemas.Hardware:
    """A hardware row; ``active`` follows the linked node when there is one."""
    out = schemas.Hardware.model_validate(row)
    if node is not None:
        out.active = node.active
    return out


def node_response(row: Node, hardware: Hardware | None = None) -> schemas.Node:
    return schemas.Node(
        id=row.id,
        hostname=row.hostname,
        hardware_id=row.hardware_id,
        ray_id=row.ray_id,
        last_seen=row.last_seen,
        last_config=dict(row.last_config or {}),
        created_at=row.created_at,
        hardware=hardware_response(hardware, row) if hardware is not None else None,
        location_id=row.location_id,
        active=row.active,
    )


def _strip_userinfo(url: str | None) -> str | None:
    """A URL without ``user:password@`` (runtime facts must never carry credentials)."""
    if not url:
        return url or None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class ClusterService:
    """Inventory CRUD and this machine's node record; routes in `api.py` wrap these methods."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._host: hw.HostInfo | None = None
        self._local_node_id: uuid.UUID | None = None
        #: Seam for Ray: set to a callable returning Ray's live nodes (as NodeListNode).
        self.ray_nodes: RayNodesProvider | None = None

    # ---- helpers --------------------------------------------------------------------------------
    @property
    def host(self) -> hw.HostInfo:
        """The last detection of this machine (detected on first use)."""
        if self._host is None:
            self._host = hw.detect()
        return self._host

    @staticmethod
    def _get(s: Session, model: type[T], item_id: uuid.UUID, label: str) -> T:
        row = s.get(model, item_id)
        if row is None:
            raise NotFound(f"{label} {item_id} not found")
        return row

    @staticmethod
    def _page(query: Any, skip: int, limit: int | None) -> Any:
        query = query.offset(skip)
        return query.limit(limit) if limit is not None else query

    # ---- locations ------------------------------------------------------------------------------
    def create_location(self, body: schemas.CreateLocation) -> schemas.Location:
        """Record a location."""

        def work(s: Session) -> schemas.Location:
            row = Location(**body.model_dump())
            s.add(row)
            s.flush()
            return location_response(row)

        return self.db.transaction(work)

    def update_location(
        self, location_id: uuid.UUID, body: schemas.CreateLocation
    ) -> schemas.Location:
        """Replace every field of a location (fields not sent become null)."""

        def work(s: Session) -> schemas.Location:
            row = self._get(s, Location, location_id, "Location")
            for key, value in body.model_dump().items():
                setattr(row, key, value)
            s.flush()
            return location_response(row)

        return self.db.transaction(work)

    def get_location(self, location_id: uuid.UUID) -> schemas.Location:
        with self.db.session() as s:
            return location_response(self._get(s, Location, location_id, "Location"))

    def list_locations(self, skip: int = 0, limit: int | None = 100) -> list[schemas.Location]:
        """Oldest first."""
        query = self._page(select(Location).order_by(Location.created_at, Location.id), skip, limit)
        with self.db.session() as s:
            return [location_response(r) for r in s.scalars(query)]

    def delete_location(self, location_id: uuid.UUID) -> schemas.LocationDeleted:
        """Delete a location, the clusters at it, and clear it from nodes (they stay listed)."""

        def work(s: Session) -> schemas.LocationDeleted:
            row = self._get(s, Location, location_id, "Location")
            clusters = s.execute(delete(Cluster).where(Cluster.location_id == location_id))
            nodes = s.execute(
                update(Node).where(Node.location_id == location_id).values(location_id=None)
            )
            s.delete(row)
            return schemas.LocationDeleted(
                message=f"Location {location_id} deleted",
                id=location_id,
                clusters_deleted=getattr(clusters, "rowcount", 0) or 0,
                nodes_detached=getattr(nodes, "rowcount", 0) or 0,
            )

        return self.db.transaction(work)

    # ---- clusters -------------------------------------------------------------------------------
    def create_cluster(self, body: schemas.CreateCluster) -> schemas.Cluster:
        """Record a cluster at an existing location (unknown location → NotFound)."""

        def work(s: Session) -> schemas.Cluster:
            self._get(s, Location, body.location_id, "Location")
            row = Cluster(name=body.name, location_id=body.location_id)
            s.add(row)
            s.flush()
            return cluster_response(row)

        return self.db.transaction(work)

    def get_cluster(self, cluster_id: uuid.UUID) -> schemas.Cluster:
        with self.db.session() as s:
            return cluster_response(self._get(s, Cluster, cluster_id, "Cluster"))

    def list_clusters(self, skip: int = 0, limit: int | None = 100) -> list[schemas.Cluster]:
        """Oldest first."""
        query = self._page(select(Cluster).order_by(Cluster.created_at, Cluster.id), skip, limit)
        with self.db.session() as s:
            return [cluster_response(r) for r in s.scalars(query)]

    def delete_cluster(self, cluster_id: uuid.UUID) -> schemas.Deleted:
        """Delete a cluster record (nothing else refers to it)."""

        def work(s: Session) -> schemas.Deleted:
            s.delete(self._get(s, Cluster, cluster_id, "Cluster"))
            return schemas.Deleted(message=f"Cluster {cluster_id} deleted", id=cluster_id)

        return self.db.transaction(work)

    # ---- hardware -------------------------------------------------------------------------------
    def create_hardware(self, body: schemas.CreateHardware) -> schemas.Hardware:
        """Record a hardware profile (not linked to any node)."""

        def work(s: Session) -> schemas.Hardware:
            row = Hardware(**body.model_dump(), active=True)
            s.add(row)
            s.flush()
            return hardware_response(row)

        return self.db.transaction(work)

    def get_hardware(self, hardware_id: uuid.UUID) -> schemas.Hardware:
        with self.db.session() as s:
            row = self._get(s, Hardware, hardware_id, "Hardware")
            node = s.get(Node, row.node_id) if row.node_id else None
            return hardware_response(row, node)

    def list_hardware(self, skip: int = 0, limit: int | None = 100) -> list[schemas.Hardware]:
        """Oldest first, so this machine's profile (created at first start-up) leads."""
        query = self._page(select(Hardware).order_by(Hardware.created_at, Hardware.id), skip, limit)
        with self.db.session() as s:
            rows = list(s.scalars(query))
            nodes = self._nodes_by_id(s, (r.node_id for r in rows if r.node_id))
            return [hardware_response(r, nodes.get(r.node_id) if r.node_id else None) for r in rows]

    def delete_hardware(self, hardware_id: uuid.UUID) -> schemas.Deleted:
        """Delete a hardware profile; a node that used it keeps existing, without hardware."""

        def work(s: Session) -> schemas.Deleted:
            row = self._get(s, Hardware, hardware_id, "Hardware")
            s.execute(update(Node).where(Node.hardware_id == hardware_id).values(hardware_id=None))
            s.delete(row)
            return schemas.Deleted(message=f"Hardware {hardware_id} deleted", id=hardware_id)

        return self.db.transaction(work)

    # ---- nodes ----------------------------------------------------------------------------------
    @staticmethod
    def _nodes_by_id(s: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Node]:
        wanted = set(ids)
        if not wanted:
            return {}
        return {n.id: n for n in s.scalars(select(Node).where(Node.id.in_(wanted)))}

    @staticmethod
    def _hardware_by_id(s: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Hardware]:
        wanted = set(ids)
        if not wanted:
            return {}
        return {h.id: h for h in s.scalars(select(Hardware).where(Hardware.id.in_(wanted)))}

    def list_nodes(
        self, skip: int = 0, limit: int | None = 100, active: bool | None = None
    ) -> list[schemas.Node]:
        """Known nodes, oldest first, each with its hardware; ``active`` filters when given."""
        query = select(Node).order_by(Node.created_at, Node.id)
        if active is not None:
            query = query.where(Node.active == active)
        with self.db.session() as s:
            rows = list(s.scalars(self._page(query, skip, limit)))
            hardware = self._hardware_by_id(s, (r.hardware_id for r in rows if r.hardware_id))
            return [
                node_response(r, hardware.get(r.hardware_id) if r.hardware_id else None)
                for r in rows
            ]

    def get_node(self, node_id: uuid.UUID) -> schemas.NodeDetails:
        """A node with its location, hardware and, when it is running, its live entry."""
        with self.db.session() as s:
            row = self._get(s, Node, node_id, "Node")
            hardware = s.get(Hardware, row.hardware_id) if row.hardware_id else None
            location = s.get(Location, row.location_id) if row.location_id else None
            details = schemas.NodeDetails(
                node=node_response(row, hardware),
                location=location_response(location) if location else None,
                hardware=hardware_response(hardware, row) if hardware else None,
            )
            ray_id, hostname = row.ray_id, row.hostname
        details.node_list_node = self._live_entry(node_id, ray_id, hostname)
        return details

    def _live_entry(
        self, node_id: uuid.UUID, ray_id: str | None, hostname: str
    ) -> schemas.NodeListNode | None:
        for live in self.running_nodes():
            if live.node_id in {str(node_id), ray_id} - {None}:
                return live
            if live.node_manager_hostname == hostname:
                return live
        return None

    # ---- this machine ---------------------------------------------------------------------------
    def _local_last_config(self, info: hw.HostInfo) -> dict[str, Any]:
        return {
            "source": "local",
            "hostname": info.hostname,
            "node_ip": info.ip,
            "resources": info.resources(),
            "pid": os.getpid(),
            "waza_version": waza.__version__,
        }

    def _upsert_local(self, s: Session, info: hw.HostInfo) -> schemas.Node:
        now = utcnow()
        node = s.scalar(select(Node).where(Node.hostname == info.hostname))
        if node is None:
            node = Node(hostname=info.hostname, last_config={})
            s.add(node)
            s.flush()  # a concurrent starter inserting the same hostname fails here
        hardware = s.scalar(select(Hardware).where(Hardware.node_id == node.id))
        if hardware is None:
            hardware = Hardware(node_id=node.id)
            s.add(hardware)
        hardware.name = info.hostname
        hardware.gpus = info.gpus
        hardware.cluster_ip = info.ip
        hardware.processors = info.cpu_models
        hardware.processor_vendor = info.processor_vendor
        hardware.os = info.os
        hardware.platform = info.platform
        hardware.local_node_id = str(node.id)
        hardware.configuration = info.configuration()
        hardware.active = True
        s.flush()
        node.hardware_id = hardware.id
        node.active = True
        node.last_seen = now
        node.last_config = self._local_last_config(info)
        s.flush()
        return node_response(node, hardware)

    def register_local_node(self) -> schemas.Node:
        """Upsert this machine (keyed by hostname) with its hardware and refresh ``last_seen``.

        Idempotent across restarts. When several processes start at once, the losers of the
        insert race (unique hostname / hardware node) or of SQLite's write lock retry and then
        update the winner's row.
        """
        info = hw.detect()
        self._host = info
        for attempt in range(1, _REGISTER_ATTEMPTS + 1):
            try:
                node = self.db.transaction(lambda s: self._upsert_local(s, info))
                break
            except (IntegrityError, OperationalError) as exc:
                if attempt == _REGISTER_ATTEMPTS:
                    raise
                log.info("retrying local node registration", attempt=attempt, error=str(exc))
                time.sleep(0.05 * attempt * random.uniform(0.5, 1.5))  # noqa: S311
        self._local_node_id = node.id
        log.info(
            "registered this machine",
            node_id=str(node.id),
            hostname=info.hostname,
            cpus=info.cpu_count,
            gpus=info.gpu_count,
        )
        return node

    def refresh_hardware(self) -> schemas.Hardware:
        """Detect this machine again and update its node and hardware records."""
        node = self.register_local_node()
        assert node.hardware is not None
        return node.hardware

    def local_node_id(self) -> uuid.UUID | None:
        """This machine's node id (looked up by hostname when not registered by this process)."""
        if self._local_node_id is None:
            with self.db.session() as s:
                self._local_node_id = s.scalar(
                    select(Node.id).where(Node.hostname == self.host.hostname)
                )
        return self._local_node_id

    def local_running_node(self) -> schemas.NodeListNode:
        """This machine as a running node (Ray's node-list shape)."""
        info = self.host
        node_id = self.local_node_id()
        return schemas.NodeListNode(
            node_id=str(node_id) if node_id else None,
            alive=True,
            node_manager_address=info.ip,
            node_manager_hostname=info.hostname,
            node_ip=info.ip,
            resources=info.resources(),
        )

    def running_nodes(self) -> list[schemas.NodeListNode]:
        """Live nodes: Ray's when a provider is set and answers, else this machine alone."""
        if self.ray_nodes is not None:
            try:
                nodes = self.ray_nodes()
                if nodes:
                    return nodes
            except Exception as exc:  # Ray down must not break the inventory
                log.warning("ray node list unavailable; reporting this machine", error=str(exc))
        return [self.local_running_node()]

    # ---- runtime facts --------------------------------------------------------------------------
    def hostname(self) -> dict[str, str]:
        return {"hostname": self.host.hostname}

    def _ray_address(self) -> str | None:
        configured = getattr(self.settings, "ray_address", None) or os.environ.get("RAY_ADDRESS")
        return _strip_userinfo(str(configured)) if configured else None

    def runtime_config(self) -> dict[str, Any]:
        """Non-secret runtime facts: versions, storage backends, Ray, this node. No credentials."""
        info = self.host
        node_id = self.local_node_id()
        return {
            "implementation": "waza",
            "version": waza.__version__,
            "python_version": platform.python_version(),
            "hostname": info.hostname,
            "node_id": str(node_id) if node_id else None,
            "os": info.os,
            "platform": info.platform,
            "database": {"dialect": self.db.dialect},
            "kv_backend": self.settings.effective_kv_backend,
            "ray": {"address": self._ray_address(), "connected": self.ray_nodes is not None},
            "use_auth": self.settings.use_auth,
            "public_url": _strip_userinfo(self.settings.effective_public_url),
            "gpu_count": info.gpu_count,
        }

    def metrics(self) -> schemas.HostMetrics:
        """This machine's CPU, memory and GPU use now (live charts; not stored)."""
        mem = psutil.virtual_memory()
        try:
            load = [round(x, 2) for x in os.getloadavg()]
        except OSError:
            load = []
        gpus = hw.query_gpus() if self.host.gpu_count else []
        return schemas.HostMetrics(
            hostname=self.host.hostname,
            at=utcnow(),
            cpu_count=psutil.cpu_count() or 1,
            cpu_percent=psutil.cpu_percent(interval=0.1),
            load_average=load,
            memory_total=int(mem.total),
            memory_used=int(mem.total - mem.available),
            memory_percent=float(mem.percent),
            gpus=[schemas.GpuUse.model_validate(g) for g in gpus],
        )

    def capabilities(self) -> schemas.ClusterCapabilities:
        """What this cluster offers (kamiwaza `cluster_capabilities`); no federation yet."""
        info = self.host
        node_id = self.local_node_id()
        with self.db.session() as s:
            node_count = s.scalar(select(func.count()).select_from(Node).where(Node.active)) or 0
        return schemas.ClusterCapabilities(
            system_type="waza",
            os=info.os,
            gpu_count=info.gpu_count,
            available_platforms=[info.platform],
            federation_count=0,
            active_deployments=0,
            ray_ready=self.ray_nodes is not None,
            local_node_id=str(node_id) if node_id else None,
            node_count=node_count,
            hostname=info.hostname,
        )
