"""catalog tables: datasets, containers, secrets (encrypted values) and dataset publishers

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import waza.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_containers",
        sa.Column("urn", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("platform", sa.String(length=256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("parent_urn", sa.String(length=1024), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_urn"],
            ["catalog_containers.urn"],
            name=op.f("fk_catalog_containers_parent_urn_catalog_containers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_containers")),
        sa.UniqueConstraint("urn", name=op.f("uq_catalog_containers_urn")),
    )
    op.create_index(
        op.f("ix_catalog_containers_owner_id"), "catalog_containers", ["owner_id"], unique=False
    )
    op.create_index(
        op.f("ix_catalog_containers_parent_urn"), "catalog_containers", ["parent_urn"], unique=False
    )
    op.create_table(
        "catalog_publishers",
        sa.Column("subject_user_id", sa.String(length=128), nullable=False),
        sa.Column("granted_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_user_id", name=op.f("pk_catalog_publishers")),
    )
    op.create_table(
        "catalog_secrets",
        sa.Column("urn", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("value_encrypted", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_secrets")),
        sa.UniqueConstraint("urn", name=op.f("uq_catalog_secrets_urn")),
    )
    op.create_index(op.f("ix_catalog_secrets_owner"), "catalog_secrets", ["owner"], unique=False)
    op.create_index(
        op.f("ix_catalog_secrets_owner_id"), "catalog_secrets", ["owner_id"], unique=False
    )
    op.create_table(
        "catalog_datasets",
        sa.Column("urn", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("platform", sa.String(length=256), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("dataset_schema", sa.JSON(), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("container_urn", sa.String(length=1024), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["container_urn"],
            ["catalog_containers.urn"],
            name=op.f("fk_catalog_datasets_container_urn_catalog_containers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_datasets")),
        sa.UniqueConstraint("urn", name=op.f("uq_catalog_datasets_urn")),
    )
    op.create_index(
        op.f("ix_catalog_datasets_container_urn"),
        "catalog_datasets",
        ["container_urn"],
        unique=False,
    )
    op.create_index(
        op.f("ix_catalog_datasets_owner_id"), "catalog_datasets", ["owner_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_catalog_datasets_owner_id"), table_name="catalog_datasets")
    op.drop_index(op.f("ix_catalog_datasets_container_urn"), table_name="catalog_datasets")
    op.drop_table("catalog_datasets")
    op.drop_index(op.f("ix_catalog_secrets_owner_id"), table_name="catalog_secrets")
    op.drop_index(op.f("ix_catalog_secrets_owner"), table_name="catalog_secrets")
    op.drop_table("catalog_secrets")
    op.drop_table("catalog_publishers")
    op.drop_index(op.f("ix_catalog_containers_parent_urn"), table_name="catalog_containers")
    op.drop_index(op.f("ix_catalog_containers_owner_id"), table_name="catalog_containers")
    op.drop_table("catalog_containers")
