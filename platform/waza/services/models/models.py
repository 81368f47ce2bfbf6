"""ORM models of the model repository: models, their files and configs, and built-in bookkeeping.

A model row is what the Kamiwaza API calls a Model. ``source`` says where its files come from:
``hub`` (downloaded from the Hugging Face Hub into the shared cache), ``import`` (a folder or file
already on the server, registered in place), ``upload`` (stored under ``models_dir/uploads``),
``builtin`` (shipped with waza or built locally) or ``registered`` (a catalogue entry made with
``POST /models/``, whose files may be downloaded later). ``local_path`` is the folder or file
serving loads: the hub snapshot folder, the imported path, the upload folder or the built-in's
files.

A model file row carries the download bookkeeping of the Kamiwaza wire format (``is_downloading``,
``download_*``); ``download_job`` ties a row to the background job that fills it, so a job that
was cancelled or superseded never overwrites newer state.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waza.db.base import Base, IdMixin, TimestampMixin, utcnow


class DBModel(IdMixin, TimestampMixin, Base):
    """A model in the repository."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(512))
    repo_model_id: Mapped[str | None] = mapped_column(String(512), index=True)
    modelfamily: Mapped[str | None] = mapped_column(String(256))
    purpose: Mapped[str | None] = mapped_column(String(256))
    version: Mapped[str | None] = mapped_column(String(256))
    author: Mapped[str | None] = mapped_column(String(256))
    source_repository: Mapped[str | None] = mapped_column(String(2048))
    sha_repository: Mapped[str | None] = mapped_column(String(128))
    hub: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    quantization_details: Mapped[str | None] = mapped_column(Text)
    modelcard: Mapped[str | None] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(32), default="registered")
    local_path: Mapped[str | None] = mapped_column(String(4096))
    builtin_key: Mapped[str | None] = mapped_column(String(64))


class DBModelFile(IdMixin, Base):
    """One file of a model (or a free-standing file registered with ``POST /model_files/``)."""

    __tablename__ = "model_files"

    m_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int | None] = mapped_column(BigInteger)
    storage_type: Mapped[str | None] = mapped_column(String(32))
    storage_host: Mapped[str | None] = mapped_column(String(256))
    storage_location: Mapped[str | None] = mapped_column(String(4096))
    hub: Mapped[str | None] = mapped_column(String(64))
    checksum: Mapped[str | None] = mapped_column(String(128))
    checksum_type: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # download bookkeeping
    download: Mapped[bool | None] = mapped_column(Boolean)
    is_downloading: Mapped[bool] = mapped_column(Boolean, default=False)
    dl_requested_at: Mapped[datetime | None] = mapped_column()
    download_started_at: Mapped[datetime | None] = mapped_column()
    download_finished_at: Mapped[datetime | None] = mapped_column()
    download_cancelled_at: Mapped[datetime | None] = mapped_column()
    downloaded_bytes: Mapped[int | None] = mapped_column(BigInteger)
    download_speed: Mapped[float | None] = mapped_column()
    download_pid: Mapped[int | None] = mapped_column(Integer)
    download_node: Mapped[str | None] = mapped_column(String(256))
    download_job: Mapped[str | None] = mapped_column(String(64), index=True)
    download_error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID | None] = mapped_column()


class DBModelConfig(IdMixin, TimestampMixin, Base):
    """A serving configuration of a model (engine options in ``config``)."""

    __tablename__ = "model_configs"

    m_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    m_file_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("model_files.id", ondelete="SET NULL")
    )
    name: Mapped[str | None] = mapped_column(String(512))
    is_default: Mapped[bool] = mapped_column("default", Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    system_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    kamiwaza_version: Mapped[str | None] = mapped_column(String(64))


class DBBuiltinModel(Base):
    """That a built-in was registered once: `ensure_builtins` never brings back a deleted one."""

    __tablename__ = "builtin_models"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
