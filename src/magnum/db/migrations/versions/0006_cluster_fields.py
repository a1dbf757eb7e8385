# SPDX-License-Identifier: Apache-2.0
"""today's cluster and template fields: per-cluster overrides (keypair, labels, flavors,
volume size, networks, floating IPs, master load balancer), versions, template tags,
hidden flag, driver, registry and storage settings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _template() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("fixed_subnet", sa.String(length=255), nullable=True),
        sa.Column("insecure_registry", sa.String(length=255), nullable=True),
        sa.Column("docker_storage_driver", sa.String(length=255), nullable=True),
        sa.Column("master_lb_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("floating_ip_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("tags", sa.String(length=255), nullable=True),
        sa.Column("driver", sa.String(length=255), nullable=True),
    )


def _cluster() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("keypair", sa.String(length=255), nullable=True),
        sa.Column("labels", sa.Text(), nullable=True),
        sa.Column("flavor_id", sa.String(length=255), nullable=True),
        sa.Column("master_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("docker_volume_size", sa.Integer(), nullable=True),
        sa.Column("fixed_network", sa.String(length=255), nullable=True),
        sa.Column("fixed_subnet", sa.String(length=255), nullable=True),
        sa.Column("floating_ip_enabled", sa.Boolean(), nullable=True),
        sa.Column("master_lb_enabled", sa.Boolean(), nullable=True),
        sa.Column("coe_version", sa.String(length=255), nullable=True),
        sa.Column("container_version", sa.String(length=255), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("cluster_template") as batch:
        for column in _template():
            batch.add_column(column)
    with op.batch_alter_table("cluster") as batch:
        for column in _cluster():
            batch.add_column(column)
    # Clusters made before this revision inherit what their template says (as Magnum's do
    # at create time): the overrides are the template's values, their labels its labels.
    cluster = sa.table(
        "cluster",
        sa.column("cluster_template_id", sa.String),
        *(sa.column(c.name, c.type) for c in _cluster()),
    )
    template = sa.table(
        "cluster_template",
        sa.column("uuid", sa.String),
        sa.column("keypair_id", sa.String),
        sa.column("labels", sa.Text),
        sa.column("flavor_id", sa.String),
        sa.column("master_flavor_id", sa.String),
        sa.column("docker_volume_size", sa.Integer),
        sa.column("fixed_network", sa.String),
    )

    def inherited(column: str) -> sa.ScalarSelect[object]:
        return (
            sa.select(template.c[column])
            .where(template.c.uuid == cluster.c.cluster_template_id)
            .scalar_subquery()
        )

    op.execute(
        cluster.update().values(
            keypair=inherited("keypair_id"),
            labels=inherited("labels"),
            flavor_id=inherited("flavor_id"),
            master_flavor_id=inherited("master_flavor_id"),
            docker_volume_size=inherited("docker_volume_size"),
            fixed_network=inherited("fixed_network"),
            floating_ip_enabled=sa.true(),
            master_lb_enabled=sa.false(),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        for column in reversed(_cluster()):
            batch.drop_column(column.name)
    with op.batch_alter_table("cluster_template") as batch:
        for column in reversed(_template()):
            batch.drop_column(column.name)
