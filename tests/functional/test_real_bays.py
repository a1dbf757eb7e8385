# SPDX-License-Identifier: Apache-2.0
"""Real bays through the API: the in-process API + conductor with the local infrastructure
and Swarm drivers build multi-node Docker Swarm clusters on this host.

SQLite only (a real bay takes seconds; the three-database matrix is covered by the
test-double tests). Needs root and the docker.io binaries; skipped otherwise. Every
test snapshots the host before and checks afterwards that nothing is left behind.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import ipaddress
import pathlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from magnum.db import migration
from magnum.drivers.infra.local import catalog, image, network
from magnum.drivers.infra.local import cluster as local_cluster
from tests.functional import _api
from tests.functional.conftest import Service
from tests.functional.hostcheck import (
    REALHOST,
    REFUSED,
    assert_clean,
    key_and_csr,
    ours,
    remove_leftover_clusters,
    skip_unless_possible,
    snapshot,
    tls_client,
    without_kept,
    write_creds,
)

pytestmark = REALHOST

CREATE_TIMEOUT = 90.0
MODEL = {
    "name": "swarm",
    "coe": "swarm",
    "image_id": "fedora-atomic",
    "keypair_id": "default",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "labels": {"env": "test"},
}
# What status_reason may say while a create runs (drivers and conductor).
PROGRESS = [
    re.compile(p)
    for p in (
        r"^Certificate authority ready$",
        r"^Creating \d+ nodes$",
        r"^\d+/\d+ nodes created$",
        r"^Forming the swarm cluster on \d+ masters?, \d+ nodes?$",
        r"^\d+/\d+ nodes joined$",
    )
]


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only, overriding the three-database parametrisation of tests/conftest.py."""
    url = f"sqlite:///{tmp_path_factory.mktemp('realdb') / 'magnum.sqlite'}"
    migration.upgrade(url)
    return url


@dataclasses.dataclass
class Real:
    """A service with the real drivers, the host dirs it uses and the bays it made."""

    svc: Service
    state: pathlib.Path  # [DEFAULT] state_path
    run: pathlib.Path  # [local] run_dir
    clusters: list[str] = dataclasses.field(default_factory=list)
    request_ids: list[str] = dataclasses.field(default_factory=list)  # of creates, scales, deletes

    @property
    def state_root(self) -> pathlib.Path:
        return local_cluster.state_root(self.svc.conf)

    def snapshot(self) -> dict[str, Any]:
        return without_kept(snapshot(self.state, self.run), self.state_root)

    def assert_clean(self, before: dict[str, Any]) -> None:
        """Nothing of this service's bays is left (bays of other sessions do not count)."""
        tags = [network.short_id(u) for u in self.clusters]
        assert_clean(before, self.snapshot, tags=tags, dirs=(self.state, self.run))

    def create(self, name: str, model: str, *, nodes: int, masters: int = 1) -> dict[str, Any]:
        res = self.svc.post(
            "/v1/bays",
            {"name": name, "baymodel_id": model, "node_count": nodes, "master_count": masters},
        )
        assert res.status_code == 201, res.text
        body: dict[str, Any] = res.json
        self.clusters.append(body["uuid"])
        self.request_ids.append(res.headers["X-OpenStack-Request-Id"])
        return body

    def events(self, ident: str) -> list[dict[str, Any]]:
        """The bay's timeline, oldest first."""
        res = self.svc.get(f"/v1/bays/{ident}/events", params={"limit": "1000"})
        assert res.status_code == 200, res.text
        return list(reversed(res.json["events"]))

    def settled(self, ident: str, *, timeout: float = CREATE_TIMEOUT) -> dict[str, Any]:
        body = self.svc.wait_cluster(
            ident, lambda b: b is None or not b["status"].endswith("IN_PROGRESS"), timeout=timeout
        )
        assert body is not None, f"bay {ident} vanished"
        return body

    def delete(self, ident: str, *, timeout: float = 60.0) -> None:
        res = self.svc.delete(f"/v1/bays/{ident}")
        assert res.status_code in (204, 404), res.text
        self.request_ids.append(res.headers["X-OpenStack-Request-Id"])
        self.svc.wait_cluster(ident, lambda b: b is None, timeout=timeout)

    def credentials(self, cluster_uuid: str, where: pathlib.Path) -> pathlib.Path:
        """The bay's CA from GET /v1/certificates and a client cert signed from our CSR."""
        res = self.svc.get(f"/v1/certificates/{cluster_uuid}")
        assert res.status_code == 200, res.text
        ca = res.json["pem"]
        assert res.json["bay_uuid"] == cluster_uuid
        key, csr = key_and_csr("tenant")
        res = self.svc.post("/v1/certificates", {"bay_uuid": cluster_uuid, "csr": csr})
        assert res.status_code == 201, res.text
        assert res.json["pem"].startswith("-----BEGIN CERTIFICATE-----")
        return write_creds(where, ca=ca, cert=res.json["pem"], key=key)


