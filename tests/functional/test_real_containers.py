# SPDX-License-Identifier: Apache-2.0
"""Containers on real bays: the in-process API + conductor with the local infrastructure
and Swarm drivers, Docker containers on the nodes' own dockerd over TLS.

SQLite only; needs root and the docker.io binaries (skipped otherwise). Each test checks
Docker directly on the nodes (with a tenant certificate from the certificates API) and
that the host is clean once its bays are deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from magnum.db import migration
from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import dockerd, image, network
from magnum.objects import containers as container_rows
from tests.functional import _api, _http
from tests.functional.conftest import Service
from tests.functional.hostcheck import (
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

pytestmark = REALHOST
CREATE_TIMEOUT = 90.0
MODEL = {
    "name": "swarm",
    "coe": "swarm",
    "image_id": "fedora-atomic",
    "keypair_id": "default",
    "external_network_id": "public",
    "flavor_id": "m1.small",  # 512 MB per node
}
IMAGE = image.TAG
LOOP = "trap 'exit 0' TERM; echo hello from $(hostname); while :; do sleep 1; done"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only, overriding the three-database parametrisation of tests/conftest.py."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ctrdb') / 'magnum.sqlite'}"
    migration.upgrade(url)
    return url


class Real:
    def __init__(self, factory: Callable[..., Service], tmp: pathlib.Path) -> None:
        self.factory = factory
        self.tmp = tmp
        self.run = pathlib.Path(f"/run/mgn-c{uuid.uuid4().hex[:8]}")  # short: socket paths
        self.state = tmp / "state"
        self.svc = self.start()
        self.clusters: list[str] = []

    def start(self, **groups: dict[str, Any]) -> Service:
        """A (new) API + conductor on the same database, state and run directories, with
        these options besides."""
        conductor = {
            "enabled_infra_drivers": ["local"],
            "enabled_coe_drivers": ["swarm"],
            "container_sync_interval": 0.3,
        } | groups.pop("conductor", {})
        return self.factory(conductor=conductor, local={"run_dir": str(self.run)}, **groups)

    def snapshot(self) -> dict[str, Any]:
        return without_kept(snapshot(self.state, self.run), local_cluster.state_root(self.svc.conf))

    def cluster(self, nodes: int) -> dict[str, Any]:
        res = self.svc.post("/v1/baymodels", MODEL | {"name": f"m-{uuid.uuid4().hex[:6]}"})
        assert res.status_code == 201, res.text
        res = self.svc.post(
            "/v1/bays",
            {
                "name": f"b-{uuid.uuid4().hex[:6]}",
                "baymodel_id": res.json["uuid"],
                "node_count": nodes,
            },
        )
        assert res.status_code == 201, res.text
        self.clusters.append(res.json["uuid"])
        body = self.svc.wait_cluster(
            res.json["uuid"],
            lambda b: b is None or not b["status"].endswith("IN_PROGRESS"),
            timeout=CREATE_TIMEOUT,
        )
        assert body is not None and body["status"] == "CREATE_COMPLETE", body
        return body

    def delete_cluster(self, ident: str) -> None:
        res = self.svc.delete(f"/v1/bays/{ident}")
        assert res.status_code in (204, 404), res.text
        self.svc.wait_cluster(ident, lambda b: b is None, timeout=60)

    def creds(self, cluster: dict[str, Any]) -> pathlib.Path:
        ca = self.svc.get(f"/v1/certificates/{cluster['uuid']}").json["pem"]
        key, csr = key_and_csr("tenant")
        res = self.svc.post("/v1/certificates", {"bay_uuid": cluster["uuid"], "csr": csr})
        assert res.status_code == 201, res.text
        return write_creds(self.tmp / cluster["uuid"], ca=ca, cert=res.json["pem"], key=key)

    def cleanup(self) -> None:
        for ident in self.clusters:
            with contextlib.suppress(AssertionError):
                self.delete_cluster(ident)
        remove_leftover_clusters(self.svc.conf, self.clusters)

    def assert_clean(self, before: dict[str, Any]) -> None:
        """Nothing of our bays is left (bays of other sessions on this host do not count)."""
        tags = [network.short_id(u) for u in self.clusters]
        assert_clean(before, self.snapshot, tags=tags, dirs=(self.state, self.run))


@pytest.fixture
def real(service_factory: Callable[..., Service], tmp_path: pathlib.Path) -> Iterator[Real]:
    skip_unless_possible()
    made = Real(service_factory, tmp_path)
    yield made
    made.cleanup()


def create(svc: Service, cluster: dict[str, Any], **fields: Any) -> dict[str, Any]:
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"]} | fields)
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json
    return body


def put(svc: Service, path: str, **kw: Any) -> Any:
    return svc.request("PUT", path, **kw)


def act(svc: Service, c: dict[str, Any], action: str) -> None:
    res = put(svc, f"/v1/containers/{c['uuid']}/{action}")
    assert res.status_code == 200, res.text
    assert res.text == "null"


def status(svc: Service, c: dict[str, Any]) -> tuple[str, str | None]:
    res = svc.get(f"/v1/containers/{c['uuid']}")
    assert res.status_code == 200, res.text
    return res.json["status"], res.json["status_reason"]


def on_node(address: str, creds: pathlib.Path, cluster: dict[str, Any]) -> dict[str, str]:
    """{magnum uuid: docker state} of the bay's containers on the node at `address`."""
    client = tls_client(address, creds, creds)
    try:
        found = client.api.containers(all=True, filters={"label": f"magnum.bay={cluster['uuid']}"})
        return {c["Labels"]["magnum.container"]: c["State"] for c in found}
    finally:
        client.close()


