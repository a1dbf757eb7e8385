# SPDX-License-Identifier: Apache-2.0
"""Conductor failover with real processes: two `magnum-conductor`s on RabbitMQ and PostgreSQL.

The API runs in this process (falcon test client, rabbit transport). Bays are held at the
fake COE driver's gate so a test can kill the conductor that owns the bay's lease and watch
the other one take the operation over once the lease lapses.
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Iterator

import pytest

from tests.functional._cluster import LEASE_TTL, Cluster, migrated_postgres, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.rabbit]


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database for this module, migrated by `magnum-db-manage upgrade`."""
    url, drop = migrated_postgres(tmp_path_factory.mktemp("pg"))
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def cluster(pg_url: str, tmp_path: pathlib.Path) -> Iterator[Cluster]:
    c = Cluster(pg_url, tmp_path)
    try:
        yield c
    finally:
        c.close()


def _kill(cluster: Cluster, host: str) -> None:
    cluster.kill(host)


def _other(host: str) -> str:
    return {"c1": "c2", "c2": "c1"}[host]


def test_survivor_finishes_create_of_killed_conductor(cluster: Cluster) -> None:
    cluster.start_conductor("c1")
    cluster.start_conductor("c2")
    cluster.wait_up("c1", "c2")

    cluster_uuid, gate, entered = cluster.gated_cluster("failover")
    wait_until("the owner to reach the gate", entered.exists)
    victim = cluster.owner_host(cluster_uuid)
    survivor = _other(victim)
    entered.unlink()
    _kill(cluster, victim)

    # the lease lapses, the survivor adopts the operation and arrives at the gate itself
    wait_until("the survivor to reach the gate", entered.exists, timeout=LEASE_TTL + 10)
    assert cluster.owner_host(cluster_uuid) == survivor
    row = cluster.cluster_row(cluster_uuid)
    assert row is not None and row["status"] == "CREATE_IN_PROGRESS"

    started = time.monotonic()
    gate.touch()
    body = wait_until(
        "CREATE_COMPLETE",
        lambda: (
            (b := cluster.get(f"/v1/bays/{cluster_uuid}").json)["status"] == "CREATE_COMPLETE" and b
        ),
        timeout=10,
    )
    assert time.monotonic() - started < 10
    assert body["node_addresses"] == ["10.0.0.3"] and body["master_addresses"] == ["10.0.0.2"]
    assert body["status_reason"] == "Bay CREATE completed: 1 master, 1 node"
    # the status is settled first, the lease released just after
    cluster.wait_released(cluster_uuid, "CREATE_COMPLETE")
    # the "done" line is written after the settling write, so it is waited for, not assumed
    done = f"cluster {cluster_uuid}: create done"
    wait_until("the survivor to log the create done", lambda: done in cluster.log(survivor))
    timeline = cluster.get(f"/v1/bays/{cluster_uuid}/events").json["events"]
    (takeover,) = [e for e in timeline if e["kind"] == "operation.takeover"]
    assert takeover["message"].startswith(f"create taken over from {victim}:"), takeover
    assert takeover["conductor"].startswith(f"{survivor}:"), takeover
    # the survivor's log lines of the operation name the request that asked for it
    assert f"[{takeover['request_id']}] cluster {cluster_uuid}: create done" in cluster.log(
        survivor
    )

    # the dead conductor stops reporting and is shown as down; the survivor stays up
    def states() -> dict[str, str]:
        rows = cluster.get("/v1/mservices").json["mservices"]
        return {s["host"]: s["state"] for s in rows}

    wait_until("the victim to show as down", lambda: states()[victim] == "down", timeout=10)
    assert states()[survivor] == "up"


def test_survivor_finishes_delete_left_by_killed_conductor(cluster: Cluster) -> None:
    cluster.start_conductor("c1")
    cluster.start_conductor("c2")
    cluster.wait_up("c1", "c2")

    cluster_uuid, _gate, entered = cluster.gated_cluster("doomed")
    wait_until("the owner to reach the gate", entered.exists)
    nodes = cluster.state / "fake" / cluster_uuid
    assert sorted(p.name for p in nodes.iterdir()) != []
    victim = cluster.owner_host(cluster_uuid)
    _kill(cluster, victim)

    # the delete is recorded while the dead conductor still holds the lease
    res = cluster.request("DELETE", f"/v1/bays/{cluster_uuid}")
    assert res.status_code == 204, res.text
    row = cluster.cluster_row(cluster_uuid)
    assert row is not None
    assert row["status"] == "DELETE_IN_PROGRESS" and row["operation"] == "delete", row
    assert row["lease_owner"] is not None and row["lease_owner"].startswith(f"{victim}:")

    wait_until(
        "the bay row to be gone", lambda: cluster.cluster_row(cluster_uuid) is None, timeout=15
    )
    assert cluster.get(f"/v1/bays/{cluster_uuid}").status_code == 404
    assert not nodes.exists()
    assert f"cluster {cluster_uuid}: delete starting on {_other(victim)}:" in cluster.log(
        _other(victim)
    )


def test_orphan_is_adopted_when_a_conductor_starts(cluster: Cluster) -> None:
    cluster_uuid, gate, _entered = cluster.gated_cluster("orphan")
    gate.touch()
    # nobody consumes the topic: the bay waits, unowned, for as long as we look
    deadline = time.monotonic() + 1.0
    pause = threading.Event()
    while time.monotonic() < deadline:
        assert cluster.cluster_row(cluster_uuid) == {
            "status": "CREATE_IN_PROGRESS",
            "lease_owner": None,
            "operation": "create",
        }
        pause.wait(0.1)

    cluster.start_conductor("late")
    cluster.wait_released(cluster_uuid, "CREATE_COMPLETE", timeout=20)
    assert f"cluster {cluster_uuid}: create starting on late:" in cluster.log("late")
