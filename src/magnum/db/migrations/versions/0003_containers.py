# SPDX-License-Identifier: Apache-2.0
"""containers: the container table, bay.containers_synced_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "container",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("image", sa.String(length=255), nullable=False),
        sa.Column("command", sa.String(length=255), nullable=True),
        sa.Column("bay_uuid", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("memory", sa.String(length=255), nullable=True),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("docker_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_container")),
        sa.UniqueConstraint("uuid", name=op.f("uq_container_uuid")),
    )
    with op.batch_alter_table("container", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_container_bay_uuid"), ["bay_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_container_project_id"), ["project_id"], unique=False)
    with op.batch_alter_table("bay") as batch:
        batch.add_column(sa.Column("containers_synced_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bay") as batch:
        batch.drop_column("containers_synced_at")
    with op.batch_alter_table("container", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_container_project_id"))
        batch_op.drop_index(batch_op.f("ix_container_bay_uuid"))
    op.drop_table("container")
