# SPDX-License-Identifier: Apache-2.0
"""Real conductor processes for failover tests: `magnum-conductor`s on RabbitMQ and a
fresh PostgreSQL database, with the API in this process (falcon test client, rabbit
transport). Shared by test_conductor_failover (test-double drivers) and
test_real_failover (real bays)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import falcon.testing
import sqlalchemy as sa

from magnum.api import app as api_app
from magnum.common import rpc
from magnum.db import engine, models
from tests.conftest import RABBIT, _create_database, make_conf

VENV_BIN = pathlib.Path(sys.executable).parent
LEASE_TTL = 2.0
BAYMODEL = {
    "image_id": "fedora-atomic",
    "keypair_id": "kp",
    "coe": "swarm",
    "external_network_id": "public",
}


def wait_until(
    what: str, probe: Callable[[], Any], timeout: float = 15.0, *, interval: float = 0.05
) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pause.wait(interval)
    return result


def migrated_postgres(tmp: pathlib.Path) -> tuple[str, Callable[[], None]]:
    """A fresh PostgreSQL database migrated by `magnum-db-manage upgrade`, and its drop."""
    url, drop = _create_database("postgresql", tmp)
    conf = tmp / "dbmanage.conf"
    conf.write_text(f"[database]\nconnection = {url}\n")
    try:
        subprocess.run(
            [str(VENV_BIN / "magnum-db-manage"), "--config-file", str(conf), "upgrade"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except BaseException:
        drop()
        raise
    return url, drop


def _ini(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


class Cluster:
    """The database, an in-process API and the conductor processes one test started.

    `groups` adds configuration ({group: {option: value}}) to both the conductors' config
    file and the API's configuration (e.g. other drivers)."""

    def __init__(
        self, url: str, tmp: pathlib.Path, groups: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.tmp = tmp
        self.topic = f"magnum-conductor-{uuid.uuid4().hex[:10]}"
        self.state = tmp / "state"
        conductor: dict[str, Any] = {
            "topic": self.topic,
            "lease_ttl": LEASE_TTL,
            "heartbeat_interval": 0.3,
            "sync_interval": 0.5,
            "enabled_infra_drivers": "fake",
            "enabled_coe_drivers": "fakecoe",
        }
        sections: dict[str, dict[str, Any]] = {
            "DEFAULT": {"transport_url": RABBIT, "state_path": self.state},
            "database": {"connection": url},
            "conductor": conductor,
        }
        for group, values in (groups or {}).items():
            sections.setdefault(group, {}).update(values)
        self.common_conf = tmp / "magnum.conf"
        self.common_conf.write_text(
            "".join(
                f"[{group}]\n" + "".join(f"{k} = {_ini(v)}\n" for k, v in values.items())
                for group, values in sections.items()
            )
        )
        self.db = engine.Database(url, pool_size=2, max_overflow=2)
        api_groups: dict[str, dict[str, Any]] = {
            "DEFAULT": {"transport_url": RABBIT},
            "conductor": {"topic": self.topic, "service_down_time": 2},
        }
        for group, values in (groups or {}).items():
            api_groups.setdefault(group, {}).update(values)
        self.conf = make_conf(url, self.state, **api_groups)
        self.transport = rpc.transport(self.conf)
        self.client = falcon.testing.TestClient(api_app.build(self.conf, self.db, self.transport))
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

    def kill(self, host: str) -> None:
        """SIGKILL the conductor of `host` and collect it."""
        proc = self.procs.pop(host)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL

    def stop_conductors(self) -> list[str]:
        """SIGTERM every conductor still running; return what did not stop cleanly."""
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
        self._logs.clear()
        return failures

    def close(self) -> None:
        failures = self.stop_conductors()
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

    def cluster_row(self, cluster_uuid: str, *extra: str) -> dict[str, Any] | None:
        """status, lease_owner and operation of the bay row (plus the `extra` columns)."""
        columns = [
            getattr(models.Cluster, c) for c in ("status", "lease_owner", "operation", *extra)
        ]
        with self.db.session() as session:
            row = session.execute(
                sa.select(*columns).where(models.Cluster.uuid == cluster_uuid)
            ).one_or_none()
        return None if row is None else dict(row._mapping)

    def wait_released(self, cluster_uuid: str, status: str, *, timeout: float = 10.0) -> None:
        """Until the bay has settled at `status` with no operation and no lease holder."""
        want = {"status": status, "lease_owner": None, "operation": None}
        wait_until(
            f"bay {cluster_uuid} to settle at {want}",
            lambda: self.cluster_row(cluster_uuid) == want,
            timeout=timeout,
        )

    def gated_cluster(self, name: str) -> tuple[str, pathlib.Path, pathlib.Path]:
        gate, entered = self.tmp / f"{name}.gate", self.tmp / f"{name}.entered"
        labels = {"fake_gate": str(gate), "fake_entered": str(entered)}
        res = self.request("POST", "/v1/baymodels", BAYMODEL | {"name": name, "labels": labels})
        assert res.status_code == 201, res.text
        res = self.request("POST", "/v1/bays", {"name": name, "baymodel_id": name})
        assert res.status_code == 201, res.text
        return res.json["uuid"], gate, entered

    def owner_host(self, cluster_uuid: str) -> str:
        """The host whose conductor holds the bay's lease (lease_owner is host:pid:nonce)."""
        row = self.cluster_row(cluster_uuid)
        assert row is not None and row["lease_owner"], row
        host, pid, _ = row["lease_owner"].split(":")
        assert int(pid) == self.procs[host].pid, (row, {h: p.pid for h, p in self.procs.items()})
        return str(host)