def _force_cleanup(real: Real) -> None:
    """Delete every bay through the API; whatever that leaves, remove with the driver."""
    for ident in real.clusters:
        with contextlib.suppress(AssertionError):
            real.delete(ident)
    remove_leftover_clusters(real.svc.conf, real.clusters)


def _make_real(
    service_factory: Callable[..., Service],
    tmp_path: pathlib.Path,
    coes: tuple[str, ...] = ("swarm",),
    conductor: dict[str, Any] | None = None,
    **local: Any,
) -> Real:
    run = pathlib.Path(f"/run/mgn-t{uuid.uuid4().hex[:8]}")  # short: socket paths
    svc = service_factory(
        conductor={"enabled_infra_drivers": ["local"], "enabled_coe_drivers": list(coes)}
        | (conductor or {}),
        local={"run_dir": str(run)} | local,
    )
    return Real(svc=svc, state=tmp_path / "state", run=run)


@pytest.fixture
def real_factory(
    service_factory: Callable[..., Service], tmp_path: pathlib.Path
) -> Iterator[Callable[..., Real]]:
    skip_unless_possible()
    made: list[Real] = []

    def make(
        coes: tuple[str, ...] = ("swarm",), conductor: dict[str, Any] | None = None, **local: Any
    ) -> Real:
        real = _make_real(service_factory, tmp_path, coes, conductor, **local)
        made.append(real)
        return real

    yield make
    for real in made:
        _force_cleanup(real)


@pytest.fixture
def real(real_factory: Callable[..., Real]) -> Real:
    return real_factory()


def _cluster_template(real: Real, **fields: Any) -> str:
    res = real.svc.post("/v1/baymodels", MODEL | fields)
    assert res.status_code == 201, res.text
    return str(res.json["uuid"])


def _watch_create(real: Real, ident: str) -> tuple[dict[str, Any], list[str]]:
    """Wait for the bay to settle, recording every distinct status_reason seen on the way."""
    reasons: list[str] = []

    def done(body: dict[str, Any] | None) -> bool:
        if body is None:
            return True
        if body["status"].endswith("IN_PROGRESS"):
            reason = body["status_reason"]
            if reason and (not reasons or reasons[-1] != reason):
                reasons.append(reason)
            return False
        return True

    body = real.svc.wait_cluster(ident, done, timeout=CREATE_TIMEOUT)
    assert body is not None
    return body, reasons


def _run_on(address: str, creds: pathlib.Path) -> str:
    """Run a container on the node at `address` over TLS; return the node's hostname as the
    container sees it (it shares the node's UTS namespace)."""
    client = tls_client(address, creds, creds)
    try:
        out = client.containers.run(
            image.TAG, ["hostname"], remove=True, network_mode="none", uts_mode="host"
        ).decode()
        assert client.info()["Name"] == out.strip()
        return str(out.strip())
    finally:
        client.close()


def _swarm(address: str, creds: pathlib.Path) -> dict[str, str]:
    """{node address: state} as the manager at `address` sees its swarm."""
    client = tls_client(address, creds, creds)
    try:
        return {n.attrs["Status"]["Addr"]: n.attrs["Status"]["State"] for n in client.nodes.list()}
    finally:
        client.close()


