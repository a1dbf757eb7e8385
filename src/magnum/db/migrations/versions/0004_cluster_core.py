# SPDX-License-Identifier: Apache-2.0
"""cluster core: bay -> cluster, baymodel -> cluster_template (in place, data kept);
nodegroup, operation and cluster_event tables; every existing cluster gets its default
master and worker nodegroups, and an operation in flight gets its record.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:00:00
"""

import json
import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# (old table, new table, {old column: new column}, indexed columns after the rename)
RENAMES: tuple[tuple[str, str, dict[str, str], tuple[str, ...]], ...] = (
    ("baymodel", "cluster_template", {}, ("name", "project_id", "public")),
    (
        "bay",
        "cluster",
        {"baymodel_id": "cluster_template_id", "bay_create_timeout": "create_timeout"},
        ("name", "project_id", "status", "cluster_template_id"),
    ),
)
COLUMN_TYPES: dict[str, tuple[sa.types.TypeEngine[Any], bool]] = {
    "baymodel_id": (sa.String(length=36), False),
    "cluster_template_id": (sa.String(length=36), False),
    "bay_create_timeout": (sa.Integer(), True),
    "create_timeout": (sa.Integer(), True),
    "bay_uuid": (sa.String(length=36), False),
    "cluster_uuid": (sa.String(length=36), False),
}


