# SPDX-License-Identifier: Apache-2.0
"""The periodic sweeps' batched reads and claims on the three real databases: pages in id
order, each cluster claimed by exactly one of racing conductors, pages loaded whole."""

from __future__ import annotations

import threading

from magnum.common import utils
from magnum.db import engine, models
from magnum.objects import clusters

SETTLED = ["CREATE_COMPLETE", "UPDATE_COMPLETE"]


def _settled(db: engine.Database, n: int, *, operation: str | None = None) -> list[str]:
    """n settled clusters (in id order), each with its template and two nodegroups."""
    uuids = []
    with db.session() as session:
        template = models.ClusterTemplate(uuid=utils.new_uuid(), project_id="p", coe="swarm")
        session.add(template)
        for _ in range(n):
            uuid = utils.new_uuid()
            session.add(
                models.Cluster(
                    uuid=uuid,
                    project_id="p",
                    cluster_template_id=template.uuid,
                    node_count=2,
                    master_count=1,
                    status="CREATE_COMPLETE",
                    operation=operation,
                    node_addresses=[],
                    master_addresses=[],
                    driver_state={},
                )
            )
            for name, role in (("default-worker", "worker"), ("default-master", "master")):
                session.add(
                    models.NodeGroup(
                        uuid=utils.new_uuid(),
                        cluster_uuid=uuid,
                        project_id="p",
                        name=name,
                        role=role,
                        node_count=1,
                    )
                )
            session.flush()
            uuids.append(uuid)
    return uuids


def test_due_pages_walk_settled_clusters_in_id_order(db: engine.Database) -> None:
    uuids = _settled(db, 5)
    busy = _settled(db, 1, operation="update")
    pages = list(
        clusters.due_pages(db, clusters.Sweep.HEALTH, interval=60, statuses=SETTLED, page=2)
    )
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [u for p in pages for u in p] == uuids
    assert busy[0] not in {u for p in pages for u in p}


def test_claim_many_claims_once_per_interval(db: engine.Database) -> None:
    uuids = _settled(db, 3)
    sweep = clusters.Sweep.CONTAINERS
    assert (
        clusters.claim_many(db, sweep, uuids[::-1], interval=60, statuses=SETTLED) == (uuids[::-1])
    )
    assert clusters.claim_many(db, sweep, uuids, interval=60, statuses=SETTLED) == []
    # another sweep's claims are its own
    assert clusters.claim_many(db, clusters.Sweep.HEALTH, uuids, interval=60, statuses=SETTLED)
    assert clusters.claim_many(db, sweep, [], interval=60, statuses=SETTLED) == []


def test_racing_conductors_claim_each_cluster_exactly_once(db: engine.Database) -> None:
    uuids = _settled(db, 40)
    won: list[list[str]] = []
    start = threading.Barrier(4)

    def conductor() -> None:
        start.wait()
        mine: list[str] = []
        for first in range(0, len(uuids), 10):
            mine += clusters.claim_many(
                db, clusters.Sweep.HEALTH, uuids[first : first + 10], interval=60, statuses=SETTLED
            )
        won.append(mine)

    threads = [threading.Thread(target=conductor) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [u for mine in won for u in mine]
    assert sorted(claimed) == sorted(uuids)  # every one claimed, none twice


def test_load_many_keeps_order_and_skips_the_gone(db: engine.Database) -> None:
    uuids = _settled(db, 3)
    asked = [uuids[2], utils.new_uuid(), uuids[0]]
    with db.session() as session:
        loaded = clusters.load_many(session, asked, groups=True)
    assert [row.uuid for row, _, _ in loaded] == [uuids[2], uuids[0]]
    for row, template, groups in loaded:
        assert template.uuid == row.cluster_template_id
        assert [g.name for g in groups] == ["default-master", "default-worker"]
