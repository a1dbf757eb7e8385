# SPDX-License-Identifier: Apache-2.0
"""A cluster's timeline: what happened, when, in which operation, on whose request and on
which conductor. Rows are added only by magnum.objects.clusters, in the transaction of the
change they tell, so the timeline never disagrees with the cluster."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import context, utils
from magnum.db import engine, models


class Kind(enum.StrEnum):
    REQUESTED = "operation.requested"  # the API recorded an operation
    STARTED = "operation.started"  # a conductor began it
    TAKEOVER = "operation.takeover"  # another conductor carried on after the owner went away
    SUPERSEDED = "operation.superseded"  # a newer request replaced it (delete during create)
    PROGRESS = "progress"
    TRANSITION = "transition"  # the cluster settled in a new status
    HEALTH = "health"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asked: carried from the API request into the operation record."""

    request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None

    @classmethod
    def of(cls, ctx: context.RequestContext) -> Actor:
        return cls(request_id=ctx.request_id, user_id=ctx.user_id, project_id=ctx.project_id)

    @classmethod
    def of_operation(cls, op: models.Operation) -> Actor:
        return cls(request_id=op.request_id, user_id=op.user_id, project_id=op.project_id)


SYSTEM = Actor()


class Owned(Protocol):
    """A cluster as events see it (a row, or a fence): its uuid and its project."""

    @property
    def uuid(self) -> str: ...

    @property
    def project_id(self) -> str: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Ref:
    uuid: str
    project_id: str


def record(
    session: orm.Session,
    cluster: Owned,
    kind: Kind,
    *,
    message: str | None = None,
    status: str | None = None,
    error_code: str | None = None,
    operation: str | None = None,
    actor: Actor = SYSTEM,
    conductor: str | None = None,
) -> None:
    session.add(
        models.ClusterEvent(
            uuid=utils.new_uuid(),
            cluster_uuid=cluster.uuid,
            cluster_project_id=cluster.project_id,
            operation_uuid=operation,
            created_at=utils.utcnow(),
            kind=kind.value,
            status=status,
            error_code=error_code,
            message=message,
            request_id=actor.request_id,
            user_id=actor.user_id,
            project_id=actor.project_id,
            conductor=conductor,
        )
    )


def exist(session: orm.Session, cluster_uuid: str, project_id: str) -> bool:
    """Whether the timeline of a (deleted) cluster of `project_id` is still kept."""
    return (
        session.scalar(
            sa.select(models.ClusterEvent.id)
            .where(
                models.ClusterEvent.cluster_uuid == cluster_uuid,
                models.ClusterEvent.cluster_project_id == project_id,
            )
            .limit(1)
        )
        is not None
    )


def list_(
    session: orm.Session,
    cluster_uuid: str,
    *,
    limit: int,
    marker: str | None = None,
    since: datetime.datetime | None = None,
) -> Sequence[models.ClusterEvent]:
    """Newest first; `marker` is the uuid of the last event of the previous page."""
    stmt = sa.select(models.ClusterEvent).where(models.ClusterEvent.cluster_uuid == cluster_uuid)
    if since is not None:
        stmt = stmt.where(models.ClusterEvent.created_at >= since)
    if marker is not None:
        marker_id = session.scalar(
            sa.select(models.ClusterEvent.id).where(
                models.ClusterEvent.cluster_uuid == cluster_uuid,
                models.ClusterEvent.uuid == marker,
            )
        )
        if marker_id is None:
            return []
        stmt = stmt.where(models.ClusterEvent.id < marker_id)
    return session.scalars(stmt.order_by(models.ClusterEvent.id.desc()).limit(limit)).all()


def _millis(value: datetime.datetime) -> str:
    """ISO 8601 with milliseconds: a cluster's steps are often well under a second apart."""
    return value.replace(tzinfo=datetime.UTC).isoformat(timespec="milliseconds")


def render(row: models.ClusterEvent) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "created_at": _millis(row.created_at),
        "kind": row.kind,
        "status": row.status,
        "error_code": row.error_code,
        "message": row.message,
        "operation_uuid": row.operation_uuid,
        "request_id": row.request_id,
        "user_id": row.user_id,
        "project_id": row.project_id,
        "conductor": row.conductor,
    }


def prune(db: engine.Database, *, max_age: float, max_per_cluster: int) -> int:
    """Remove events (and finished operation records) older than `max_age` seconds, and the
    events beyond the newest `max_per_cluster` of each cluster. Returns how many rows went."""
    removed = 0
    with db.session() as session:
        if max_age > 0:
            cutoff = utils.utcnow() - datetime.timedelta(seconds=max_age)
            result = session.execute(
                sa.delete(models.ClusterEvent)
                .where(models.ClusterEvent.created_at < cutoff)
                .execution_options(synchronize_session=False)
            )
            removed += int(result.rowcount)  # type: ignore[attr-defined]
            result = session.execute(  # finished operations go with their age's events
                sa.delete(models.Operation)
                .where(models.Operation.finished_at < cutoff)
                .execution_options(synchronize_session=False)
            )
            removed += int(result.rowcount)  # type: ignore[attr-defined]
        if max_per_cluster > 0:
            crowded = session.execute(
                sa.select(models.ClusterEvent.cluster_uuid)
                .group_by(models.ClusterEvent.cluster_uuid)
                .having(sa.func.count() > max_per_cluster)
            ).scalars()
            for cluster_uuid in list(crowded):
                keep_from = session.scalar(
                    sa.select(models.ClusterEvent.id)
                    .where(models.ClusterEvent.cluster_uuid == cluster_uuid)
                    .order_by(models.ClusterEvent.id.desc())
                    .offset(max_per_cluster - 1)
                    .limit(1)
                )
                result = session.execute(
                    sa.delete(models.ClusterEvent)
                    .where(
                        models.ClusterEvent.cluster_uuid == cluster_uuid,
                        models.ClusterEvent.id < keep_from,
                    )
                    .execution_options(synchronize_session=False)
                )
                removed += int(result.rowcount)  # type: ignore[attr-defined]
    return removed