def _rename_table(old: str, new: str, columns: dict[str, str], indexed: tuple[str, ...]) -> None:
    reverse = {v: k for k, v in columns.items()}
    with op.batch_alter_table(old) as batch:
        for column in indexed:
            batch.drop_index(f"ix_{old}_{reverse.get(column, column)}")
        batch.drop_constraint(f"uq_{old}_uuid", type_="unique")
    op.rename_table(old, new)
    with op.batch_alter_table(new) as batch:
        for before, after in columns.items():
            type_, nullable = COLUMN_TYPES[before]
            batch.alter_column(
                before, new_column_name=after, existing_type=type_, existing_nullable=nullable
            )
    with op.batch_alter_table(new) as batch:
        batch.create_unique_constraint(f"uq_{new}_uuid", ["uuid"])
        for column in indexed:
            batch.create_index(f"ix_{new}_{column}", [column], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT pk_{old} TO pk_{new}")
        op.execute(f"ALTER SEQUENCE IF EXISTS {old}_id_seq RENAME TO {new}_id_seq")


def _rename_container_column(before: str, after: str, old_cluster: str, new_cluster: str) -> None:
    del old_cluster, new_cluster
    type_, nullable = COLUMN_TYPES[before]
    with op.batch_alter_table("container") as batch:
        batch.drop_index(f"ix_container_{before}")
    with op.batch_alter_table("container") as batch:
        batch.alter_column(
            before, new_column_name=after, existing_type=type_, existing_nullable=nullable
        )
    with op.batch_alter_table("container") as batch:
        batch.create_index(f"ix_container_{after}", [after], unique=False)


def _new_tables() -> None:
    op.create_table(
        "nodegroup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("cluster_uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("flavor_id", sa.String(length=255), nullable=True),
        sa.Column("image_id", sa.String(length=255), nullable=True),
        sa.Column("docker_volume_size", sa.Integer(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("min_node_count", sa.Integer(), nullable=False),
        sa.Column("max_node_count", sa.Integer(), nullable=True),
        sa.Column("node_addresses", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("stack_id", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=20), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodegroup")),
        sa.UniqueConstraint("uuid", name=op.f("uq_nodegroup_uuid")),
        sa.UniqueConstraint("cluster_uuid", "name", name="uq_nodegroup_cluster_uuid"),
    )
    op.create_index("ix_nodegroup_cluster_uuid", "nodegroup", ["cluster_uuid"], unique=False)
    op.create_table(
        "operation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("cluster_uuid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("conductor", sa.String(length=255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deadline", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation")),
        sa.UniqueConstraint("uuid", name=op.f("uq_operation_uuid")),
    )
    op.create_index("ix_operation_cluster_uuid", "operation", ["cluster_uuid"], unique=False)
    op.create_table(
        "cluster_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("cluster_uuid", sa.String(length=36), nullable=False),
        sa.Column("cluster_project_id", sa.String(length=255), nullable=False),
        sa.Column("operation_uuid", sa.String(length=36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("conductor", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_event")),
        sa.UniqueConstraint("uuid", name=op.f("uq_cluster_event_uuid")),
    )
    op.create_index(
        "ix_cluster_event_cluster_uuid", "cluster_event", ["cluster_uuid"], unique=False
    )
    op.create_index("ix_cluster_event_created_at", "cluster_event", ["created_at"], unique=False)


def _backfill() -> None:
    """Default nodegroups for every cluster; a record for every operation in flight."""
    bind = op.get_bind()
    meta = sa.MetaData()
    cluster = sa.Table("cluster", meta, autoload_with=bind)
    template = sa.Table("cluster_template", meta, autoload_with=bind)
    nodegroup = sa.Table("nodegroup", meta, autoload_with=bind)
    operation = sa.Table("operation", meta, autoload_with=bind)
    rows = bind.execute(
        sa.select(cluster, template.c.flavor_id, template.c.master_flavor_id, template.c.image_id)
        .select_from(cluster.outerjoin(template, template.c.uuid == cluster.c.cluster_template_id))
        .order_by(cluster.c.id)
    ).mappings()
    for row in list(rows):
        for role, name, count, flavor, addresses in (
            (
                "master",
                "default-master",
                row["master_count"],
                row["master_flavor_id"] or row["flavor_id"],
                row["master_addresses"],
            ),
            (
                "worker",
                "default-worker",
                row["node_count"],
                row["flavor_id"],
                row["node_addresses"],
            ),
        ):
            bind.execute(
                nodegroup.insert().values(
                    uuid=str(uuid.uuid4()),
                    cluster_uuid=row["uuid"],
                    project_id=row["project_id"],
                    name=name,
                    role=role,
                    is_default=True,
                    flavor_id=flavor,
                    image_id=row["image_id"],
                    labels="{}",
                    node_count=count,
                    min_node_count=1 if role == "master" else 0,
                    max_node_count=None,
                    node_addresses=addresses or "[]",
                    status=row["status"],
                    created_at=row["created_at"],
                )
            )
        if row["operation"] is None:
            continue
        result = bind.execute(
            operation.insert().values(
                uuid=str(uuid.uuid4()),
                cluster_uuid=row["uuid"],
                kind=row["operation"],
                args=json.dumps({}),
                state="pending",
                user_id=row["user_id"],
                project_id=row["project_id"],
                created_at=row["updated_at"] or row["created_at"],
                deadline=row["operation_deadline"],
            )
        )
        bind.execute(
            cluster.update()
            .where(cluster.c.id == row["id"])
            .values(operation_id=result.inserted_primary_key[0])  # type: ignore[index]
        )


def upgrade() -> None:
    for old, new, columns, indexed in RENAMES:
        _rename_table(old, new, columns, indexed)
    _rename_container_column("bay_uuid", "cluster_uuid", "bay", "cluster")
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(sa.Column("operation_id", sa.Integer(), nullable=True))
    _new_tables()
    _backfill()


def downgrade() -> None:
    op.drop_table("cluster_event")
    op.drop_table("operation")
    op.drop_table("nodegroup")
    with op.batch_alter_table("cluster") as batch:
        batch.drop_column("operation_id")
    _rename_container_column("cluster_uuid", "bay_uuid", "cluster", "bay")
    for old, new, columns, indexed in reversed(RENAMES):
        reverse = {v: k for k, v in columns.items()}
        _rename_table(new, old, reverse, tuple(reverse.get(c, c) for c in indexed))
