# SPDX-License-Identifier: Apache-2.0
"""Leases on bay operations, kept in the database.

A conductor may act on a bay only while it holds the bay's lease: `lease_owner`
is its id and `lease_expires_at` lies in the future. Taking a lease is one
conditional UPDATE, so of two conductors racing for a bay exactly one wins, on
SQLite, PostgreSQL and MariaDB alike. The owner renews its leases every
heartbeat; if it dies, the lease lapses after `lease_ttl` and any conductor may
take the operation over.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from magnum.common import utils
from magnum.db import engine, models


def _expiry(ttl: float) -> datetime.datetime:
    return utils.utcnow() + datetime.timedelta(seconds=ttl)


def acquire(db: engine.Database, bay_uuid: str, *, owner: str, ttl: float) -> bool:
    """Take the lease on a bay with an operation waiting. True if `owner` now holds it."""
    now = utils.utcnow()
    with db.session() as session:
        result = session.execute(
            sa.update(models.Bay)
            .where(
                models.Bay.uuid == bay_uuid,
                models.Bay.operation.is_not(None),
                sa.or_(
                    models.Bay.lease_owner.is_(None),
                    models.Bay.lease_owner == owner,
                    models.Bay.lease_expires_at < now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=_expiry(ttl))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def renew(db: engine.Database, bay_uuids: Iterable[str], *, owner: str, ttl: float) -> set[str]:
    """Extend the leases `owner` still holds; return the uuids it no longer holds."""
    wanted = set(bay_uuids)
    if not wanted:
        return set()
    with db.session() as session:
        session.execute(
            sa.update(models.Bay)
            .where(models.Bay.uuid.in_(wanted), models.Bay.lease_owner == owner)
            .values(lease_expires_at=_expiry(ttl))
            .execution_options(synchronize_session=False)
        )
        held = session.scalars(
            sa.select(models.Bay.uuid).where(
                models.Bay.uuid.in_(wanted), models.Bay.lease_owner == owner
            )
        ).all()
    return wanted - set(held)


def release(db: engine.Database, bay_uuid: str, *, owner: str) -> None:
    with db.session() as session:
        session.execute(
            sa.update(models.Bay)
            .where(models.Bay.uuid == bay_uuid, models.Bay.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )


def unowned(db: engine.Database) -> Sequence[str]:
    """Bays with an operation that no live conductor holds (never taken, or owner gone)."""
    now = utils.utcnow()
    with db.session() as session:
        return session.scalars(
            sa.select(models.Bay.uuid).where(
                models.Bay.operation.is_not(None),
                sa.or_(models.Bay.lease_owner.is_(None), models.Bay.lease_expires_at < now),
            )
        ).all()


class Hold(enum.Enum):
    """What became of an attempt to hold a settled bay (see `hold_settled`)."""

    HELD = "held"
    GONE = "gone"
    UNSETTLED = "unsettled"  # an operation is waiting or running, or the status forbids it
    BUSY = "busy"  # another conductor holds it for an action of its own


def hold_settled(
    db: engine.Database,
    bay_uuid: str,
    *,
    owner: str,
    ttl: float,
    statuses: Iterable[str],
) -> Hold:
    """Take the lease on a bay with *no* operation and a status in `statuses`, for a short
    action on the settled bay (loading an image). While held, no conductor starts an
    operation on it: the API still records one, and it runs once the lease is released."""
    now = utils.utcnow()
    wanted = list(statuses)
    with db.session() as session:
        result = session.execute(
            sa.update(models.Bay)
            .where(
                models.Bay.uuid == bay_uuid,
                models.Bay.operation.is_(None),
                models.Bay.status.in_(wanted),
                sa.or_(models.Bay.lease_owner.is_(None), models.Bay.lease_expires_at < now),
            )
            .values(lease_owner=owner, lease_expires_at=_expiry(ttl))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return Hold.HELD
        row = session.execute(
            sa.select(models.Bay.operation, models.Bay.status).where(models.Bay.uuid == bay_uuid)
        ).one_or_none()
    if row is None:
        return Hold.GONE
    if row.operation is not None or row.status not in wanted:
        return Hold.UNSETTLED
    return Hold.BUSY
