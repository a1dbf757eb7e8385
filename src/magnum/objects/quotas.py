# SPDX-License-Identifier: Apache-2.0
"""Per-project quotas and the host-wide budget, checked in the transaction that records a
create or a resize, before anything is written.

A project may have at most `max_clusters_per_project` clusters and `max_nodes_per_project`
nodes (masters and workers of all its clusters), unless a quota record of the project says
otherwise; all clusters together may have at most the infrastructure's capacity. The
project's "Cluster" quota row (made on first use) is locked first, and the host's budget
row too, so concurrent requests are counted one after the other, never both against the
same headroom.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from magnum.common import exceptions
from magnum.db import models

CLUSTER = "Cluster"
NODE = "Node"
HOST = "*"  # the project id of the host-wide budget's lock row


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The configured defaults ([quotas]) and the infrastructure's capacity in nodes."""

    clusters_per_project: int
    nodes_per_project: int
    host_nodes: int | None = None  # None: the infrastructure sets no limit


def _lock(session: orm.Session, project_id: str) -> None:
    """Lock the project's Cluster quota row until commit, making it if there is none.
    Writing the row takes the lock on every backend (SQLite locks the database)."""
    where = (models.Quota.project_id == project_id, models.Quota.resource == CLUSTER)
    locked = session.execute(
        sa.update(models.Quota)
        .where(*where)
        .values(id=models.Quota.id)
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():  # a concurrent first use may insert it too
            session.add(models.Quota(project_id=project_id, resource=CLUSTER, hard_limit=None))
    except sa_exc.IntegrityError:
        pass
    session.execute(
        sa.update(models.Quota)
        .where(*where)
        .values(id=models.Quota.id)
        .execution_options(synchronize_session=False)
    )


def limit(session: orm.Session, project_id: str, resource: str, default: int) -> int:
    value = session.scalar(
        sa.select(models.Quota.hard_limit).where(
            models.Quota.project_id == project_id, models.Quota.resource == resource
        )
    )
    return default if value is None else value


def _usage(session: orm.Session, project_id: str | None) -> tuple[int, int]:
    """(clusters, nodes) of a project, or of every project when None."""
    stmt = sa.select(
        sa.func.count(models.Cluster.id),
        sa.func.coalesce(sa.func.sum(models.Cluster.master_count + models.Cluster.node_count), 0),
    )
    if project_id is not None:
        stmt = stmt.where(models.Cluster.project_id == project_id)
    clusters, nodes = session.execute(stmt).one()
    return int(clusters), int(nodes)


def reserve(
    session: orm.Session,
    project_id: str,
    limits: Limits,
    *,
    clusters: int,
    nodes: int,
    resize: bool = False,
) -> None:
    """Refuse `clusters` more clusters and `nodes` more nodes for `project_id` if they would
    pass its quotas or the host's budget. Called before the rows are written; the locks
    are held until the caller's transaction ends."""
    _lock(session, project_id)
    have_clusters, have_nodes = _usage(session, project_id)
    max_clusters = limit(session, project_id, CLUSTER, limits.clusters_per_project)
    max_nodes = limit(session, project_id, NODE, limits.nodes_per_project)
    refuse = exceptions.QuotaExceeded if resize else exceptions.ResourceLimitExceeded
    if clusters and have_clusters + clusters > max_clusters:
        raise refuse(
            msg=f"You have reached the maximum clusters per project, {max_clusters}. "
            "Delete clusters before creating new ones."
        )
    if nodes > 0 and have_nodes + nodes > max_nodes:
        raise refuse(
            msg=f"This would make {have_nodes + nodes} nodes in the project; its quota is "
            f"{max_nodes} nodes ({have_nodes} in use)."
        )
    if nodes > 0 and limits.host_nodes is not None:
        _lock(session, HOST)
        _, host_nodes = _usage(session, None)
        if host_nodes + nodes > limits.host_nodes:
            raise exceptions.CapacityExceeded(
                detail=f"The infrastructure holds {limits.host_nodes} nodes in all, "
                f"{host_nodes} are in use or being built; {nodes} more do not fit."
            )
