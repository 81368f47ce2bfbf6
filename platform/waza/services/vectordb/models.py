"""ORM model of the vector DBs: one row per vector DB (its collections live in the engine).

``endpoint`` is where the engine keeps this DB's data: the milvus-lite file or Qdrant folder
under ``$WAZA_HOME/vectors/<id>/``, or the server URL (then collections carry a per-DB name
prefix, see `VectorService`). ``config`` is the caller's configuration (never returned: it may
hold credentials); ``replicas`` is the count last requested. Names are unique per owner; the
owner's DB named ``default`` serves the legacy ``/vectordb`` routes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin

DEFAULT_WORKROOM_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"


class VectorDB(IdMixin, TimestampMixin, Base):
    """A vector database on one engine (Milvus or Qdrant), owned by a user."""

    __tablename__ = "vector_dbs"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_vector_dbs_owner_id_name"),)

    name: Mapped[str] = mapped_column(String(256))
    engine: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default="running")
    endpoint: Mapped[str] = mapped_column(String(2048), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    workroom_id: Mapped[str] = mapped_column(String(64), default=DEFAULT_WORKROOM_ID)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
