# SPDX-License-Identifier: Apache-2.0
"""indexes the lists walk: a project's clusters and containers in id order (project_id,
id), which serves a page and its marker without sorting the project's rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 10:00:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (table, the index replaced, the index that replaces it, its columns)
REPLACED = (
    ("cluster", "ix_cluster_project_id", "ix_cluster_project_id_id", ["project_id", "id"]),
    ("container", "ix_container_project_id", "ix_container_project_id_id", ["project_id", "id"]),
)


def upgrade() -> None:
    for table, old, new, columns in REPLACED:
        with op.batch_alter_table(table) as batch:
            batch.create_index(new, columns, unique=False)
            batch.drop_index(old)


def downgrade() -> None:
    for table, old, new, columns in REPLACED:
        with op.batch_alter_table(table) as batch:
            batch.create_index(old, columns[:1], unique=False)
            batch.drop_index(new)
