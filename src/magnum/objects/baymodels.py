# SPDX-License-Identifier: Apache-2.0
"""Baymodels: visibility (own project + public), references from bays, writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.objects import query

KIND = "baymodel"


def _visible(ctx: context.RequestContext) -> sa.Select[models.BayModel]:
    return sa.select(models.BayModel).where(
        sa.or_(models.BayModel.project_id == ctx.project_id, models.BayModel.public.is_(True))
    )


def list_(session: orm.Session, ctx: context.RequestContext, page: query.Page) -> Sequence[Any]:
    return query.paginate(
        session,
        _visible(ctx),
        models.BayModel,
        page,
        not_found=exceptions.BayModelNotFound,
        kind=KIND,
    )


def get(
    session: orm.Session, ctx: context.RequestContext, ident: str, *, for_update: bool = False
) -> models.BayModel:
    """A baymodel of the caller's project, or a public one."""
    return query.by_ident(
        session,
        _visible(ctx),
        models.BayModel,
        ident,
        not_found=exceptions.BayModelNotFound,
        kind=KIND,
        for_update=for_update,
    )


def create(
    session: orm.Session, ctx: context.RequestContext, values: Mapping[str, Any]
) -> models.BayModel:
    values = dict(values)
    row = models.BayModel(
        **values | {"uuid": values.get("uuid") or utils.new_uuid()},
        project_id=ctx.project_id,
        user_id=ctx.user_id,
    )
    if session.scalar(sa.select(models.BayModel.id).where(models.BayModel.uuid == row.uuid)):
        raise exceptions.BayModelAlreadyExists(uuid=row.uuid)
    session.add(row)
    try:
        session.flush()
    except sa_exc.IntegrityError as exc:  # a concurrent insert of the same uuid
        raise exceptions.BayModelAlreadyExists(uuid=row.uuid) from exc
    return row


def ensure_unreferenced(session: orm.Session, row: models.BayModel) -> None:
    """Refuse to change or delete a baymodel that any bay (of any project) uses."""
    used = session.scalar(
        sa.select(models.Bay.id).where(models.Bay.baymodel_id == row.uuid).limit(1)
    )
    if used is not None:
        raise exceptions.BayModelReferenced(baymodel=row.uuid)


def update(session: orm.Session, row: models.BayModel, changes: Mapping[str, Any]) -> None:
    ensure_unreferenced(session, row)
    for key, value in changes.items():
        setattr(row, key, value)
    session.flush()


def delete(session: orm.Session, row: models.BayModel) -> None:
    ensure_unreferenced(session, row)
    session.delete(row)
    session.flush()
