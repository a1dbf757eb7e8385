# SPDX-License-Identifier: Apache-2.0
"""Conductor failover on real bays: a conductor killed in the middle of a create, a scale
or a delete; another conductor resumes the operation and nothing is leaked.

Two `magnum-conductor` processes with the local infrastructure driver (network namespaces
with their own dockerd) and the Swarm driver, on RabbitMQ and a fresh PostgreSQL
database; the API runs in this process (see _cluster.py). The test polls the bay row every
10 ms, SIGKILLs the conductor holding the lease as soon as the wanted step shows in
status_reason, starts a fresh conductor after each kill (so that two are up again) and
checks what the survivor made of the bay: its nodes (namespaces, daemons, swarm
membership over TLS with a certificate signed through the API) and, after the delete,
a host without any trace of it.

Node daemons run in their own sessions, so they outlive the conductor that started them:
their init (docker-init) is re-parented to pid 1. Once the survivor has deleted the bay,
those inits must be gone for good (reaped by pid 1; the `process_api` pid 1 of the
firecracker sandbox does reap orphans, but only every second or two) and no
dockerd/containerd/docker-init zombie may be left on the host.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import network
from tests.functional._cluster import LEASE_TTL, Cluster, migrated_postgres, wait_until
from tests.functional.hostcheck import (
    DAEMONS,
    REALHOST,
    assert_clean,
    key_and_csr,
    remove_leftover_clusters,
    skip_unless_possible,
    snapshot,
    tls_client,
    without_kept,
    write_creds,
)

pytestmark = [*REALHOST, pytest.mark.rabbit]

SETTLE_TIMEOUT = 90.0
TAKEOVER_TIMEOUT = LEASE_TTL + 10.0
KILL_POLL = 0.01
REAP_TIMEOUT = 15.0
MODEL = {
    "name": "failover",
    "coe": "swarm",
    "image_id": "fedora-atomic",
    "keypair_id": "default",
    "external_network_id": "public",
    "flavor_id": "m1.small",
}


# --- processes ---------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int, str] | None:
    """(state, ppid, comm) of a process, None once it is gone."""
    try:
        raw = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    state, ppid = raw[raw.rindex(")") + 2 :].split()[:2]
    return state, int(ppid), comm


def _processes() -> dict[int, tuple[str, int, str]]:
    out = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            out[int(entry.name)] = stat
    return out


def _daemon_zombies() -> dict[int, tuple[str, int, str]]:
    """Defunct node daemons anywhere on the host (what `ps -eo stat,comm` shows as Z)."""
    return {pid: s for pid, s in _processes().items() if s[0] == "Z" and s[2].startswith(DAEMONS)}


def _children(ppid: int, comm: str) -> set[int]:
    return {pid for pid, s in _processes().items() if s[1] == ppid and s[2] == comm}


# --- the cluster -------------------------------------------------------------------
class RealCluster:
    """A Cluster with the real drivers, the host dirs they use and what this test saw."""

    def __init__(self, cluster: Cluster, run: pathlib.Path) -> None:
        self.c = cluster
        self.run = run
        self.orphans: set[int] = set()  # node inits of killed conductors
        self.seen: list[str] = []

    @property
    def state_root(self) -> pathlib.Path:
        return local_cluster.state_root(self.c.conf)

    def snapshot(self) -> dict[str, Any]:
        return without_kept(snapshot(self.c.state, self.run), self.state_root)

    def row(self, cluster_uuid: str) -> dict[str, Any] | None:
        return self.c.cluster_row(cluster_uuid, "status_reason")

    def catch(self, cluster_uuid: str, status: str, pattern: str) -> dict[str, Any]:
        """Poll the row every 10 ms until a conductor holds the lease and status_reason
        matches `pattern`; record every reason seen on the way."""
        wanted = re.compile(pattern)

        def probe() -> dict[str, Any] | None:
            row = self.row(cluster_uuid)
            assert row is not None, f"bay gone before the kill window; seen {self.seen}"
            reason = row["status_reason"] or ""
            if not self.seen or self.seen[-1] != reason:
                self.seen.append(reason)
            assert row["status"] == status, (row, self.seen)
            return row if row["lease_owner"] and wanted.search(reason) else None

        self.seen = []
        row: dict[str, Any] = wait_until(
            f"{status} with reason /{pattern}/", probe, SETTLE_TIMEOUT, interval=KILL_POLL
        )
        return row

    def kill_owner(self, row: dict[str, Any]) -> str:
        """SIGKILL the conductor holding the lease in `row`; remember its node inits."""
        host, pid, _ = row["lease_owner"].split(":")
        proc = self.c.procs[host]
        assert int(pid) == proc.pid, row
        inits = _children(proc.pid, "docker-init")
        self.c.kill(host)
        # its node inits are re-parented (mid-delete, some may be dead already: zombies)
        for init in inits:
            stat = _proc_stat(init)
            assert stat is None or stat[1] != proc.pid, (init, stat)
        self.orphans |= inits
        return str(host)

    def taken_over(self, cluster_uuid: str, survivor: str, settled: str) -> None:
        """Until the survivor holds the lease (or has finished already)."""

        def probe() -> bool:
            row = self.row(cluster_uuid)
            return (
                row is None
                or row["status"] == settled
                or (bool(row["lease_owner"]) and row["lease_owner"].startswith(f"{survivor}:"))
            )

        wait_until(f"{survivor} to take the lease over", probe, TAKEOVER_TIMEOUT)

    def settled(self, cluster_uuid: str) -> dict[str, Any]:
        """The bay (GET) once it is settled and its lease released."""

        def probe() -> bool:
            row = self.row(cluster_uuid)
            assert row is not None
            return not row["status"].endswith("IN_PROGRESS") and row["lease_owner"] is None

        wait_until(f"bay {cluster_uuid} to settle", probe, SETTLE_TIMEOUT)
        res = self.c.get(f"/v1/bays/{cluster_uuid}")
        assert res.status_code == 200, res.text
        body: dict[str, Any] = res.json
        return body

    def why(self, cluster_uuid: str, *hosts: str) -> str:
        """What a failed assertion should say: the bay's reason, its latest events and
        the end of the conductors' logs."""
        row = self.row(cluster_uuid)
        res = self.c.get(f"/v1/bays/{cluster_uuid}/events?limit=15")
        events = res.json.get("events", []) if res.status_code == 200 else res.text
        tails = {h: self.c.log(h)[-4000:] for h in hosts}
        return f"row={row}\nevents={events}\nlogs={tails}"

    def credentials(self, cluster_uuid: str, where: pathlib.Path) -> pathlib.Path:
        """The bay CA from the API and a client certificate signed from our CSR."""
        res = self.c.get(f"/v1/certificates/{cluster_uuid}")
        assert res.status_code == 200, res.text
        ca = res.json["pem"]
        key, csr = key_and_csr("tenant")
        res = self.c.request("POST", "/v1/certificates", {"bay_uuid": cluster_uuid, "csr": csr})
        assert res.status_code == 201, res.text
        return write_creds(where, ca=ca, cert=res.json["pem"], key=key)

    def node_daemons(self, cluster_uuid: str) -> dict[str, list[str]]:
        """The bay's namespaces and node daemons on this host, by kind."""
        tag = network.short_id(cluster_uuid)
        snap = snapshot(self.c.state, self.run)
        procs = [p for p in snap["procs"] if f"/{tag}/" in p]
        return {
            # the nodes' namespaces (the bay's router, mgn-<tag>, is not a node)
            "netns": [n for n in snap["netns"] if f"{tag}-" in n],
            "dockerd": [p for p in procs if p.split()[0].endswith("dockerd")],
            "docker-init": [p for p in procs if p.split()[0].endswith("docker-init")],
        }

    def assert_nodes(self, cluster: dict[str, Any], creds: pathlib.Path, count: int) -> None:
        """Exactly `count` nodes: namespaces, daemons and Ready swarm members."""
        (master,) = cluster["master_addresses"]
        addresses = [master, *cluster["node_addresses"]]
        assert len(set(addresses)) == count, cluster
        found = self.node_daemons(cluster["uuid"])
        assert {k: len(v) for k, v in found.items()} == dict.fromkeys(found, count), found
        records = list((self.state_root / network.short_id(cluster["uuid"])).glob("*/node.json"))
        assert len(records) == count, records
        client = tls_client(master, creds, creds)
        try:
            swarm = {
                n.attrs["Status"]["Addr"]: n.attrs["Status"]["State"] for n in client.nodes.list()
            }
        finally:
            client.close()
        assert swarm == dict.fromkeys(addresses, "ready"), swarm
        for address in addresses:  # every daemon answers over TLS with our certificate
            client = tls_client(address, creds, creds)
            try:
                assert client.ping()
            finally:
                client.close()