def _patch_nodes(real: Real, ident: str, count: int) -> dict[str, Any]:
    res = real.svc.patch(
        f"/v1/bays/{ident}", [{"op": "replace", "path": "/node_count", "value": count}]
    )
    assert res.status_code == 200, res.text
    assert res.json["status"] == "UPDATE_IN_PROGRESS"
    real.request_ids.append(res.headers["X-OpenStack-Request-Id"])
    body = real.settled(ident)
    assert body["status"] == "UPDATE_COMPLETE", body
    assert body["node_count"] == count
    assert len(body["node_addresses"]) == count
    return body


# --- the lifecycle ---------------------------------------------------------------------
def test_bay_lifecycle_through_the_api(real: Real, tmp_path: pathlib.Path) -> None:
    before = real.snapshot()
    model = _cluster_template(real)
    started = time.monotonic()
    b1 = real.create("b1", model, nodes=2)
    b2 = real.create("b2", model, nodes=1)  # another bay, for its certificate
    assert b1["status"] == "CREATE_IN_PROGRESS"

    cluster, reasons = _watch_create(real, b1["uuid"])
    print(f"\ncreate 1+2 through the API: {time.monotonic() - started:.2f}s; progress {reasons}")
    assert cluster["status"] == "CREATE_COMPLETE", cluster
    assert cluster["status_reason"] == "Bay CREATE completed: 1 master, 2 nodes"
    assert len(reasons) >= 2, reasons
    for reason in reasons:
        assert any(p.match(reason) for p in PROGRESS), reasons

    # Addresses: one master, two workers, all distinct in the bay's /24.
    (master,) = cluster["master_addresses"]
    workers = cluster["node_addresses"]
    assert cluster["api_address"] == f"tcp://{master}:2376"
    assert len(workers) == 2 and len({master, *workers}) == 3
    net = ipaddress.ip_network(f"{master}/24", strict=False)
    assert all(ipaddress.ip_address(a) in net for a in workers)

    other = real.settled(b2["uuid"])
    assert other["status"] == "CREATE_COMPLETE", other
    assert ipaddress.ip_address(other["master_addresses"][0]) not in net

    # The CA from the API and a signed CSR open every node; a container runs on each.
    creds = real.credentials(cluster["uuid"], tmp_path / "b1")
    names = {a: _run_on(a, creds) for a in [master, *workers]}
    assert len(set(names.values())) == 3, names
    assert all(n.startswith("bay-") for n in names.values()), names
    assert _swarm(master, creds) == dict.fromkeys([master, *workers], "ready")

    # A certificate from another bay's CA, and no certificate at all, are refused.
    other_creds = real.credentials(other["uuid"], tmp_path / "b2")
    _run_on(other["master_addresses"][0], other_creds)  # valid where it belongs
    for ca, cert in ((creds, other_creds), (creds, None), (other_creds, other_creds)):
        for address in (master, workers[0]):
            client = tls_client(address, ca, cert)
            try:
                with pytest.raises(REFUSED):
                    client.ping()
            finally:
                client.close()
    assert real.svc.delete(f"/v1/bays/{other['uuid']}").status_code == 204

    # Scale to 1+4: the new nodes join and run containers.
    grown = _patch_nodes(real, cluster["uuid"], 4)
    assert grown["status_reason"] == "Bay UPDATE completed: 1 master, 4 nodes"
    assert grown["node_addresses"][:2] == workers
    assert grown["api_address"] == cluster["api_address"]
    new = grown["node_addresses"][2:]
    for address in new:
        _run_on(address, creds)
    assert _swarm(master, creds) == dict.fromkeys([master, *grown["node_addresses"]], "ready")

    # ... and back to 1+2: the workers added last leave the swarm and the host.
    shrunk = _patch_nodes(real, cluster["uuid"], 2)
    assert shrunk["node_addresses"] == workers
    assert _swarm(master, creds) == dict.fromkeys([master, *workers], "ready")
    client = tls_client(new[0], creds, creds, timeout=2)
    try:
        with pytest.raises(REFUSED):  # nothing listens there any more
            client.ping()
    finally:
        client.close()

    started = time.monotonic()
    real.delete(cluster["uuid"])
    print(f"delete 1+2 through the API: {time.monotonic() - started:.2f}s")
    real.svc.wait_cluster(other["uuid"], lambda b: b is None, timeout=60)
    assert real.svc.get("/v1/bays").json["bays"] == []
    real.assert_clean(before)

    # The timeline tells create, both scales and the delete, each with its caller's request
    # id, its progress steps and how it settled (kept after the delete, by uuid).
    create_req, scale_up_req, scale_down_req, delete_req = (
        real.request_ids[0],
        real.request_ids[-3],
        real.request_ids[-2],
        real.request_ids[-1],
    )
    timeline = real.events(cluster["uuid"])
    settles = [(e["status"], e["request_id"]) for e in timeline if e["kind"] == "transition"]
    assert settles == [
        ("CREATE_COMPLETE", create_req),
        ("UPDATE_COMPLETE", scale_up_req),
        ("UPDATE_COMPLETE", scale_down_req),
        ("DELETE_COMPLETE", delete_req),
    ]
    requested = [e for e in timeline if e["kind"] == "operation.requested"]
    assert [(e["request_id"], e["message"]) for e in requested] == [
        (create_req, "create requested (master_count=1, node_count=2)"),
        (scale_up_req, "update requested (node_count=4)"),
        (scale_down_req, "update requested (node_count=2)"),
        (delete_req, "delete requested"),
    ]
    progress = [e["message"] for e in timeline if e["kind"] == "progress"]
    assert "Creating 3 nodes" in progress and "Adding 2 nodes" in progress, progress
    assert "Draining 2 nodes" in progress and "Deleting nodes" in progress, progress


