"""ORM models of the catalog: datasets, containers, secrets and dataset publishers.

Objects are keyed by their canonical DataHub URN (unique). Membership follows DataHub's model:
a dataset belongs to at most one container (``datasets.container_urn``) and a container to at
most one parent (``containers.parent_urn``); a container's datasets and sub-containers are the
rows that point at it. Deleting a container detaches its datasets and sub-containers (the service
does it explicitly; ``ondelete="SET NULL"`` is the same rule as a safety net).

``search_text`` is a lower-cased copy of the searchable fields (name, description, tags)
so that ``query=`` is one portable ``LIKE`` on every backend.

Secret values are never stored in plain text: ``value_encrypted`` holds the
:class:`waza.crypto.Envelope` form (a per-value data key wrapped by the key-encryption key).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin

URN_LENGTH = 1024  # = urns.MAX_URN_LENGTH


class CatalogContainer(IdMixin, TimestampMixin, Base):
    """A group of datasets (and of sub-containers)."""

    __tablename__ = "catalog_containers"

    urn: Mapped[str] = mapped_column(String(URN_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(512))
    platform: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parent_urn: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_containers.urn", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    search_text: Mapped[str] = mapped_column(Text, default="")


class CatalogDataset(IdMixin, TimestampMixin, Base):
    """A dataset registered in the catalog (metadata only; the data stays where it is)."""

    __tablename__ = "catalog_datasets"

    urn: Mapped[str] = mapped_column(String(URN_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(URN_LENGTH))
    platform: Mapped[str] = mapped_column(String(256))
    environment: Mapped[str] = mapped_column(String(32), default="PROD")
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    schema_version: Mapped[int] = mapped_column(Integer, default=0)
    container_urn: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_containers.urn", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    search_text: Mapped[str] = mapped_column(Text, default="")


class CatalogSecret(IdMixin, TimestampMixin, Base):
    """A named secret; its value only ever exists here encrypted."""

    __tablename__ = "catalog_secrets"

    urn: Mapped[str] = mapped_column(String(URN_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    owner: Mapped[str] = mapped_column(String(256), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    value_encrypted: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_by: Mapped[str] = mapped_column(String(128))


class CatalogPublisher(TimestampMixin, Base):
    """A user granted the cluster-wide dataset publisher relation (admin-managed)."""

    __tablename__ = "catalog_publishers"

    subject_user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(128))
