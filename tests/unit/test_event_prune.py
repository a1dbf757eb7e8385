# SPDX-License-Identifier: Apache-2.0
"""Old events, finished operation records past the same age, and events beyond the
per-cluster count are pruned; everything else stays."""

from __future__ import annotations

import datetime

import sqlalchemy as sa

from magnum.common import utils
from magnum.db import engine, models
from magnum.objects import events

A = events.Ref("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "p1")
B = events.Ref("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "p1")
DAY = datetime.timedelta(days=1)


def _event(db: engine.Database, ref: events.Ref, message: str, age: datetime.timedelta) -> None:
    with db.session() as session:
        events.record(session, ref, events.Kind.PROGRESS, message=message)
    with db.session() as session:
        session.execute(
            sa.update(models.ClusterEvent)
            .where(models.ClusterEvent.message == message)
            .values(created_at=utils.utcnow() - age)
        )


def _operation(db: engine.Database, finished: datetime.datetime | None) -> None:
    with db.session() as session:
        session.add(
            models.Operation(
                uuid=utils.new_uuid(),
                cluster_uuid=A.uuid,
                kind="create",
                args={},
                state="succeeded" if finished else "running",
                finished_at=finished,
            )
        )


def _messages(db: engine.Database) -> dict[str, list[str | None]]:
    with db.session() as session:
        rows = session.execute(
            sa.select(models.ClusterEvent.cluster_uuid, models.ClusterEvent.message).order_by(
                models.ClusterEvent.id
            )
        ).all()
    found: dict[str, list[str | None]] = {}
    for cluster_uuid, message in rows:
        found.setdefault(cluster_uuid, []).append(message)
    return found


def test_prune_by_age_and_count(db: engine.Database) -> None:
    _event(db, A, "a-old", 40 * DAY)
    for i in range(5):
        _event(db, A, f"a-{i}", datetime.timedelta(seconds=50 - i))
    _event(db, B, "b-old", 31 * DAY)
    _event(db, B, "b-new", datetime.timedelta(seconds=1))
    _operation(db, utils.utcnow() - 40 * DAY)  # finished long ago: pruned
    _operation(db, utils.utcnow() - DAY)  # finished recently: kept
    _operation(db, None)  # still running: kept, however old
    removed = events.prune(db, max_age=30 * 24 * 3600, max_per_cluster=3)
    assert _messages(db) == {A.uuid: ["a-2", "a-3", "a-4"], B.uuid: ["b-new"]}
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(models.Operation)) == 2
    assert removed == 2 + 1 + 2  # two old events, one old operation, two beyond the count
    assert events.prune(db, max_age=30 * 24 * 3600, max_per_cluster=3) == 0


def test_zero_keeps_everything(db: engine.Database) -> None:
    _event(db, A, "a-old", 400 * DAY)
    _event(db, A, "a-new", datetime.timedelta(0))
    assert events.prune(db, max_age=0, max_per_cluster=0) == 0
    assert _messages(db) == {A.uuid: ["a-old", "a-new"]}
