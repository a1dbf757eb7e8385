# SPDX-License-Identifier: Apache-2.0
"""Conductor failover with real processes: two `magnum-conductor`s on RabbitMQ and PostgreSQL.

The API runs in this process (falcon test client, rabbit transport). Bays are held at the
fake COE driver's gate so a test can kill the conductor that owns the bay's lease and watch
the other one take the operation over once the lease lapses.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import falcon.testing
import pytest
import sqlalchemy as sa

from magnum.api import app as api_app
from magnum.common import rpc
from magnum.db import engine, models
from tests.conftest import RABBIT, _create_database, make_conf

pytestmark = [pytest.mark.slow, pytest.mark.rabbit]

VENV_BIN = pathlib.Path(sys.executable).parent
LEASE_TTL = 2.0
BAYMODEL = {
    "image_id": "fedora-atomic",
    "keypair_id": "kp",
    "coe": "swarm",
    "external_network_id": "public",
}


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pause.wait(0.05)
    return result


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database for this module, migrated by `magnum-db-manage upgrade`."""
    url, drop = _create_database("postgresql", tmp_path_factory.mktemp("pg"))
    conf = tmp_path_factory.mktemp("dbmanage") / "magnum.conf"
    conf.write_text(f"[database]\nconnection = {url}\n")
    try:
        subprocess.run(
            [str(VENV_BIN / "magnum-db-manage"), "--config-file", str(conf), "upgrade"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield url
    finally:
        drop()


class Cluster:
    """The database, an in-process API and the conductor processes one test started."""

    def __init__(self, url: str, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.topic = f"magnum-conductor-{uuid.uuid4().hex[:10]}"
        self.state = tmp / "state"
        self.common_conf = tmp / "magnum.conf"
        self.common_conf.write_text(
            "[DEFAULT]\n"
            f"transport_url = {RABBIT}\n"
            f"state_path = {self.state}\n"
            "[database]\n"
            f"connection = {url}\n"
            "[conductor]\n"
            f"topic = {self.topic}\n"
            f"lease_ttl = {LEASE_TTL}\n"
            "heartbeat_interval = 0.3\n"
            "sync_interval = 0.5\n"
            "enabled_infra_drivers = fake\n"
            "enabled_coe_drivers = fakecoe\n"
        )
        self.db = engine.Database(url, pool_size=2, max_overflow=2)
        conf = make_conf(
            url,
            self.state,
            DEFAULT={"transport_url": RABBIT},
            conductor={"topic": self.topic, "service_down_time": 2},
        )
        self.transport = rpc.transport(conf)
        self.client = falcon.testing.TestClient(api_app.build(conf, self.db, self.transport))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[Any] = []

    # --- conductor processes ----------------------------------------------------
    def start_conductor(self, host: str) -> subprocess.Popen[bytes]:
        host_conf = self.tmp / f"{host}.conf"
        host_conf.write_text(f"[DEFAULT]\nhost = {host}\n")
        log = (self.tmp / f"{host}.log").open("ab")
        self._logs.append(log)
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "magnum-conductor"),
                "--config-file",
                str(self.common_conf),
                "--config-file",
                str(host_conf),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[host] = proc
        return proc

    def wait_up(self, *hosts: str) -> None:
        """Until every host reports itself (its RPC server starts before its first report)."""

        def up() -> bool:
            states = {s["host"]: s["state"] for s in self.get("/v1/mservices").json["mservices"]}
            return all(states.get(h) == "up" for h in hosts)

        wait_until(f"conductors {hosts} to report up", up, timeout=20)

    def log(self, host: str) -> str:
        return (self.tmp / f"{host}.log").read_text(errors="replace")

    def close(self) -> None:
        failures = []
        for host, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    if proc.wait(timeout=15) != 0:
                        failures.append(f"{host} exited {proc.returncode}")
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    failures.append(f"{host} ignored SIGTERM")
        for log in self._logs:
            log.close()
        self.transport.cleanup()
        with self.db.session() as session:
            for table in reversed(models.Base.metadata.sorted_tables):
                session.execute(table.delete())
        self.db.dispose()
        assert not failures, failures

    # --- API and database -------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> falcon.testing.Result:
        headers = {"X-Project-Id": "p1", "X-User-Id": "u1"}
        return self.client.simulate_request(method, path, json=body, headers=headers)

    def get(self, path: str) -> falcon.testing.Result:
        return self.request("GET", path)

    def bay_row(self, bay_uuid: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.execute(
                sa.select(models.Bay.status, models.Bay.lease_owner, models.Bay.operation).where(
                    models.Bay.uuid == bay_uuid
                )
            ).one_or_none()
        return None if row is None else dict(row._mapping)

    def wait_released(self, bay_uuid: str, status: str, *, timeout: float = 10.0) -> None:
        """Until the bay has settled at `status` with no operation and no lease holder."""
        want = {"status": status, "lease_owner": None, "operation": None}
        wait_until(
            f"bay {bay_uuid} to settle at {want}",
            lambda: self.bay_row(bay_uuid) == want,
            timeout=timeout,
        )

    def gated_bay(self, name: str) -> tuple[str, pathlib.Path, pathlib.Path]:
        gate, entered = self.tmp / f"{name}.gate", self.tmp / f"{name}.entered"
        labels = {"fake_gate": str(gate), "fake_entered": str(entered)}
        res = self.request("POST", "/v1/baymodels", BAYMODEL | {"name": name, "labels": labels})
        assert res.status_code == 201, res.text
        res = self.request("POST", "/v1/bays", {"name": name, "baymodel_id": name})
        assert res.status_code == 201, res.text
        return res.json["uuid"], gate, entered

    def owner_host(self, bay_uuid: str) -> str:
        """The host whose conductor holds the bay's lease (lease_owner is host:pid:nonce)."""
        row = self.bay_row(bay_uuid)
        assert row is not None and row["lease_owner"], row
        host, pid, _ = row["lease_owner"].split(":")
        assert int(pid) == self.procs[host].pid, (row, {h: p.pid for h, p in self.procs.items()})
        return str(host)


@pytest.fixture
def cluster(pg_url: str, tmp_path: pathlib.Path) -> Iterator[Cluster]:
    c = Cluster(pg_url, tmp_path)
    try:
        yield c
    finally:
        c.close()


def _kill(cluster: Cluster, host: str) -> None:
    proc = cluster.procs.pop(host)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def _other(host: str) -> str:
    return {"c1": "c2", "c2": "c1"}[host]


def test_survivor_finishes_create_of_killed_conductor(cluster: Cluster) -> None:
    cluster.start_conductor("c1")
    cluster.start_conductor("c2")
    cluster.wait_up("c1", "c2")

    bay_uuid, gate, entered = cluster.gated_bay("failover")
    wait_until("the owner to reach the gate", entered.exists)
    victim = cluster.owner_host(bay_uuid)
    survivor = _other(victim)
    entered.unlink()
    _kill(cluster, victim)

    # the lease lapses, the survivor adopts the operation and arrives at the gate itself
    wait_until("the survivor to reach the gate", entered.exists, timeout=LEASE_TTL + 10)
    assert cluster.owner_host(bay_uuid) == survivor
    row = cluster.bay_row(bay_uuid)
    assert row is not None and row["status"] == "CREATE_IN_PROGRESS"

    started = time.monotonic()
    gate.touch()
    bay = wait_until(
        "CREATE_COMPLETE",
        lambda: (
            (b := cluster.get(f"/v1/bays/{bay_uuid}").json)["status"] == "CREATE_COMPLETE" and b
        ),
        timeout=10,
    )
    assert time.monotonic() - started < 10
    assert bay["node_addresses"] == ["10.0.0.3"] and bay["master_addresses"] == ["10.0.0.2"]
    assert bay["status_reason"] == "Bay CREATE completed: 1 master, 1 node"
    # the status is settled first, the lease released just after
    cluster.wait_released(bay_uuid, "CREATE_COMPLETE")
    assert f"bay {bay_uuid}: create done" in cluster.log(survivor)

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

    bay_uuid, _gate, entered = cluster.gated_bay("doomed")
    wait_until("the owner to reach the gate", entered.exists)
    nodes = cluster.state / "fake" / bay_uuid
    assert sorted(p.name for p in nodes.iterdir()) != []
    victim = cluster.owner_host(bay_uuid)
    _kill(cluster, victim)

    # the delete is recorded while the dead conductor still holds the lease
    res = cluster.request("DELETE", f"/v1/bays/{bay_uuid}")
    assert res.status_code == 204, res.text
    row = cluster.bay_row(bay_uuid)
    assert row is not None
    assert row["status"] == "DELETE_IN_PROGRESS" and row["operation"] == "delete", row
    assert row["lease_owner"] is not None and row["lease_owner"].startswith(f"{victim}:")

    wait_until("the bay row to be gone", lambda: cluster.bay_row(bay_uuid) is None, timeout=15)
    assert cluster.get(f"/v1/bays/{bay_uuid}").status_code == 404
    assert not nodes.exists()
    assert f"bay {bay_uuid}: delete starting on {_other(victim)}:" in cluster.log(_other(victim))


def test_orphan_is_adopted_when_a_conductor_starts(cluster: Cluster) -> None:
    bay_uuid, gate, _entered = cluster.gated_bay("orphan")
    gate.touch()
    # nobody consumes the topic: the bay waits, unowned, for as long as we look
    deadline = time.monotonic() + 1.0
    pause = threading.Event()
    while time.monotonic() < deadline:
        assert cluster.bay_row(bay_uuid) == {
            "status": "CREATE_IN_PROGRESS",
            "lease_owner": None,
            "operation": "create",
        }
        pause.wait(0.1)

    cluster.start_conductor("late")
    cluster.wait_released(bay_uuid, "CREATE_COMPLETE", timeout=20)
    assert f"bay {bay_uuid}: create starting on late:" in cluster.log("late")
