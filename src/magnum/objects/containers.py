# SPDX-License-Identifier: Apache-2.0
"""Containers: project scoping, lookups, every write of a container row, and the memory
arithmetic of placement.

The conductor decides where a container goes and what its status is; the functions here
write that (insert_placed, mark_created, adopt, record_status, delete). The API reads rows and
changes only their name (rename).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from magnum.common import context, exceptions, utils
from magnum.db import engine, models
from magnum.objects import clusters, fields, query, vocabulary

C = models.Container

MEMORY = re.compile(r"^([0-9]+)([bkmg]?)$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def memory_bytes(value: str | None) -> int | None:
    """Docker's reading of a memory value: a number of bytes, or with a b/k/m/g suffix."""
    if value is None:
        return None
    match = MEMORY.match(value)
    if match is None:
        raise exceptions.InvalidParameterValue(
            err=f"Invalid input for field/attribute memory. Value: '{value}'. "
            "Value should match the pattern ^[0-9]+[bkmg]?$"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def memory_mb(value: str | None) -> int:
    """MB a container reserves on its node (0 without a limit)."""
    size = memory_bytes(value)
    return 0 if not size else math.ceil(size / 1024**2)


_PROJECTS = sa.select(models.Container).where(
    models.Container.project_id == sa.bindparam("scope_project")
)
_PROJECTS_CLUSTER = _PROJECTS.where(models.Container.cluster_uuid == sa.bindparam("scope_cluster"))


def _scoped(
    ctx: context.RequestContext, cluster_uuid: str | None = None
) -> query.Scope[models.Container]:
    """The caller's project's containers (on the cluster `cluster_uuid`, when given)."""
    if cluster_uuid is None:
        return query.Scope(_PROJECTS, {"scope_project": ctx.project_id})
    return query.Scope(
        _PROJECTS_CLUSTER, {"scope_project": ctx.project_id, "scope_cluster": cluster_uuid}
    )


def list_(
    session: orm.Session,
    ctx: context.RequestContext,
    page: query.Page,
    *,
    cluster_uuid: str | None = None,
) -> Sequence[Any]:
    return query.paginate(
        session,
        _scoped(ctx, cluster_uuid),
        models.Container,
        page,
        nouns=vocabulary.CONTAINER,
    )


def get(
    session: orm.Session, ctx: context.RequestContext, ident: str, *, for_update: bool = False
) -> models.Container:
    return query.by_ident(
        session,
        _scoped(ctx),
        models.Container,
        ident,
        nouns=vocabulary.CONTAINER,
        for_update=for_update,
    )


def get_by_uuid(session: orm.Session, uuid: str) -> models.Container | None:
    return session.scalar(sa.select(models.Container).where(models.Container.uuid == uuid))


def on_cluster(session: orm.Session, cluster_uuid: str) -> Sequence[models.Container]:
    return session.scalars(
        sa.select(models.Container)
        .where(models.Container.cluster_uuid == cluster_uuid)
        .order_by(models.Container.id)
    ).all()


def on_clusters(
    session: orm.Session, cluster_uuids: Sequence[str]
) -> dict[str, list[models.Container]]:
    """The containers of each of these clusters, in id order, in one query."""
    out: dict[str, list[models.Container]] = {uuid: [] for uuid in cluster_uuids}
    if not out:
        return out
    rows = session.scalars(
        sa.select(models.Container)
        .where(models.Container.cluster_uuid.in_(list(out)))
        .order_by(models.Container.id)
    ).all()
    for row in rows:
        out[row.cluster_uuid].append(row)
    return out


def clusters_with_containers(session: orm.Session, cluster_uuids: Sequence[str]) -> list[str]:
    """Those of `cluster_uuids` that hold at least one container."""
    if not cluster_uuids:
        return []
    found = set(
        session.scalars(
            sa.select(models.Container.cluster_uuid)
            .where(models.Container.cluster_uuid.in_(list(cluster_uuids)))
            .distinct()
        ).all()
    )
    return [uuid for uuid in cluster_uuids if uuid in found]


# --- writes --------------------------------------------------------------------------
IMPORTED = frozenset(
    {
        "uuid",
        "project_id",
        "user_id",
        "name",
        "image",
        "command",
        "cluster_uuid",
        "status",
        "status_reason",
        "memory",
        "environment",
        "host",
        "docker_id",
    }
)


def insert_many(session: orm.Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert containers whose placement and Docker state are already known (an import, a
    benchmark's seed), in one batched INSERT in the caller's transaction: each mapping has
    the columns in IMPORTED (uuid, project_id, cluster_uuid, image, host required). No
    placement or cluster checks, unlike insert_placed. Returns the number inserted."""
    if not rows:
        return 0
    batch = []
    for values in rows:
        unknown = set(values) - IMPORTED
        if unknown:
            raise exceptions.InvalidParameterValue(err=f"Unknown container fields {unknown}")
        now = utils.utcnow()
        batch.append(
            {"environment": {}, "created_at": now}
            | dict(values)
            | {"environment": dict(values.get("environment") or {})}
        )
    session.execute(sa.insert(C), batch)
    return len(batch)


def insert_placed(
    db: engine.Database,
    *,
    cluster_uuid: str,
    statuses: Iterable[str],
    uuid: str,
    owner: Mapping[str, Any],
    values: Mapping[str, Any],
    place: Callable[[Sequence[Any]], str],
) -> str:
    """Place a container and insert its row, without status (being created), in one
    transaction that first locks the cluster row (clusters.ready_lock), so that placements
    on one cluster are serialised and a cluster being deleted or scaled is refused.

    `place` gets the rows (.host, .memory) of the containers the cluster already holds and
    returns the name of the node to use, which this returns. Raises clusters.NotReady when
    the cluster is not settled in one of `statuses`, ContainerAlreadyExists when `uuid` is
    taken. `owner` has the project_id and user_id; `values` the API's fields.
    """
    try:
        with db.session() as session:
            clusters.ready_lock(session, cluster_uuid, statuses)
            if get_by_uuid(session, uuid) is not None:
                raise exceptions.ContainerAlreadyExists(uuid=uuid)
            placed = session.execute(
                sa.select(C.host, C.memory).where(C.cluster_uuid == cluster_uuid)
            ).all()
            host = place(placed)
            session.add(
                C(
                    uuid=uuid,
                    project_id=owner["project_id"],
                    user_id=owner.get("user_id"),
                    name=values.get("name"),
                    image=values["image"],
                    command=values.get("command"),
                    cluster_uuid=cluster_uuid,
                    status=None,
                    memory=values.get("memory"),
                    environment=dict(values.get("environment") or {}),
                    host=host,
                )
            )
    except sa_exc.IntegrityError:
        raise exceptions.ContainerAlreadyExists(uuid=uuid) from None
    return host


def mark_created(db: engine.Database, uuid: str, docker_id: str) -> bool:
    """Record the engine's id of a created container (status Stopped); False if its row is
    gone meanwhile (its cluster was deleted)."""
    with db.session() as session:
        result = session.execute(
            sa.update(C)
            .where(C.uuid == uuid)
            .values(
                docker_id=docker_id,
                status=fields.ContainerStatus.STOPPED,
                status_reason=None,
                updated_at=utils.utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def adopt(db: engine.Database, uuid: str, docker_id: str, status: str, reason: str | None) -> bool:
    """Record the engine's id (and state) of a container whose creator died before it
    could (mark_created); False if the row is gone or has an id meanwhile."""
    with db.session() as session:
        result = session.execute(
            sa.update(C)
            .where(C.uuid == uuid, C.docker_id.is_(None))
            .values(
                docker_id=docker_id,
                status=status,
                status_reason=reason,
                updated_at=utils.utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def existing(session: orm.Session, uuids: Iterable[str]) -> set[str]:
    """Those of `uuids` that have a row."""
    wanted = list(uuids)
    if not wanted:
        return set()
    return set(session.scalars(sa.select(C.uuid).where(C.uuid.in_(wanted))).all())


def record_status(
    db: engine.Database,
    row: models.Container,
    status: str,
    reason: str | None,
    *,
    force: bool = False,
) -> None:
    """Write a new status if it changed and (unless `force`, for what an action just did)
    nobody wrote the row since `row` was read."""
    if row.status == status and row.status_reason == reason:
        return
    where = [C.uuid == row.uuid]
    if not force:
        where.append(C.updated_at.is_not_distinct_from(row.updated_at))
    with db.session() as session:
        session.execute(
            sa.update(C)
            .where(*where)
            .values(status=status, status_reason=reason, updated_at=utils.utcnow())
            .execution_options(synchronize_session=False)
        )


# --- moves (an upgrade replacing the container's node) ------------------------------
def on_host(session: orm.Session, cluster_uuid: str, host: str) -> Sequence[models.Container]:
    """The containers placed on node `host` of the cluster."""
    return session.scalars(
        sa.select(C).where(C.cluster_uuid == cluster_uuid, C.host == host).order_by(C.id)
    ).all()


def relocate(
    db: engine.Database,
    uuid: str,
    *,
    from_host: str,
    host: str,
    docker_id: str,
    status: str,
) -> bool:
    """Record that the container now runs as `docker_id` on node `host`, moved there from
    `from_host` (its node being replaced); False when its row is gone or was moved
    meanwhile (the caller then removes the copy it made)."""
    with db.session() as session:
        result = session.execute(
            sa.update(C)
            .where(C.uuid == uuid, C.host == from_host)
            .values(
                host=host,
                docker_id=docker_id,
                status=status,
                status_reason=None,
                updated_at=utils.utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def delete(db: engine.Database, uuid: str) -> None:
    """Delete a container's row; a row already gone is fine."""
    with db.session() as session:
        session.execute(
            sa.delete(C).where(C.uuid == uuid).execution_options(synchronize_session=False)
        )


def rename(row: models.Container, name: str | None) -> None:
    """Change the name of a row its caller's session holds (the one change the API makes)."""
    row.name = name
    row.updated_at = utils.utcnow()