def addresses(cluster: dict[str, Any]) -> dict[str, str]:
    workers = {f"node-{i}": a for i, a in enumerate(cluster["node_addresses"])}
    return {"master-0": cluster["master_addresses"][0]} | workers


# --- every action end to end, placement, sync of an exited container ----------------------
def test_containers_end_to_end(real: Real) -> None:
    before = real.snapshot()
    svc = real.svc
    cluster = real.cluster(nodes=2)
    creds = real.creds(cluster)
    where = addresses(cluster)

    c = create(
        svc,
        cluster,
        name="web",
        command=f"sh -c {json.dumps(LOOP)}",
        memory="64m",
        environment={"GREETING": "hi there"},
    )
    assert c["status"] == "Stopped" and c["host"] in ("node-0", "node-1"), c
    assert on_node(where[c["host"]], creds, cluster) == {c["uuid"]: "created"}
    act(svc, c, "start")
    assert status(svc, c) == ("Running", None)
    assert on_node(where[c["host"]], creds, cluster) == {c["uuid"]: "running"}

    path = f"/v1/containers/{c['uuid']}"
    res = put(svc, f"{path}/execute", params={"command": "cat /etc/hostname"})
    assert res.status_code == 200, res.text
    assert res.json == {"output": f"{c['uuid']}\n", "truncated": False}
    res = put(svc, f"{path}/execute", params={"command": "sh -c 'echo $GREETING; echo err >&2'"})
    # stdout and stderr are separate streams: both arrive, in either order
    assert sorted(res.json["output"].splitlines()) == ["err", "hi there"], res.text
    client = tls_client(where[c["host"]], creds, creds)
    try:
        info = client.api.inspect_container(f"magnum-{c['uuid']}")
    finally:
        client.close()
    assert info["HostConfig"]["Memory"] == 64 * 1024**2
    assert info["Config"]["Env"][:1] == ["GREETING=hi there"]

    act(svc, c, "pause")
    assert status(svc, c)[0] == "Paused"
    assert on_node(where[c["host"]], creds, cluster)[c["uuid"]] == "paused"
    _api.error(put(svc, f"{path}/execute?command=ls"), 409, contains=("paused",))
    _api.error(put(svc, f"{path}/pause"), 409, contains=("already paused",))
    act(svc, c, "unpause")
    assert status(svc, c)[0] == "Running"
    act(svc, c, "reboot")
    assert status(svc, c)[0] == "Running"
    logs = _api.poll(
        lambda: svc.get(f"{path}/logs").json["output"],
        lambda out: out.count("hello from") == 2,
    )
    assert logs.splitlines() == [f"hello from {c['uuid']}"] * 2
    act(svc, c, "stop")
    assert status(svc, c)[0] == "Stopped"
    _api.error(put(svc, f"{path}/pause"), 409, contains=("is not running",))
    _api.error(put(svc, f"{path}/unpause"), 409)
    act(svc, c, "stop")  # stopping a stopped container is fine
    act(svc, c, "start")

    # An image the nodes do not have, and more memory than a node has: 400, no row.
    res = svc.post("/v1/containers", {"image": "nope/missing:1", "bay_uuid": cluster["uuid"]})
    _api.error(
        res, 400, contains=(f"Image nope/missing:1 is not available in bay {cluster['uuid']}",)
    )
    res = svc.post(
        "/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"], "memory": "600m"}
    )
    _api.error(res, 400, f"No node of bay {cluster['uuid']} has 600 MB free.")
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"], "memory": "1k"})
    _api.error(res, 400, contains=("Minimum memory limit",))
    assert len(svc.get("/v1/containers").json["containers"]) == 1

    # Placement: spread over both workers, recorded, and true in Docker.
    more = [create(svc, cluster, command="sleep 600", memory="64m") for _ in range(4)]
    hosts = [m["host"] for m in more]
    assert set(hosts) == {"node-0", "node-1"}, hosts
    everything = [c, *more]
    for name in ("node-0", "node-1"):
        placed = {m["uuid"] for m in everything if m["host"] == name}
        assert set(on_node(where[name], creds, cluster)) == placed
    assert on_node(where["master-0"], creds, cluster) == {}

    # A container whose command ends shows Stopped after the next sync.
    short = create(svc, cluster, command="sh -c 'exit 3'")
    act(svc, short, "start")

    def listed() -> dict[str, tuple[str, str | None]]:
        items = svc.get("/v1/containers").json["containers"]
        return {x["uuid"]: (x["status"], x["status_reason"]) for x in items}

    _api.poll(listed, lambda s: s[short["uuid"]] == ("Stopped", "exited with code 3"))

    for x in [*everything, short]:
        assert svc.delete(f"/v1/containers/{x['uuid']}").status_code == 204
    assert svc.get("/v1/containers").json["containers"] == []
    for address in where.values():
        assert on_node(address, creds, cluster) == {}
    real.delete_cluster(cluster["uuid"])
    real.assert_clean(before)


