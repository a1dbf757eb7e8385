# SPDX-License-Identifier: Apache-2.0
"""Leases on the three real databases: exclusivity, renewal, lapse and take-over."""

from __future__ import annotations

import datetime
import threading

import sqlalchemy as sa

from magnum.common import utils
from magnum.db import engine, models
from magnum.objects import clusters as leases


def _cluster(
    db: engine.Database,
    *,
    operation: str | None = "create",
    owner: str | None = None,
    expires: datetime.datetime | None = None,
) -> str:
    uuid = utils.new_uuid()
    with db.session() as session:
        session.add(
            models.Cluster(
                uuid=uuid,
                project_id="p",
                cluster_template_id=utils.new_uuid(),
                node_count=1,
                master_count=1,
                status="CREATE_IN_PROGRESS",
                operation=operation,
                lease_owner=owner,
                lease_expires_at=expires,
                node_addresses=[],
                master_addresses=[],
                driver_state={},
            )
        )
    return uuid


def _owner(db: engine.Database, uuid: str) -> str | None:
    with db.session() as session:
        return session.scalar(
            sa.select(models.Cluster.lease_owner).where(models.Cluster.uuid == uuid)
        )


def test_only_one_of_many_racing_conductors_wins(db: engine.Database) -> None:
    uuid = _cluster(db)
    barrier = threading.Barrier(8)
    wins: list[str] = []

    def race(name: str) -> None:
        barrier.wait()
        if leases.acquire(db, uuid, owner=name, ttl=30):
            wins.append(name)

    threads = [threading.Thread(target=race, args=(f"c{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert _owner(db, uuid) == wins[0]


def test_held_lease_is_refused_then_taken_after_it_lapses(db: engine.Database) -> None:
    uuid = _cluster(db)
    assert leases.acquire(db, uuid, owner="a", ttl=30)
    assert not leases.acquire(db, uuid, owner="b", ttl=30)
    assert leases.acquire(db, uuid, owner="a", ttl=30)  # re-entrant for its owner
    lapsed = _cluster(db, owner="dead", expires=utils.utcnow() - datetime.timedelta(seconds=1))
    assert leases.acquire(db, lapsed, owner="b", ttl=30)
    assert _owner(db, lapsed) == "b"


def test_no_lease_without_an_operation(db: engine.Database) -> None:
    uuid = _cluster(db, operation=None)
    assert not leases.acquire(db, uuid, owner="a", ttl=30)


def test_renew_reports_leases_taken_away(db: engine.Database) -> None:
    mine, stolen = _cluster(db), _cluster(db)
    assert leases.acquire(db, mine, owner="a", ttl=30)
    assert leases.acquire(db, stolen, owner="b", ttl=30)
    assert leases.renew(db, {mine, stolen}, owner="a", ttl=30) == {stolen}
    assert leases.renew(db, set(), owner="a", ttl=30) == set()


def test_unowned_lists_new_and_lapsed_operations_only(db: engine.Database) -> None:
    fresh = _cluster(db)
    lapsed = _cluster(db, owner="dead", expires=utils.utcnow() - datetime.timedelta(seconds=5))
    held = _cluster(db, owner="alive", expires=utils.utcnow() + datetime.timedelta(seconds=30))
    settled = _cluster(db, operation=None)
    found = set(leases.unowned(db))
    assert {fresh, lapsed} <= found
    assert not {held, settled} & found


def test_release_only_by_owner(db: engine.Database) -> None:
    uuid = _cluster(db)
    assert leases.acquire(db, uuid, owner="a", ttl=30)
    leases.release(db, uuid, owner="b")
    assert _owner(db, uuid) == "a"
    leases.release(db, uuid, owner="a")
    assert _owner(db, uuid) is None
