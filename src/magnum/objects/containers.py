# SPDX-License-Identifier: Apache-2.0
"""Containers: project scoping, lookups, and the memory arithmetic of placement.

Rows are written by the conductor (it creates the Docker container and records where);
the API reads them and changes only their name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import context, exceptions
from magnum.db import models
from magnum.objects import query, vocabulary

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


def _scoped(ctx: context.RequestContext) -> sa.Select[models.Container]:
    return sa.select(models.Container).where(models.Container.project_id == ctx.project_id)


def list_(
    session: orm.Session,
    ctx: context.RequestContext,
    page: query.Page,
    *,
    cluster_uuid: str | None = None,
) -> Sequence[Any]:
    stmt = _scoped(ctx)
    if cluster_uuid is not None:
        stmt = stmt.where(models.Container.cluster_uuid == cluster_uuid)
    return query.paginate(
        session,
        stmt,
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