# --- a conductor restart ----------------------------------------------------------------
def test_container_survives_a_conductor_restart(real: Real) -> None:
    cluster = real.cluster(nodes=1)
    c = create(real.svc, cluster, command=f"sh -c {json.dumps(LOOP)}")
    act(real.svc, c, "start")
    real.svc.conductor.stop()
    real.svc = real.start()  # a new conductor (and API) on the same database
    assert status(real.svc, c) == ("Running", None)
    out = real.svc.get(f"/v1/containers/{c['uuid']}/logs").json["output"]
    assert out == f"hello from {c['uuid']}\n"
    act(real.svc, c, "stop")
    assert status(real.svc, c)[0] == "Stopped"
    assert real.svc.delete(f"/v1/containers/{c['uuid']}").status_code == 204


# --- a node killed under a container ------------------------------------------------------
def test_node_killed_under_a_container(real: Real) -> None:
    before = real.snapshot()
    svc = real.svc
    cluster = real.cluster(nodes=2)
    a = create(svc, cluster, command="sleep 600")
    b = create(svc, cluster, command="sleep 600")
    assert {a["host"], b["host"]} == {"node-0", "node-1"}
    act(svc, a, "start")
    act(svc, b, "start")

    _, run_dir = local_cluster.dirs(svc.conf, cluster["uuid"])
    layout = dockerd.Layout(state=pathlib.Path("/nonexistent"), run=run_dir / a["host"])
    pid = int(layout.pidfile.read_text().strip())
    os.kill(pid, signal.SIGKILL)

    def listed() -> dict[str, tuple[str, str | None]]:
        items = svc.get("/v1/containers").json["containers"]
        return {x["uuid"]: (x["status"], x["status_reason"]) for x in items}

    dead = ("Error", f"node {a['host']} is not answering")
    states = _api.poll(listed, lambda s: s[a["uuid"]] == dead, timeout=20)
    assert states[b["uuid"]] == ("Running", None)
    assert status(svc, a) == dead
    _api.error(put(svc, f"/v1/containers/{a['uuid']}/stop"), 409, contains=("not answering",))
    _api.error(svc.delete(f"/v1/containers/{a['uuid']}"), 409, contains=("not answering",))
    res = put(svc, f"/v1/containers/{b['uuid']}/execute", params={"command": "echo alive"})
    assert res.json == {"output": "alive\n", "truncated": False}
    # Deleting the bay removes the dead node, its container and every row.
    real.delete_cluster(cluster["uuid"])
    assert svc.get("/v1/containers").json["containers"] == []
    real.assert_clean(before)


