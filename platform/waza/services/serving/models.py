"""ORM models of serving: deployments, their replicas, lifecycle events and runtime token usage.

A deployment is one Ray Serve application (``waza-<install>-<id hex>``) running one engine. ``spec``
is the engine spec sent to the replicas and ``options`` the Serve settings (replicas,
autoscaling, resources), so a deployment can be recreated after a restart. Instances mirror the
Serve replicas the status watcher last saw; events are the lifecycle log shown by ``.../logs``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin, utcnow

ACTIVE_STATUSES = ("REQUESTED", "DEPLOYING", "INITIALIZING", "DEPLOYED", "UNHEALTHY")


class Deployment(IdMixin, TimestampMixin, Base):
    """A model served by Ray Serve, owned by the user who deployed it."""

    __tablename__ = "deployments"

    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    m_id: Mapped[uuid.UUID] = mapped_column(index=True)
    m_config_id: Mapped[uuid.UUID]
    m_file_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    m_name: Mapped[str] = mapped_column(String(512))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    engine_name: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True, default="REQUESTED")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    deployed_at: Mapped[datetime | None] = mapped_column(default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    last_error_message: Mapped[str | None] = mapped_column(Text, default=None)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class DeploymentInstance(IdMixin, Base):
    """One Serve replica of a deployment (id derived from the replica's actor name)."""

    __tablename__ = "deployment_instances"

    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    replica_name: Mapped[str] = mapped_column(String(512))
    node_id: Mapped[str | None] = mapped_column(String(128), default=None)
    node_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(32), default="DEPLOYING")
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeploymentEvent(IdMixin, Base):
    """A lifecycle line of a deployment (state changes, errors, reconcile decisions)."""

    __tablename__ = "deployment_events"

    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(16), default="INFO")
    message: Mapped[str] = mapped_column(Text)


class RuntimeUsage(IdMixin, Base):
    """Tokens and timings of one OpenAI-compatible call, per user and deployment."""

    __tablename__ = "runtime_usage"

    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(index=True)
    endpoint: Mapped[str] = mapped_column(String(32))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, default=None)
    tokens_per_s: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
