# SPDX-License-Identifier: Apache-2.0
"""Magnum service records: each conductor reports itself; `state` comes from the last report."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import utils
from magnum.db import models
from magnum.objects import fields


def report(session: orm.Session, *, host: str, binary: str) -> None:
    """Create or refresh this process's service row (one per host and binary)."""
    now = utils.utcnow()
    updated = session.execute(
        sa.update(models.MagnumService)
        .where(models.MagnumService.host == host, models.MagnumService.binary == binary)
        .values(
            report_count=models.MagnumService.report_count + 1,
            last_seen_up=now,
            updated_at=now,
        )
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.add(
            models.MagnumService(host=host, binary=binary, report_count=1, last_seen_up=now)
        )
        session.flush()


def list_(session: orm.Session) -> Sequence[models.MagnumService]:
    return session.scalars(sa.select(models.MagnumService).order_by(models.MagnumService.id)).all()


def state(row: models.MagnumService, *, down_after: int) -> fields.ServiceState:
    if row.forced_down:
        return fields.ServiceState.DOWN
    seen = row.last_seen_up or row.updated_at or row.created_at
    fresh = abs(utils.utcnow() - seen) <= datetime.timedelta(seconds=down_after)
    return fields.ServiceState.UP if fresh else fields.ServiceState.DOWN