# --- leaks -------------------------------------------------------------------------------
def test_twenty_create_delete_cycles_leave_the_host_clean(real: Real) -> None:
    before = real.snapshot()
    model = _cluster_template(real)
    rounds, at_once = 5, 4
    started = time.monotonic()
    for r in range(rounds):
        clusters = [real.create(f"leak-{r}-{i}", model, nodes=1) for i in range(at_once)]
        settled = [real.settled(b["uuid"]) for b in clusters]
        assert [b["status"] for b in settled] == ["CREATE_COMPLETE"] * at_once, settled
        if r == 0:  # the snapshot sees what bays make (so an empty diff means something)
            tags = [network.short_id(b["uuid"]) for b in clusters]
            during = ours(real.snapshot(), tags, (real.state, real.run))
            # two nodes and a router a bay; the host drops what its link to a router
            # would forward, and connections a router would open; it routes the bay
            assert len(during["netns"]) == 3 * at_once, during["netns"]
            assert len(during["forward"]) == 2 * at_once, during["forward"]
            assert len(during["input"]) == at_once, during["input"]
            assert len(during["routes"]) >= 2 * at_once, during["routes"]
            daemons = [p for p in during["procs"] if p.split()[0].endswith("dockerd")]
            assert len(daemons) == 2 * at_once, during["procs"]
        for b in clusters:
            assert real.svc.delete(f"/v1/bays/{b['uuid']}").status_code == 204
        for b in clusters:
            real.svc.wait_cluster(b["uuid"], lambda body: body is None, timeout=60)
    print(f"\n{rounds * at_once} create/delete cycles of 1+1: {time.monotonic() - started:.1f}s")
    real.assert_clean(before)


