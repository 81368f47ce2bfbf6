"""ORM models of the cluster inventory: locations, clusters, nodes and hardware profiles.

Deletes never leave dangling rows:

- deleting a **location** deletes its clusters (a cluster cannot exist without a location) and
  detaches its nodes (``location_id`` becomes NULL: a node is a real machine and stays listed);
- deleting a **hardware** profile detaches the node that pointed at it (``hardware_id`` NULL);
- nodes are never deleted through the API; deleting one detaches its hardware (``node_id`` NULL).

The service does these steps explicitly in one transaction; the ``ondelete`` rules below are the
same policy enforced by the database as a safety net.

``nodes.hardware_id`` and ``hardware.node_id`` point at each other (the kamiwaza schema has both),
so the first is created after both tables exist (``use_alter``) to keep DDL ordering valid on
PostgreSQL/CockroachDB.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin


class Location(IdMixin, TimestampMixin, Base):
    """A physical or logical place where clusters and nodes live."""

    __tablename__ = "cluster_locations"

    name: Mapped[str] = mapped_column(String(256))
    datacenter: Mapped[str | None] = mapped_column(String(256))
    region: Mapped[str | None] = mapped_column(String(256))
    zone: Mapped[str | None] = mapped_column(String(256))
    building: Mapped[str | None] = mapped_column(String(256))
    address: Mapped[str | None] = mapped_column(String(1024))
    contact_phone: Mapped[str | None] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(256))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    placement_group_id: Mapped[str | None] = mapped_column(String(256))


class Cluster(IdMixin, TimestampMixin, Base):
    """A named cluster at a location (an inventory record)."""

    __tablename__ = "clusters"

    name: Mapped[str] = mapped_column(String(256))
    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cluster_locations.id", ondelete="CASCADE"), index=True
    )


class Node(IdMixin, TimestampMixin, Base):
    """A machine that runs (or ran) platform workloads; one row per hostname."""

    __tablename__ = "cluster_nodes"

    hostname: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    ray_id: Mapped[str | None] = mapped_column(String(128), index=True)
    last_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen: Mapped[datetime | None] = mapped_column()
    hardware_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(
            "cluster_hardware.id",
            ondelete="SET NULL",
            use_alter=True,
            name="fk_cluster_nodes_hardware_id_cluster_hardware",
        )
    )
    location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cluster_locations.id", ondelete="SET NULL"), index=True
    )


class Hardware(IdMixin, TimestampMixin, Base):
    """A hardware profile: detected for a node (``node_id`` set) or registered by an admin."""

    __tablename__ = "cluster_hardware"

    name: Mapped[str | None] = mapped_column(String(256))
    gpus: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    cluster_ip: Mapped[str | None] = mapped_column(String(64))
    processors: Mapped[list[str] | None] = mapped_column(JSON)
    processor_vendor: Mapped[str | None] = mapped_column(String(128))
    os: Mapped[str | None] = mapped_column(String(128))
    platform: Mapped[str | None] = mapped_column(String(128))
    local_node_id: Mapped[str | None] = mapped_column(String(128))
    ray_node_id: Mapped[str | None] = mapped_column(String(128))
    configuration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    node_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cluster_nodes.id", ondelete="SET NULL"), unique=True
    )
    active: Mapped[bool | None] = mapped_column(Boolean)
