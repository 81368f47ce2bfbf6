"""vectordb tables

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import waza.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vector_dbs",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("workroom_id", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vector_dbs")),
        sa.UniqueConstraint("owner_id", "name", name="uq_vector_dbs_owner_id_name"),
    )
    with op.batch_alter_table("vector_dbs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vector_dbs_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vector_dbs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vector_dbs_owner_id"))
    op.drop_table("vector_dbs")
