# SPDX-License-Identifier: Apache-2.0
"""nodegroups API: node labels and taints (1.14), and the names of each nodegroup's nodes
(what nodes_to_remove of a resize names)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 11:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[str], ...]:  # new objects each time: a Column joins one table
    return (
        sa.Column("node_labels", sa.Text(), nullable=True),
        sa.Column("node_taints", sa.Text(), nullable=True),
        sa.Column("node_names", sa.Text(), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("nodegroup") as batch:
        for column in _columns():
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("nodegroup") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