# --- execute and logs are bounded ---------------------------------------------------------
def processes(address: str, creds: pathlib.Path, c: dict[str, Any]) -> list[str]:
    """The command lines running in the container (Docker's top, from the node)."""
    client = tls_client(address, creds, creds)
    try:
        top = client.api.top(f"magnum-{c['uuid']}")
    finally:
        client.close()
    column = top["Titles"].index("CMD")
    return [p[column] for p in top["Processes"]]


EXEC_TIMEOUT = 3.0


def test_execute_and_logs_are_bounded(real: Real) -> None:
    real.svc.conductor.stop()
    real.svc = svc = real.start(
        api={"exec_timeout": EXEC_TIMEOUT, "max_exec_output": 65536, "max_concurrent_execs": 2}
    )
    cluster = real.cluster(nodes=1)
    creds = real.creds(cluster)
    node = addresses(cluster)["node-0"]
    c = create(svc, cluster, command=f"sh -c {json.dumps(LOOP)}")
    act(svc, c, "start")
    path = f"/v1/containers/{c['uuid']}"

    def leftovers() -> list[str]:
        return [p for p in processes(node, creds, c) if "10000" in p or p.endswith("yes")]

    # Past the time limit: killed, the whole tree (a child without the environment too).
    res = put(svc, f"{path}/execute", params={"command": "sleep 100000"})
    _api.error(
        res,
        504,
        "The command did not finish within 3 s ([api] exec_timeout): its processes were killed.",
        code="server",
    )
    tree = "sh -c 'sleep 100001 & env -i sleep 100002 & sleep 100003'"
    _api.error(put(svc, f"{path}/execute", params={"command": tree}), 504, code="server")
    assert leftovers() == []
    # Past the output limit: the first bytes, and the command is stopped.
    res = put(svc, f"{path}/execute", params={"command": "yes"})
    assert res.status_code == 200, res.text
    assert res.json == {"output": "y\n" * 32768, "truncated": True}
    assert leftovers() == []
    # The container itself runs on, and shorter commands are answered in full.
    assert status(svc, c) == ("Running", None)
    res = put(svc, f"{path}/execute", params={"command": "echo fine"})
    assert res.json == {"output": "fine\n", "truncated": False}

    # logs: the most recent bytes of a long log.
    chatty = create(
        svc,
        cluster,
        command="sh -c 'i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done; "
        "exec sleep 600'",
    )
    act(svc, chatty, "start")
    logs = _api.poll(
        lambda: svc.get(f"/v1/containers/{chatty['uuid']}/logs").json,
        lambda out: out["output"].endswith("line-19999\n"),
    )
    assert logs["truncated"] is True and len(logs["output"]) == 65536
    assert "line-0\n" not in logs["output"]

    # Ten long commands at once on an 8-thread server: two run until killed, eight are
    # refused at once, and other requests are answered quickly all the while.
    answers: list[tuple[int, Any, Any]] = []
    with _http.serve(svc) as address:

        def run() -> None:
            answers.append(_http.request(address, "PUT", f"{path}/execute?command=sleep%20100000"))

        threads = [threading.Thread(target=run) for _ in range(10)]
        for t in threads:
            t.start()
        slowest = 0.0
        for _ in range(10):
            began = time.monotonic()
            got, _, body = _http.request(address, "GET", "/v1/bays", timeout=5)
            slowest = max(slowest, time.monotonic() - began)
            assert got == 200 and len(body["bays"]) == 1
            time.sleep(0.1)
        for t in threads:
            t.join(timeout=60)
    # A GET held behind the long commands would wait for one of their threads, i.e. until
    # exec_timeout kills it: half of that is far from both that and a busy machine's pace.
    assert slowest < EXEC_TIMEOUT / 2, slowest
    assert sorted(a[0] for a in answers) == [503] * 8 + [504] * 2, answers
    assert all(h["Retry-After"] == "5" for s, h, _ in answers if s == 503)
    assert leftovers() == []

    # An image without sh: the command cannot be killed, and the answer says so.
    bare = create(svc, cluster, command="sleep 600")
    act(svc, bare, "start")
    bare_path = f"/v1/containers/{bare['uuid']}"
    assert put(svc, f"{bare_path}/execute", params={"command": "rm /bin/sh"}).status_code == 200
    res = put(svc, f"{bare_path}/execute", params={"command": "sleep 100000"})
    errors = _api.error(res, 504, code="server")
    assert errors[0]["detail"].startswith(
        "The command did not finish within 3 s ([api] exec_timeout): it could not be killed "
        "and still runs in the container ("
    ), errors
    assert "sleep 100000" in processes(node, creds, bare)
    for x in (c, chatty, bare):
        assert svc.delete(f"/v1/containers/{x['uuid']}").status_code == 204


