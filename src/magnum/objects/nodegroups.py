# SPDX-License-Identifier: Apache-2.0
"""Nodegroups: every cluster has a default master and a default worker group; a cluster's
master_count and node_count are the sums over its groups of each role. Written only on
behalf of magnum.objects.clusters, in its transactions."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import utils
from magnum.db import models

MASTER = "master"
WORKER = "worker"
DEFAULT_MASTER = "default-master"
DEFAULT_WORKER = "default-worker"


def add_defaults(
    session: orm.Session, cluster: models.Cluster, template: models.ClusterTemplate
) -> tuple[models.NodeGroup, models.NodeGroup]:
    master = _default(
        cluster,
        template,
        DEFAULT_MASTER,
        MASTER,
        flavor_id=template.master_flavor_id or template.flavor_id,
        node_count=cluster.master_count,
        min_node_count=1,
    )
    worker = _default(
        cluster,
        template,
        DEFAULT_WORKER,
        WORKER,
        flavor_id=template.flavor_id,
        node_count=cluster.node_count,
        min_node_count=0,
    )
    session.add_all([master, worker])
    session.flush()
    return master, worker


def _default(
    cluster: models.Cluster,
    template: models.ClusterTemplate,
    name: str,
    role: str,
    *,
    flavor_id: str | None,
    node_count: int,
    min_node_count: int,
) -> models.NodeGroup:
    """A default nodegroup of `role`, taking the rest from the template."""
    return models.NodeGroup(
        uuid=utils.new_uuid(),
        cluster_uuid=cluster.uuid,
        project_id=cluster.project_id,
        name=name,
        role=role,
        is_default=True,
        flavor_id=flavor_id,
        image_id=template.image_id,
        docker_volume_size=template.docker_volume_size,
        labels=dict(template.labels or {}),
        node_count=node_count,
        min_node_count=min_node_count,
        max_node_count=None,
        node_addresses=[],
        status=cluster.status,
    )


def of_cluster(session: orm.Session, cluster_uuid: str) -> Sequence[models.NodeGroup]:
    """Masters first, then workers; each by name."""
    return session.scalars(
        sa.select(models.NodeGroup)
        .where(models.NodeGroup.cluster_uuid == cluster_uuid)
        .order_by(models.NodeGroup.role != MASTER, models.NodeGroup.name)
    ).all()


def default(session: orm.Session, cluster_uuid: str, role: str) -> models.NodeGroup | None:
    return session.scalar(
        sa.select(models.NodeGroup).where(
            models.NodeGroup.cluster_uuid == cluster_uuid,
            models.NodeGroup.role == role,
            models.NodeGroup.is_default.is_(True),
        )
    )


def sums(session: orm.Session, cluster_uuid: str) -> tuple[int, int]:
    """(master_count, node_count) of a cluster: its groups' node counts summed by role."""
    rows = session.execute(
        sa.select(models.NodeGroup.role, sa.func.sum(models.NodeGroup.node_count))
        .where(models.NodeGroup.cluster_uuid == cluster_uuid)
        .group_by(models.NodeGroup.role)
    ).all()
    totals = {role: int(total or 0) for role, total in rows}
    return totals.get(MASTER, 0), totals.get(WORKER, 0)


def set_addresses(
    session: orm.Session,
    cluster_uuid: str,
    name: str,
    addresses: Sequence[str],
    status: str,
) -> None:
    session.execute(
        sa.update(models.NodeGroup)
        .where(models.NodeGroup.cluster_uuid == cluster_uuid, models.NodeGroup.name == name)
        .values(node_addresses=list(addresses), status=status, updated_at=utils.utcnow())
        .execution_options(synchronize_session=False)
    )
