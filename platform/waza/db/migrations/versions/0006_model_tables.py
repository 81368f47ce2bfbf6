"""model repository tables: models, model files, model configs, built-in bookkeeping

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import waza.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "builtin_models",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("registered_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_builtin_models")),
    )
    op.create_table(
        "models",
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("repo_model_id", sa.String(length=512), nullable=True),
        sa.Column("modelfamily", sa.String(length=256), nullable=True),
        sa.Column("purpose", sa.String(length=256), nullable=True),
        sa.Column("version", sa.String(length=256), nullable=True),
        sa.Column("author", sa.String(length=256), nullable=True),
        sa.Column("source_repository", sa.String(length=2048), nullable=True),
        sa.Column("sha_repository", sa.String(length=128), nullable=True),
        sa.Column("hub", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantization_details", sa.Text(), nullable=True),
        sa.Column("modelcard", sa.Text(), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("local_path", sa.String(length=4096), nullable=True),
        sa.Column("builtin_key", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_models_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_models_repo_model_id"), ["repo_model_id"], unique=False
        )

    op.create_table(
        "model_files",
        sa.Column("m_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("storage_type", sa.String(length=32), nullable=True),
        sa.Column("storage_host", sa.String(length=256), nullable=True),
        sa.Column("storage_location", sa.String(length=4096), nullable=True),
        sa.Column("hub", sa.String(length=64), nullable=True),
        sa.Column("checksum", sa.String(length=128), nullable=True),
        sa.Column("checksum_type", sa.String(length=32), nullable=True),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("download", sa.Boolean(), nullable=True),
        sa.Column("is_downloading", sa.Boolean(), nullable=False),
        sa.Column("dl_requested_at", waza.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("download_started_at", waza.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("download_finished_at", waza.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("download_cancelled_at", waza.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("downloaded_bytes", sa.BigInteger(), nullable=True),
        sa.Column("download_speed", sa.Float(), nullable=True),
        sa.Column("download_pid", sa.Integer(), nullable=True),
        sa.Column("download_node", sa.String(length=256), nullable=True),
        sa.Column("download_job", sa.String(length=64), nullable=True),
        sa.Column("download_error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["m_id"],
            ["models.id"],
            name=op.f("fk_model_files_m_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_files")),
    )
    with op.batch_alter_table("model_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_files_download_job"), ["download_job"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_model_files_m_id"), ["m_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_files_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "model_configs",
        sa.Column("m_id", sa.Uuid(), nullable=False),
        sa.Column("m_file_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("default", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("system_config", sa.JSON(), nullable=False),
        sa.Column("kamiwaza_version", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["m_file_id"],
            ["model_files.id"],
            name=op.f("fk_model_configs_m_file_id_model_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["m_id"],
            ["models.id"],
            name=op.f("fk_model_configs_m_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_configs")),
    )
    with op.batch_alter_table("model_configs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_configs_m_id"), ["m_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_configs_m_id"))
    op.drop_table("model_configs")
    with op.batch_alter_table("model_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_files_owner_id"))
        batch_op.drop_index(batch_op.f("ix_model_files_m_id"))
        batch_op.drop_index(batch_op.f("ix_model_files_download_job"))
    op.drop_table("model_files")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_repo_model_id"))
        batch_op.drop_index(batch_op.f("ix_models_owner_id"))
    op.drop_table("models")
    op.drop_table("builtin_models")
