# SPDX-License-Identifier: Apache-2.0
"""Table definitions. Rows stay plain; rules live in magnum.objects.

Constraint names follow a naming convention so that Alembic autogenerate and the
models-vs-migrations test compare them reliably on every backend.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from magnum.common import utils

# The largest value an INTEGER column (ids, counts, sizes) holds on every backend.
MAX_INT = 2**31 - 1

# Microsecond timestamps on MariaDB too: leases compare expiry times closely.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class _JsonText(sa.types.TypeDecorator[Any]):
    """JSON stored as text: identical behaviour on SQLite, PostgreSQL and MariaDB."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        import json  # noqa: PLC0415

        return None if value is None else json.dumps(value, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        return None if value is None else orjson.loads(value)  # a row a page, or more


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class _Timestamps:
    created_at: Mapped[datetime.datetime] = mapped_column(Timestamp, default=utils.utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(
        Timestamp, default=None, onupdate=utils.utcnow
    )


class ClusterTemplate(_Timestamps, Base):
    __tablename__ = "cluster_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    project_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    coe: Mapped[str | None] = mapped_column(sa.String(255))
    image_id: Mapped[str | None] = mapped_column(sa.String(255))
    flavor_id: Mapped[str | None] = mapped_column(sa.String(255))
    master_flavor_id: Mapped[str | None] = mapped_column(sa.String(255))
    keypair_id: Mapped[str | None] = mapped_column(sa.String(255))
    external_network_id: Mapped[str | None] = mapped_column(sa.String(255))
    fixed_network: Mapped[str | None] = mapped_column(sa.String(255))
    network_driver: Mapped[str | None] = mapped_column(sa.String(255))
    volume_driver: Mapped[str | None] = mapped_column(sa.String(255))
    dns_nameserver: Mapped[str | None] = mapped_column(sa.String(255))
    apiserver_port: Mapped[int | None] = mapped_column(sa.Integer)
    docker_volume_size: Mapped[int | None] = mapped_column(sa.Integer)
    cluster_distro: Mapped[str | None] = mapped_column(sa.String(255))
    http_proxy: Mapped[str | None] = mapped_column(sa.String(255))
    https_proxy: Mapped[str | None] = mapped_column(sa.String(255))
    no_proxy: Mapped[str | None] = mapped_column(sa.String(255))
    server_type: Mapped[str | None] = mapped_column(sa.String(255))
    labels: Mapped[dict[str, str]] = mapped_column(_JsonText, default=dict)
    registry_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    tls_disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    public: Mapped[bool] = mapped_column(sa.Boolean, default=False, index=True)
    fixed_subnet: Mapped[str | None] = mapped_column(sa.String(255))
    insecure_registry: Mapped[str | None] = mapped_column(sa.String(255))
    docker_storage_driver: Mapped[str | None] = mapped_column(sa.String(255))
    master_lb_enabled: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, server_default=sa.false()
    )
    floating_ip_enabled: Mapped[bool] = mapped_column(
        sa.Boolean, default=True, server_default=sa.true()
    )
    hidden: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    tags: Mapped[str | None] = mapped_column(sa.String(255))
    driver: Mapped[str | None] = mapped_column(sa.String(255))


class Cluster(_Timestamps, Base):
    """A cluster (Mitaka's bay). `node_count` and `master_count` are the sums of its worker and
    master nodegroups, kept by magnum.objects.clusters, the only writer of this row."""

    __tablename__ = "cluster"
    __table_args__ = (
        # A project's page in id order, and its marker, without sorting the project's rows.
        sa.Index("ix_cluster_project_id_id", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    project_id: Mapped[str] = mapped_column(sa.String(255))
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    cluster_template_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    stack_id: Mapped[str | None] = mapped_column(sa.String(255))
    api_address: Mapped[str | None] = mapped_column(sa.String(255))
    node_addresses: Mapped[list[str]] = mapped_column(_JsonText, default=list)
    master_addresses: Mapped[list[str]] = mapped_column(_JsonText, default=list)
    node_count: Mapped[int] = mapped_column(sa.Integer)
    master_count: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    create_timeout: Mapped[int | None] = mapped_column(sa.Integer)
    discovery_url: Mapped[str | None] = mapped_column(sa.String(255))
    ca_cert_ref: Mapped[str | None] = mapped_column(sa.String(512))
    magnum_cert_ref: Mapped[str | None] = mapped_column(sa.String(512))
    # What the cluster overrides of its template (Magnum's per-cluster fields); a create
    # fills each from the template when the request leaves it out.
    keypair: Mapped[str | None] = mapped_column(sa.String(255))
    labels: Mapped[dict[str, Any] | None] = mapped_column(_JsonText)
    flavor_id: Mapped[str | None] = mapped_column(sa.String(255))
    master_flavor_id: Mapped[str | None] = mapped_column(sa.String(255))
    docker_volume_size: Mapped[int | None] = mapped_column(sa.Integer)
    fixed_network: Mapped[str | None] = mapped_column(sa.String(255))
    fixed_subnet: Mapped[str | None] = mapped_column(sa.String(255))
    floating_ip_enabled: Mapped[bool | None] = mapped_column(sa.Boolean)
    master_lb_enabled: Mapped[bool | None] = mapped_column(sa.Boolean)
    coe_version: Mapped[str | None] = mapped_column(sa.String(255))
    container_version: Mapped[str | None] = mapped_column(sa.String(255))
    # The operation in flight and who owns it (see magnum.objects.clusters).
    operation: Mapped[str | None] = mapped_column(sa.String(20))
    # The active operation's record (magnum.db.models.Operation); None when settled.
    operation_id: Mapped[int | None] = mapped_column(sa.Integer)
    operation_deadline: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(255))
    lease_expires_at: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    # What the drivers built so far, so an operation taken over by another conductor resumes.
    driver_state: Mapped[dict[str, Any]] = mapped_column(_JsonText, default=dict)
    # Periodic health check (magnum.conductor.health); the claim spreads checks over conductors.
    health_status: Mapped[str | None] = mapped_column(sa.String(20))
    health_status_reason: Mapped[str | None] = mapped_column(sa.Text)
    health_checked_at: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    # Periodic container status sync (magnum.conductor.handlers.container), claimed likewise.
    containers_synced_at: Mapped[datetime.datetime | None] = mapped_column(Timestamp)


class MagnumService(_Timestamps, Base):
    __tablename__ = "magnum_service"
    __table_args__ = (sa.UniqueConstraint("host", "binary", name="uq_magnum_service_host"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    binary: Mapped[str] = mapped_column(sa.String(255))
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(255))
    last_seen_up: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    forced_down: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    report_count: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


class Container(_Timestamps, Base):
    """A Docker container on a swarm bay's node (Mitaka's table plus placement)."""

    __tablename__ = "container"
    __table_args__ = (sa.Index("ix_container_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    project_id: Mapped[str] = mapped_column(sa.String(255))
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.String(255))
    image: Mapped[str] = mapped_column(sa.String(255))
    command: Mapped[str | None] = mapped_column(sa.String(255))
    cluster_uuid: Mapped[str] = mapped_column(sa.String(36), index=True)
    status: Mapped[str | None] = mapped_column(sa.String(20))
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    memory: Mapped[str | None] = mapped_column(sa.String(255))
    environment: Mapped[dict[str, str]] = mapped_column(_JsonText, default=dict)
    # The cluster node that runs it, and Docker's id for it there.
    host: Mapped[str | None] = mapped_column(sa.String(255))
    docker_id: Mapped[str | None] = mapped_column(sa.String(255))


class NodeGroup(_Timestamps, Base):
    """A group of nodes of one role with one flavor and image (Magnum's nodegroup).

    Every cluster has a default master and a default worker group; the cluster's counts are
    the sums over its groups of each role."""

    __tablename__ = "nodegroup"
    __table_args__ = (
        sa.UniqueConstraint("cluster_uuid", "name", name="uq_nodegroup_cluster_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    cluster_uuid: Mapped[str] = mapped_column(sa.String(36), index=True)
    project_id: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(255))
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    flavor_id: Mapped[str | None] = mapped_column(sa.String(255))
    image_id: Mapped[str | None] = mapped_column(sa.String(255))
    docker_volume_size: Mapped[int | None] = mapped_column(sa.Integer)
    labels: Mapped[dict[str, str]] = mapped_column(_JsonText, default=dict)
    node_count: Mapped[int] = mapped_column(sa.Integer)
    min_node_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_node_count: Mapped[int | None] = mapped_column(sa.Integer)
    node_addresses: Mapped[list[str]] = mapped_column(_JsonText, default=list)
    status: Mapped[str | None] = mapped_column(sa.String(20))
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    stack_id: Mapped[str | None] = mapped_column(sa.String(255))
    version: Mapped[str | None] = mapped_column(sa.String(20))
    # 1.14: what the group's nodes are labelled and tainted with (COE node metadata).
    node_labels: Mapped[dict[str, str] | None] = mapped_column(_JsonText)
    node_taints: Mapped[list[dict[str, str]] | None] = mapped_column(_JsonText)
    # The names of the group's nodes as the last settled operation found them, in the order
    # of node_addresses: what a resize's nodes_to_remove may name.
    node_names: Mapped[list[str] | None] = mapped_column(_JsonText)


class Operation(Base):
    """One requested operation on a cluster: what, with which arguments, who asked, who ran
    it and how it ended. Written by magnum.objects.clusters."""

    __tablename__ = "operation"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    cluster_uuid: Mapped[str] = mapped_column(sa.String(36), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    args: Mapped[dict[str, Any]] = mapped_column(_JsonText, default=dict)
    # pending -> running -> succeeded | failed | superseded
    state: Mapped[str] = mapped_column(sa.String(20))
    request_id: Mapped[str | None] = mapped_column(sa.String(255))
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    conductor: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime.datetime] = mapped_column(Timestamp, default=utils.utcnow)
    deadline: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    message: Mapped[str | None] = mapped_column(sa.Text)


class ClusterEvent(Base):
    """One entry of a cluster's timeline, written in the transaction of the change it tells."""

    __tablename__ = "cluster_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    cluster_uuid: Mapped[str] = mapped_column(sa.String(36), index=True)
    # The project that owns the cluster: its events stay readable to it after a delete.
    cluster_project_id: Mapped[str] = mapped_column(sa.String(255))
    operation_uuid: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime.datetime] = mapped_column(
        Timestamp, default=utils.utcnow, index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str | None] = mapped_column(sa.String(20))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    message: Mapped[str | None] = mapped_column(sa.Text)
    request_id: Mapped[str | None] = mapped_column(sa.String(255))
    user_id: Mapped[str | None] = mapped_column(sa.String(255))
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    conductor: Mapped[str | None] = mapped_column(sa.String(255))


class Quota(_Timestamps, Base):
    """A project's limit on a resource (Magnum's quota: resource "Cluster"; ours also "Node").
    `hard_limit` None means the configured default ([quotas]). A project's row for
    "Cluster" is also the lock that serialises its creates and resizes."""

    __tablename__ = "quota"
    __table_args__ = (sa.UniqueConstraint("project_id", "resource", name="uq_quota_project_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(255))
    resource: Mapped[str] = mapped_column(sa.String(255))
    hard_limit: Mapped[int | None] = mapped_column(sa.Integer)
