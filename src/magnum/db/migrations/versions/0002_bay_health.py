# SPDX-License-Identifier: Apache-2.0
"""bay health: health_status, health_status_reason, health_checked_at

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:50:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("bay") as batch:
        batch.add_column(sa.Column("health_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("health_status_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("health_checked_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bay") as batch:
        batch.drop_column("health_checked_at")
        batch.drop_column("health_status_reason")
        batch.drop_column("health_status")
