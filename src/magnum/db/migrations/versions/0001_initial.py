# SPDX-License-Identifier: Apache-2.0
"""initial schema: baymodel, bay, magnum_service

Revision ID: 0001
Revises:
Create Date: 2026-11-24 15:19:38.363518
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Microsecond timestamps everywhere (MariaDB's DATETIME defaults to whole seconds).
TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "bay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("baymodel_id", sa.String(length=36), nullable=False),
        sa.Column("stack_id", sa.String(length=255), nullable=True),
        sa.Column("api_address", sa.String(length=255), nullable=True),
        sa.Column("node_addresses", sa.Text(), nullable=False),
        sa.Column("master_addresses", sa.Text(), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("master_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("bay_create_timeout", sa.Integer(), nullable=True),
        sa.Column("discovery_url", sa.String(length=255), nullable=True),
        sa.Column("ca_cert_ref", sa.String(length=512), nullable=True),
        sa.Column("magnum_cert_ref", sa.String(length=512), nullable=True),
        sa.Column("operation", sa.String(length=20), nullable=True),
        sa.Column("operation_deadline", TS, nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("driver_state", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bay")),
        sa.UniqueConstraint("uuid", name=op.f("uq_bay_uuid")),
    )
    with op.batch_alter_table("bay", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bay_baymodel_id"), ["baymodel_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bay_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_bay_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bay_status"), ["status"], unique=False)

    op.create_table(
        "baymodel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("coe", sa.String(length=255), nullable=True),
        sa.Column("image_id", sa.String(length=255), nullable=True),
        sa.Column("flavor_id", sa.String(length=255), nullable=True),
        sa.Column("master_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("keypair_id", sa.String(length=255), nullable=True),
        sa.Column("external_network_id", sa.String(length=255), nullable=True),
        sa.Column("fixed_network", sa.String(length=255), nullable=True),
        sa.Column("network_driver", sa.String(length=255), nullable=True),
        sa.Column("volume_driver", sa.String(length=255), nullable=True),
        sa.Column("dns_nameserver", sa.String(length=255), nullable=True),
        sa.Column("apiserver_port", sa.Integer(), nullable=True),
        sa.Column("docker_volume_size", sa.Integer(), nullable=True),
        sa.Column("cluster_distro", sa.String(length=255), nullable=True),
        sa.Column("http_proxy", sa.String(length=255), nullable=True),
        sa.Column("https_proxy", sa.String(length=255), nullable=True),
        sa.Column("no_proxy", sa.String(length=255), nullable=True),
        sa.Column("server_type", sa.String(length=255), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("registry_enabled", sa.Boolean(), nullable=False),
        sa.Column("tls_disabled", sa.Boolean(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baymodel")),
        sa.UniqueConstraint("uuid", name=op.f("uq_baymodel_uuid")),
    )
    with op.batch_alter_table("baymodel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_baymodel_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_baymodel_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_baymodel_public"), ["public"], unique=False)

    op.create_table(
        "magnum_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("binary", sa.String(length=255), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=255), nullable=True),
        sa.Column("last_seen_up", TS, nullable=True),
        sa.Column("forced_down", sa.Boolean(), nullable=False),
        sa.Column("report_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_magnum_service")),
        sa.UniqueConstraint("host", "binary", name="uq_magnum_service_host"),
    )


def downgrade() -> None:
    op.drop_table("magnum_service")
    with op.batch_alter_table("baymodel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_baymodel_public"))
        batch_op.drop_index(batch_op.f("ix_baymodel_project_id"))
        batch_op.drop_index(batch_op.f("ix_baymodel_name"))

    op.drop_table("baymodel")
    with op.batch_alter_table("bay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bay_status"))
        batch_op.drop_index(batch_op.f("ix_bay_project_id"))
        batch_op.drop_index(batch_op.f("ix_bay_name"))
        batch_op.drop_index(batch_op.f("ix_bay_baymodel_id"))

    op.drop_table("bay")