@contextlib.contextmanager
def real_cluster(tmp_path: pathlib.Path, coes: tuple[str, ...]) -> Iterator[RealCluster]:
    """Conductor processes with the real drivers (local and `coes`) on a fresh PostgreSQL
    database; on exit every conductor is stopped and every bay removed."""
    skip_unless_possible()
    url, drop = migrated_postgres(tmp_path)
    run = pathlib.Path(f"/run/mgn-t{uuid.uuid4().hex[:8]}")  # short: socket paths
    cluster: Cluster | None = None
    try:
        cluster = Cluster(
            url,
            tmp_path,
            {
                "conductor": {
                    "enabled_infra_drivers": ["local"],
                    "enabled_coe_drivers": list(coes),
                    "health_interval": 0,
                },
                "local": {"run_dir": str(run)},
            },
        )
        yield RealCluster(cluster, run)
    finally:
        try:
            if cluster is not None:
                failures = cluster.stop_conductors()
                remove_leftover_clusters(cluster.conf)
                cluster.close()
                assert not failures, failures
        finally:
            drop()


@pytest.fixture
def real(tmp_path: pathlib.Path) -> Iterator[RealCluster]:
    with real_cluster(tmp_path, ("swarm",)) as made:
        yield made


def test_killed_conductor_create_scale_delete_resumed_by_another(
    real: RealCluster, tmp_path: pathlib.Path
) -> None:
    c = real.c
    before = real.snapshot()
    zombies_before = _daemon_zombies()
    timings: dict[str, float] = {}
    c.start_conductor("c1")
    c.start_conductor("c2")
    c.wait_up("c1", "c2")
    res = c.request("POST", "/v1/baymodels", MODEL)
    assert res.status_code == 201, res.text

    # 1. create 1+2: kill the owner while nodes are built or the swarm forms
    started = time.monotonic()
    res = c.request("POST", "/v1/bays", {"name": "fo", "baymodel_id": "failover", "node_count": 2})
    assert res.status_code == 201, res.text
    cluster_uuid = res.json["uuid"]
    row = real.catch(
        cluster_uuid, "CREATE_IN_PROGRESS", r"^\d+/3 nodes created$|^Forming|nodes joined$"
    )
    victim = real.kill_owner(row)
    (survivor,) = set(c.procs)
    handovers = [("create", victim, survivor)]
    real.taken_over(cluster_uuid, survivor, "CREATE_COMPLETE")
    cluster = real.settled(cluster_uuid)
    timings["create"] = time.monotonic() - started
    print(f"\ncreate: killed {victim} at {row['status_reason']!r} (seen {real.seen})")
    assert cluster["status"] == "CREATE_COMPLETE", real.why(cluster_uuid, victim, survivor)
    assert cluster["status_reason"] == "Bay CREATE completed: 1 master, 2 nodes", cluster
    assert f"cluster {cluster_uuid}: create starting on {survivor}:" in c.log(survivor)
    creds = real.credentials(cluster_uuid, tmp_path / "creds")
    real.assert_nodes(cluster, creds, 3)

    # 2. scale to 1+4: kill the owner while the new nodes are built or join
    c.start_conductor("c3")
    c.wait_up(survivor, "c3")
    started = time.monotonic()
    res = c.request(
        "PATCH", f"/v1/bays/{cluster_uuid}", [{"op": "replace", "path": "/node_count", "value": 4}]
    )
    assert res.status_code == 200, res.text
    row = real.catch(cluster_uuid, "UPDATE_IN_PROGRESS", r"^\d+/5 nodes created$|^Joining|joined$")
    victim = real.kill_owner(row)
    (survivor,) = set(c.procs) - {victim}
    handovers.append(("update", victim, survivor))
    real.taken_over(cluster_uuid, survivor, "UPDATE_COMPLETE")
    grown = real.settled(cluster_uuid)
    timings["scale"] = time.monotonic() - started
    print(f"scale: killed {victim} at {row['status_reason']!r} (seen {real.seen})")
    assert grown["status"] == "UPDATE_COMPLETE", real.why(cluster_uuid, victim, survivor)
    assert grown["status_reason"] == "Bay UPDATE completed: 1 master, 4 nodes", grown
    assert grown["node_count"] == 4
    assert grown["node_addresses"][:2] == cluster["node_addresses"], (cluster, grown)
    assert f"cluster {cluster_uuid}: update starting on {survivor}:" in c.log(survivor)
    real.assert_nodes(grown, creds, 5)

    # 3. delete: kill the owner while it deletes the nodes
    c.start_conductor("c4")
    c.wait_up(survivor, "c4")
    started = time.monotonic()
    res = c.request("DELETE", f"/v1/bays/{cluster_uuid}")
    assert res.status_code == 204, res.text
    row = real.catch(cluster_uuid, "DELETE_IN_PROGRESS", r"^Deleting nodes$")
    victim = real.kill_owner(row)
    (survivor,) = set(c.procs) - {victim}
    handovers.append(("delete", victim, survivor))
    wait_until("the bay row to be gone", lambda: real.row(cluster_uuid) is None, SETTLE_TIMEOUT)
    timings["delete"] = time.monotonic() - started
    print(f"delete: killed {victim} at {row['status_reason']!r} (seen {real.seen})")
    assert c.get(f"/v1/bays/{cluster_uuid}").status_code == 404
    assert f"cluster {cluster_uuid}: delete starting on {survivor}:" in c.log(survivor)

    # Each takeover is in the timeline: which operation, from whom, by whom.
    res = c.get(f"/v1/bays/{cluster_uuid}/events")
    assert res.status_code == 200, res.text
    timeline = list(reversed(res.json["events"]))
    takeovers = [e for e in timeline if e["kind"] == "operation.takeover"]
    assert len(takeovers) == len(handovers), timeline
    for event, (op, dead, alive) in zip(takeovers, handovers, strict=True):
        assert event["message"].startswith(f"{op} taken over from {dead}:"), event
        assert event["conductor"].startswith(f"{alive}:"), event
    assert timeline[-1]["status"] == "DELETE_COMPLETE"

    tag = network.short_id(cluster_uuid)
    assert_clean(before, real.snapshot, tags=[tag], dirs=(c.state, real.run))
    assert real.node_daemons(cluster_uuid) == {"netns": [], "dockerd": [], "docker-init": []}
    # The killed conductors' node inits died with the bay and were reaped (by pid 1):
    # no daemon of the bay, and no new daemon zombie, is left on the host.
    assert real.orphans, "no node daemon outlived a killed conductor"
    reaped_at = time.monotonic()

    def reaped() -> bool:
        new = {p for p in _daemon_zombies() if p not in zombies_before}
        return not new and all(_proc_stat(p) is None for p in real.orphans)

    wait_until(f"the orphaned node inits {real.orphans} to be reaped", reaped, REAP_TIMEOUT)
    waited = time.monotonic() - reaped_at
    rounded = {k: round(v, 2) for k, v in timings.items()}
    print(f"{len(real.orphans)} orphaned node inits reaped after {waited:.1f}s; {rounded}")
