"""ORM models of prompts: one table for the four kinds, and the history of their versions.

A prompt is a role, a system prompt, an element or a template (``kind``), owned by its creator.
``version`` starts at 1 and grows by one each time the name, content or tags change; every
version's text is kept in ``prompt_versions``. Names are unique per owner and kind.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin, utcnow

NAME_LENGTH = 255


class Prompt(IdMixin, TimestampMixin, Base):
    """A role, system prompt, element or template (its current version)."""

    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("kind", "owner_id", "name", name="uq_prompts_kind_owner_name"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    content: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)


class PromptVersion(IdMixin, Base):
    """The text of one version of a prompt, as it was when that version was written."""

    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_prompt_version"),
    )

    prompt_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prompts.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    content: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
