# SPDX-License-Identifier: Apache-2.0
"""Bays: project scoping and the requests that start an operation.

The API records the desired operation on the row (status *_IN_PROGRESS,
`operation`, `operation_deadline`) in the same transaction that validates it;
the conductor then owns it through a lease. A row is never half-written.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.objects import baymodels, fields, query

KIND = "bay"


def _scoped(ctx: context.RequestContext) -> sa.Select[models.Bay]:
    return sa.select(models.Bay).where(models.Bay.project_id == ctx.project_id)


def list_(session: orm.Session, ctx: context.RequestContext, page: query.Page) -> Sequence[Any]:
    return query.paginate(
        session, _scoped(ctx), models.Bay, page, not_found=exceptions.BayNotFound, kind=KIND
    )


def get(
    session: orm.Session, ctx: context.RequestContext, ident: str, *, for_update: bool = False
) -> models.Bay:
    return query.by_ident(
        session,
        _scoped(ctx),
        models.Bay,
        ident,
        not_found=exceptions.BayNotFound,
        kind=KIND,
        for_update=for_update,
    )


def get_by_uuid(session: orm.Session, uuid: str) -> models.Bay | None:
    return session.scalar(sa.select(models.Bay).where(models.Bay.uuid == uuid))


def deadline(timeout_minutes: int | None, default_minutes: int) -> datetime.datetime:
    minutes = timeout_minutes or default_minutes
    return utils.utcnow() + datetime.timedelta(minutes=minutes)


def create(
    session: orm.Session,
    ctx: context.RequestContext,
    values: Mapping[str, Any],
    *,
    default_timeout: int,
    check: Callable[[models.BayModel], None] | None = None,
) -> models.Bay:
    """Insert a bay in CREATE_IN_PROGRESS. The baymodel is locked so it cannot vanish meanwhile;
    `check` may refuse the bay for its template before anything is written."""
    template = baymodels.get(session, ctx, values["baymodel_id"], for_update=True)
    if check is not None:
        check(template)
    row = models.Bay(
        uuid=utils.new_uuid(),  # a client-supplied uuid is ignored, as in Magnum
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=values.get("name"),
        baymodel_id=template.uuid,
        node_count=values["node_count"],
        master_count=values["master_count"],
        bay_create_timeout=values.get("bay_create_timeout"),
        discovery_url=values.get("discovery_url"),
        status=fields.BayStatus.CREATE_IN_PROGRESS,
        status_reason=values.get("status_reason"),
        node_addresses=[],
        master_addresses=[],
        operation=fields.Operation.CREATE,
        operation_deadline=deadline(values.get("bay_create_timeout"), default_timeout),
        driver_state={},
    )
    session.add(row)
    session.flush()
    return row


def request(
    session: orm.Session, row: models.Bay, op: fields.Operation, *, default_timeout: int
) -> None:
    """Record that `op` should run on `row`, or refuse if the bay's state forbids it."""
    current = fields.BayStatus(row.status)
    if not fields.may_start(op, current):
        if op is fields.Operation.UPDATE:
            raise exceptions.InvalidState(
                detail=f'Updating a bay when status is "{current}" is not supported.'
            )
        raise exceptions.OperationInProgress(bay_name=row.name or row.uuid)
    row.status = op.in_progress
    row.status_reason = None
    row.operation = op
    row.operation_deadline = deadline(row.bay_create_timeout, default_timeout)
    session.flush()
