"""ORM model of the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, utcnow


class Activity(IdMixin, Base):
    """One mutating API call: who, what, on which object, when, and how it ended."""

    __tablename__ = "activities"

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    username: Mapped[str | None] = mapped_column(String(128))
    module: Mapped[str] = mapped_column(String(64), index=True)
    apicall: Mapped[str] = mapped_column(String(512))
    action: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str | None] = mapped_column(String(512))
    status_code: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64))
