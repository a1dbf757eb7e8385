# SPDX-License-Identifier: Apache-2.0
"""The upgrade action on a real bay: a swarm bay of the local infrastructure (1 master, 2
workers) with a container serving HTTP moves to a second template (another image, another
engine label) one node at a time, while a thread checks the container through the API and
through Docker on its node; then every node reports the new template and, once the bay is
deleted, nothing is left on the host.

SQLite only; needs root and the docker.io binaries (skipped otherwise).
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
import threading
import time
import uuid

import docker

from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import node as local_node
from tests.functional import test_real_containers as _containers
from tests.functional._nodegroups import at
from tests.functional.conftest import Service
from tests.functional.hostcheck import REALHOST, tls_client
from tests.functional.test_real_containers import MODEL, Real, act, create

pytestmark = REALHOST
# The containers suite's fixtures: its SQLite-only database and its real-bay service
db_url = _containers.db_url
real = _containers.real
UPGRADE_TIMEOUT = 240.0
PAGE = "served by magnum"
# busybox httpd serving one page; `trap` lets a stop end it at once
SERVE = f"sh -c 'mkdir -p /w && echo {PAGE} > /w/index.html && exec httpd -f -p 8080 -h /w'"
FETCH = ["wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html"]
# A check is a GET plus a `docker exec` of wget in the container: about 0.1-0.3 s here,
# longer while nodes are built on the 2 CPUs. A move switches the row to a copy that already
# serves, so at most the one check in flight at the switch fails (it asked the old node,
# whose copy was just removed) and the next one succeeds: never two failures in a row, and
# the longest time without a served check is about two checks (1.8 s measured on a loaded
# host). A container stopped while its node is replaced would fail every check from then
# on, for the rest of its batch (draining, leaving the swarm, deleting the node: 3-4 s).
MAX_GAP = 4.0


def _addresses(svc: Service, cluster_uuid: str) -> dict[str, str]:
    """{node name: address} as the local infrastructure recorded its nodes."""
    state_dir, _ = local_cluster.dirs(svc.conf, cluster_uuid)
    return {r.name: r.address for r in local_node.read_records(state_dir)}


@dataclasses.dataclass
class Poller:
    """Checks, back to back until stopped, that the container is Running in the API and
    serves its page through Docker on the node its row names."""

    svc: Service
    cluster_uuid: str
    container_uuid: str
    creds: pathlib.Path
    ok: list[float] = dataclasses.field(default_factory=list)
    outcomes: list[bool] = dataclasses.field(default_factory=list)  # each check, in order
    failures: list[str] = dataclasses.field(default_factory=list)
    hosts: list[str] = dataclasses.field(default_factory=list)
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    _clients: dict[str, docker.DockerClient] = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        res = self.svc.get(f"/v1/containers/{self.container_uuid}")
        if res.status_code != 200 or res.json["status"] != "Running":
            self.failures.append(f"API: {res.status_code} {res.text[:200]}")
            return
        host = res.json["host"]
        address = _addresses(self.svc, self.cluster_uuid).get(host)
        if address is None:
            self.failures.append(f"no node {host}")
            return
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = tls_client(address, self.creds, self.creds)
        try:
            found = client.api.containers(
                filters={"label": f"magnum.container={self.container_uuid}"}
            )
            if not found:
                self.failures.append(f"not running on {host}")
                return
            exec_id = client.api.exec_create(found[0]["Id"], FETCH)["Id"]
            out = client.api.exec_start(exec_id).decode()
        except docker.errors.DockerException as exc:
            self._clients.pop(address, None)
            self.failures.append(f"{host}: {exc}")
            return
        if PAGE not in out:
            self.failures.append(f"{host} answered {out!r}")
            return
        if not self.hosts or self.hosts[-1] != host:
            self.hosts.append(host)
        self.ok.append(time.monotonic())

    def run(self) -> None:
        while not self.stop.is_set():
            served = len(self.ok)
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - any failure of a check is recorded
                self.failures.append(repr(exc))
            self.outcomes.append(len(self.ok) > served)

    def failed_in_a_row(self) -> int:
        longest = run = 0
        for served in self.outcomes:
            run = 0 if served else run + 1
            longest = max(longest, run)
        return longest

    def longest_gap(self, start: float, end: float) -> float:
        marks = [start, *self.ok, end]
        return max(b - a for a, b in itertools.pairwise(marks))

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def test_upgrade_keeps_a_container_serving(real: Real) -> None:
    before = real.snapshot()
    svc = real.svc
    cluster = real.cluster(nodes=2)
    creds = real.creds(cluster)
    old_nodes = _addresses(svc, cluster["uuid"])
    assert sorted(old_nodes) == ["master-0", "node-0", "node-1"]
    c = create(svc, cluster, name="web", command=SERVE)
    act(svc, c, "start")
    target = svc.post(
        "/v1/baymodels",
        MODEL
        | {"name": f"m-{uuid.uuid4().hex[:6]}", "image_id": "swarm-local"}
        | {"labels": {"engine_version": "2"}},
    )
    assert target.status_code == 201, target.text

    poller = Poller(svc, cluster["uuid"], c["uuid"], creds)
    poller.check()  # it serves before anything starts
    assert poller.ok and not poller.failures, poller.failures
    thread = threading.Thread(target=poller.run, daemon=True)
    start = time.monotonic()
    thread.start()
    try:
        res = svc.post(
            f"/v1/clusters/{cluster['uuid']}/actions/upgrade",
            {"cluster_template": target.json["uuid"], "max_batch_size": 1},
            headers=at("1.8"),
        )
        assert res.status_code == 202, res.text
        done = svc.wait_cluster(
            cluster["uuid"],
            lambda b: b is not None and not b["status"].endswith("IN_PROGRESS"),
            timeout=UPGRADE_TIMEOUT,
        )
        end = time.monotonic()
    finally:
        poller.stop.set()
        thread.join(30)
        poller.close()
    assert done is not None, "the bay vanished"
    assert done["status"] == "UPDATE_COMPLETE", done["status_reason"]
    gap = poller.longest_gap(start, end)
    print(  # the measurement, for the record (pytest -s)
        f"upgrade took {end - start:.1f}s; {len(poller.ok)} checks served, "
        f"{len(poller.failures)} failed; longest gap {gap:.2f}s; hosts {poller.hosts}; "
        f"failures {poller.failures[:5]}"
    )
    assert gap < MAX_GAP, (gap, poller.failures)
    assert poller.failed_in_a_row() <= 1, poller.failures
    assert len(poller.hosts) >= 2, poller.hosts  # it did move, and served on each node

    # every node is new and reports the new template; the container serves on one of them
    nodes = _addresses(svc, cluster["uuid"])
    assert sorted(nodes) == ["master-1", "node-0", "node-2"], nodes
    assert done["baymodel_id"] == target.json["uuid"]
    for name, address in nodes.items():
        client = tls_client(address, creds, creds)
        try:
            info = client.info()
        finally:
            client.close()
        assert "engine_version=2" in info["Labels"], (name, info["Labels"])
        assert info["Swarm"]["LocalNodeState"] == "active", name
    manager = tls_client(nodes["master-1"], creds, creds)
    try:
        members = {n.attrs["Status"]["Addr"]: n.attrs for n in manager.nodes.list()}
    finally:
        manager.close()
    assert set(members) == set(nodes.values()), members  # the old nodes left the swarm
    gone = set(old_nodes) - set(nodes)
    for name in gone:
        state_dir, run_dir = local_cluster.dirs(svc.conf, cluster["uuid"])
        assert not (state_dir / name).exists() and not (run_dir / name).exists(), name
    got = svc.get(f"/v1/containers/{c['uuid']}").json
    assert got["status"] == "Running" and got["host"] in nodes, got
    # deleting the bay leaves nothing of it on the host (the replaced nodes included)
    real.delete_cluster(cluster["uuid"])
    real.assert_clean(before)
