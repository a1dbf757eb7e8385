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
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from magnum.common import exceptions, utils
from magnum.db import models

CLUSTER = "Cluster"
NODE = "Node"
HOST = "*"  # the project id of the host-wide budget's lock row
# What a quota record may limit: Magnum's "Cluster", and ours, "Node" (masters and workers
# of all the project's clusters).
RESOURCES = (CLUSTER, NODE)
# What /v1/quotas may be ordered by: columns no visible record has NULL in.
SORTABLE = ("id", "project_id", "resource", "hard_limit", "created_at")


class QuotaAlreadyExists(exceptions.Conflict):
    template = "Quota for project {project_id} already exists for resource {resource}."


class QuotaNotFound(exceptions.NotFound):
    template = "Quota {quota} could not be found."


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


# --- the records, as /v1/quotas shows them --------------------------------------------------
# A row whose hard_limit is None is no quota, only the lock `_lock` made on first use (the
# project has the configured default): the API neither lists nor shows it, and a create
# over it sets it.
_VISIBLE = models.Quota.hard_limit.is_not(None)


def _where(project_id: str, resource: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (models.Quota.project_id == project_id, models.Quota.resource == resource)


def _named(project_id: str, resource: str) -> QuotaNotFound:
    return QuotaNotFound(quota=f"of project {project_id} for resource {resource}")


def get(session: orm.Session, project_id: str, resource: str) -> models.Quota | None:
    """The project's record for `resource`, None when it has none (it has the default)."""
    return session.scalars(
        sa.select(models.Quota).where(*_where(project_id, resource), _VISIBLE)
    ).first()


def list_(
    session: orm.Session,
    *,
    project_id: str | None,
    limit: int,
    marker: int | None = None,
    sort_key: str = "id",
    sort_dir: str = "asc",
) -> Sequence[models.Quota]:
    """A page of records (of one project, or of all when None), after the record whose
    id is `marker`, ordered by `sort_key` (one of SORTABLE), ties broken by id."""
    if sort_key not in SORTABLE:
        raise exceptions.InvalidParameterValue(
            err=f'The sort_key value "{exceptions.shorten(sort_key)}" is an invalid field for '
            "sorting"
        )
    stmt = sa.select(models.Quota).where(_VISIBLE)
    if project_id is not None:
        stmt = stmt.where(models.Quota.project_id == project_id)
    column = models.Quota.__table__.columns[sort_key]
    ident = models.Quota.id
    descending = sort_dir == "desc"
    if marker is not None:
        if not 0 < marker <= models.MAX_INT:  # names no record, and no backend takes it bound
            raise QuotaNotFound(quota=str(marker))
        after = session.scalars(stmt.where(ident == marker)).first()
        if after is None:
            raise QuotaNotFound(quota=str(marker))
        value = getattr(after, sort_key)
        if descending:
            stmt = stmt.where(sa.or_(column < value, sa.and_(column == value, ident < marker)))
        else:
            stmt = stmt.where(sa.or_(column > value, sa.and_(column == value, ident > marker)))
    order = (column.desc(), ident.desc()) if descending else (column.asc(), ident.asc())
    return session.scalars(stmt.order_by(*order).limit(limit)).all()


def create(
    session: orm.Session, *, project_id: str, resource: str, hard_limit: int
) -> models.Quota:
    """Record the project's limit on `resource`; 409 when it has one already."""
    for _ in range(2):  # a concurrent first insert of the row: take it on the second pass
        row = session.scalars(
            sa.select(models.Quota).where(*_where(project_id, resource)).with_for_update()
        ).first()
        if row is not None:
            if row.hard_limit is not None:
                raise QuotaAlreadyExists(project_id=project_id, resource=resource)
            # the lock row of a project that had the default: it becomes the record
            row.hard_limit = hard_limit
            row.created_at = utils.utcnow()
            row.updated_at = None
            session.flush()
            return row
        try:
            with session.begin_nested():
                row = models.Quota(project_id=project_id, resource=resource, hard_limit=hard_limit)
                session.add(row)
        except sa_exc.IntegrityError:
            continue
        return row
    raise QuotaAlreadyExists(project_id=project_id, resource=resource)


def update(
    session: orm.Session, *, project_id: str, resource: str, hard_limit: int
) -> models.Quota:
    """Change the project's limit on `resource`; 404 when it has no record."""
    row = session.scalars(
        sa.select(models.Quota).where(*_where(project_id, resource), _VISIBLE).with_for_update()
    ).first()
    if row is None:
        raise _named(project_id, resource)
    row.hard_limit = hard_limit
    session.flush()
    return row


def delete(session: orm.Session, *, project_id: str, resource: str) -> None:
    """Remove the project's record for `resource` (it has the default again); 404 when it
    has none. The Cluster row stays, as the project's lock, with no limit of its own."""
    row = session.scalars(
        sa.select(models.Quota).where(*_where(project_id, resource), _VISIBLE).with_for_update()
    ).first()
    if row is None:
        raise _named(project_id, resource)
    if resource == CLUSTER:
        row.hard_limit = None
    else:
        session.delete(row)
    session.flush()


def usage(session: orm.Session, project_id: str | None) -> tuple[int, int]:
    """(clusters, nodes) of a project, or of every project when None: what /v1/stats shows.
    A cluster's nodes are its masters and workers (the sums over its nodegroups)."""
    return _usage(session, project_id)