# --- a conductor killed in the middle of creates --------------------------------------------
class _Crash(BaseException):
    """The conductor is killed here: nothing after it runs."""


def half_create(svc: Service, cluster: dict[str, Any], *, docker: bool) -> str:
    """Create as a conductor SIGKILLed mid-create leaves it: the row without Docker id and
    (with `docker`) the real Docker container magnum-<uuid> on its node."""
    values = {
        "cluster_uuid": cluster["uuid"],
        "image": IMAGE,
        "command": "sleep 600",
        "environment": {},
    }
    owner = {"project_id": "p1", "user_id": "p1-user"}
    made: list[str] = []

    def killed(uuid_: str) -> Any:
        made.append(uuid_)
        raise _Crash()

    swarm = svc.conductor.drivers.coe["swarm"].containers
    with pytest.MonkeyPatch.context() as mp:
        if docker:  # Docker made it; its id was never recorded
            mp.setattr(container_rows, "mark_created", lambda db, u, docker_id: killed(u))
        else:  # killed before Docker was asked
            mp.setattr(swarm, "create", lambda task, node, spec: killed(spec.uuid))
            mp.setattr(container_rows, "delete", lambda db, u: None)
        with pytest.raises(_Crash):
            svc.conductor.containers.create(owner, values)
    return made[0]


def test_interrupted_creates_are_resolved_after_a_restart(real: Real) -> None:
    before = real.snapshot()
    cluster = real.cluster(nodes=1)
    creds = real.creds(cluster)
    node = addresses(cluster)["node-0"]
    adopted = half_create(real.svc, cluster, docker=True)
    lost = half_create(real.svc, cluster, docker=False)
    deleted = half_create(real.svc, cluster, docker=True)
    assert on_node(node, creds, cluster) == {adopted: "created", deleted: "created"}
    rows = {x["uuid"]: x["status"] for x in real.svc.get("/v1/containers").json["containers"]}
    assert rows == {adopted: None, lost: None, deleted: None}
    # DELETE of a row without Docker id removes its Docker container all the same.
    assert real.svc.delete(f"/v1/containers/{deleted}").status_code == 204
    assert on_node(node, creds, cluster) == {adopted: "created"}

    real.svc.conductor.stop()
    real.svc = svc = real.start(conductor={"container_create_grace": 1.0})

    def listed() -> dict[str, tuple[str | None, str | None]]:
        items = svc.get("/v1/containers").json["containers"]
        return {x["uuid"]: (x["status"], x["status_reason"]) for x in items}

    interrupted = (
        "Error",
        "creation was interrupted (its conductor stopped) before Docker made the container "
        "on node-0",
    )
    _api.poll(listed, lambda s: s == {adopted: ("Stopped", None), lost: interrupted}, timeout=20)
    # The adopted container is like any other.
    act(svc, {"uuid": adopted}, "start")
    assert status(svc, {"uuid": adopted}) == ("Running", None)
    res = put(svc, f"/v1/containers/{adopted}/execute", params={"command": "hostname"})
    assert res.json == {"output": f"{adopted}\n", "truncated": False}
    for ghost in (adopted, lost):
        assert svc.delete(f"/v1/containers/{ghost}").status_code == 204
    assert on_node(node, creds, cluster) == {}
    real.delete_cluster(cluster["uuid"])
    real.assert_clean(before)
