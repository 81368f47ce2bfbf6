"""ORM models of the App Garden: templates, deployments and their instances.

A template's ``compose_yml`` is a docker-compose document; waza reads its ``x-waza`` block for
the process runtime and its services (image, environment, ports) for the swarm runtime. A
deployment keeps a snapshot of the template and the launch ``spec`` it resolved (without
secrets), so the runtime can start it again after a restart. Ephemeral deployments carry the
hash of their session token and the time their session ends without a heartbeat.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin, utcnow

ACTIVE_STATUSES = ("REQUESTED", "DEPLOYING", "DEPLOYED", "STOPPING")


class AppTemplate(IdMixin, TimestampMixin, Base):
    """A deployable app: name, version, compose document and catalog metadata."""

    __tablename__ = "app_templates"

    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(64), default="1.0.0")
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    source_type: Mapped[str] = mapped_column(String(32), default="user_repo")
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    risk_tier: Mapped[int] = mapped_column(Integer, default=0)
    template_type: Mapped[str] = mapped_column(String(16), default="app")
    compose_yml: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    strip_path_prefix: Mapped[bool | None] = mapped_column(Boolean, default=None)
    env_defaults: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # category, tags, author…


class AppDeployment(IdMixin, TimestampMixin, Base):
    """An app started from a template, owned by the user who deployed it."""

    __tablename__ = "app_deployments"

    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    template_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), index=True, default="REQUESTED")
    runtime: Mapped[str] = mapped_column(String(16), default="process")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    deployed_at: Mapped[datetime | None] = mapped_column(default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)
    min_copies: Mapped[int] = mapped_column(Integer, default=1)
    starting_copies: Mapped[int] = mapped_column(Integer, default=1)
    max_copies: Mapped[int | None] = mapped_column(Integer, default=None)
    env_vars: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    compose_yml: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_deployment_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    token_jti: Mapped[str | None] = mapped_column(String(64), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    ephemeral: Mapped[bool] = mapped_column(Boolean, default=False)
    session_token_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    session_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class AppInstance(IdMixin, Base):
    """One running copy of a deployment: a process (pid, port) or a Swarm task."""

    __tablename__ = "app_instances"

    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("app_deployments.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(32), default="DEPLOYING")
    host_name: Mapped[str | None] = mapped_column(String(255), default=None)
    node_id: Mapped[str | None] = mapped_column(String(128), default=None)
    listen_port: Mapped[int | None] = mapped_column(Integer, default=None)
    container_id: Mapped[str | None] = mapped_column(String(255), default=None)
    log_path: Mapped[str | None] = mapped_column(Text, default=None)
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)
    port_mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