# --- faults ------------------------------------------------------------------------------
def test_dockerd_that_fails_to_start(
    real_factory: Callable[..., Real], tmp_path: pathlib.Path
) -> None:
    broken = tmp_path / "broken-dockerd"
    broken.write_text(
        "#!/bin/sh\necho 'failed to start daemon: simulated: no space left on device' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    real = real_factory(dockerd=str(broken))
    before = real.snapshot()
    model = _cluster_template(real)
    cluster = real.settled(real.create("broken", model, nodes=1)["uuid"])
    assert cluster["status"] == "CREATE_FAILED", cluster
    reason = cluster["status_reason"]
    assert re.search(r"dockerd of node (master-0|node-0) exited", reason), reason
    assert "simulated: no space left on device" in reason, reason
    failed = real.events(cluster["uuid"])[-1]
    assert (failed["kind"], failed["status"], failed["error_code"]) == (
        "transition",
        "CREATE_FAILED",
        "NodeStartFailed",
    )
    assert failed["message"] == reason
    # Everything built before the failure is gone already, before the bay is deleted.
    real.assert_clean(before)
    real.delete(cluster["uuid"])
    real.assert_clean(before)


def test_missing_dockerd_binary(real_factory: Callable[..., Real]) -> None:
    real = real_factory(dockerd="/nonexistent/dockerd")
    before = real.snapshot()
    model = _cluster_template(real)
    cluster = real.settled(real.create("nobin", model, nodes=1)["uuid"])
    assert cluster["status"] == "CREATE_FAILED", cluster
    assert "/nonexistent/dockerd is not installed" in cluster["status_reason"], cluster
    real.delete(cluster["uuid"])
    real.assert_clean(before)


def test_bad_input_is_refused_before_anything_is_built(real: Real) -> None:
    before = real.snapshot()
    model = _cluster_template(real)
    svc = real.svc

    def refused(body: dict[str, Any], *fragments: str) -> None:
        res = svc.post("/v1/bays", {"baymodel_id": model} | body)
        _api.error(res, 400, contains=fragments)

    refused({"node_count": 1000}, "holds at most 50 nodes", "1001 asked")
    refused({"node_count": 45, "master_count": 10}, "holds at most 50 nodes")
    refused({"node_count": 0}, "node_count", "greater or equal to 1")
    refused({"node_count": -3}, "node_count", "greater or equal to 1")
    refused({"master_count": 0}, "master_count")
    for field, value, message in (
        ("image_id", "ubuntu-nope", "Image ubuntu-nope not found"),
        ("flavor_id", "m1.huge", "Flavor m1.huge not found"),
        ("master_flavor_id", "m9.big", "Flavor m9.big not found"),
        ("external_network_id", "private", "Network private not found"),
        ("fixed_network", "private", "fixed_network 'private' is not a CIDR"),
        ("fixed_network", "10.0.0.0/8", "fixed_network 10.0.0.0/8 must be between a /16"),
        ("fixed_network", "127.0.5.0/24", "overlaps the loopback range 127.0.0.0/8"),
    ):
        res = svc.post("/v1/baymodels", MODEL | {"name": f"bad-{field}", field: value})
        _api.error(res, 400, contains=(message,))
    assert svc.get("/v1/bays").json["bays"] == []
    real.assert_clean(before)


def test_more_nodes_than_the_host_has_memory_for(real_factory: Callable[..., Real]) -> None:
    # Each node is taken to need a quarter of MemAvailable: a 1+1 baymodel check passes,
    # a 1+9 bay cannot fit.
    real = real_factory(node_memory_estimate=catalog.mem_available_mb() // 4)
    before = real.snapshot()
    model = _cluster_template(real)
    res = real.svc.post("/v1/bays", {"baymodel_id": model, "node_count": 9})
    _api.error(res, 400, contains=("This host cannot hold 10 more nodes",))
    assert real.svc.get("/v1/bays").json["bays"] == []
    real.assert_clean(before)


def test_concurrent_bays_get_separate_subnets(real: Real) -> None:
    """Bays created at the same moment never share a /24 or a bridge."""
    model = _cluster_template(real)
    before = real.snapshot()
    clusters = [real.create(f"c{i}", model, nodes=1) for i in range(3)]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        settled = list(pool.map(lambda b: real.settled(b["uuid"]), clusters))
    assert all(b["status"] == "CREATE_COMPLETE" for b in settled), settled
    nets = {ipaddress.ip_network(f"{b['master_addresses'][0]}/24", strict=False) for b in settled}
    assert len(nets) == 3
    for b in settled:
        real.delete(b["uuid"])
    real.assert_clean(before)
