"""ingestion and retrieval tables: scheduled ingest jobs, emitted MCPs, RAG jobs, retrieval jobs

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import waza.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_jobs",
        sa.Column("job_id", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("owner_username", sa.String(length=128), nullable=False),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("source_type", sa.String(length=64), nullable=False),
        sa.Column("conn_args_encrypted", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("last_run", waza.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_urns", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_jobs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_ingest_jobs_job_id")),
    )
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_jobs_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "ingest_mcps",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("entity_urn", sa.String(length=1024), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("aspect_name", sa.String(length=200), nullable=False),
        sa.Column("change_type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_mcps")),
    )
    with op.batch_alter_table("ingest_mcps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_mcps_entity_urn"), ["entity_urn"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_mcps_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "rag_jobs",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("owner_username", sa.String(length=128), nullable=False),
        sa.Column("owner_roles", sa.JSON(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("collection", sa.String(length=200), nullable=False),
        sa.Column("vectordb_id", sa.Uuid(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dataset_urns", sa.JSON(), nullable=False),
        sa.Column("created_urns", sa.JSON(), nullable=False),
        sa.Column("created_collection", sa.Boolean(), nullable=False),
        sa.Column("staging", sa.Text(), nullable=True),
        sa.Column("started_at", waza.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", waza.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rag_jobs")),
    )
    with op.batch_alter_table("rag_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rag_jobs_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rag_jobs_status"), ["status"], unique=False)

    op.create_table(
        "retrieval_jobs",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_urn", sa.String(length=1024), nullable=False),
        sa.Column("platform", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("estimated_bytes", sa.BigInteger(), nullable=True),
        sa.Column("estimated_rows", sa.BigInteger(), nullable=True),
        sa.Column("rows_processed", sa.BigInteger(), nullable=False),
        sa.Column("bytes_processed", sa.BigInteger(), nullable=False),
        sa.Column("chunks_emitted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", waza.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrieval_jobs")),
    )
    with op.batch_alter_table("retrieval_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retrieval_jobs_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("retrieval_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retrieval_jobs_owner_id"))

    op.drop_table("retrieval_jobs")
    with op.batch_alter_table("rag_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rag_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_rag_jobs_owner_id"))

    op.drop_table("rag_jobs")
    with op.batch_alter_table("ingest_mcps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_mcps_owner_id"))
        batch_op.drop_index(batch_op.f("ix_ingest_mcps_entity_urn"))

    op.drop_table("ingest_mcps")
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_jobs_owner_id"))

    op.drop_table("ingest_jobs")
