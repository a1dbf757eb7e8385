# SPDX-License-Identifier: Apache-2.0
"""Tenant networks on the real host (local infrastructure + Swarm): two bays of two
projects on the same fixed_network 10.254.0.0/24 at once, each behind its own router,
reached from the host through floating IPs only, and isolated from each other, from a
bay routed from the host and from the host's own addresses, with real connection
attempts from inside the nodes and the routers' drop counters to show it.

Needs root and the docker.io binaries; skipped otherwise. The host is compared with a
snapshot taken before (namespaces, links, rules, routes, ...) once the bays are gone.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import pathlib
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from magnum.common import exceptions
from magnum.drivers import base
from magnum.drivers.coe.swarm.driver import SwarmDriver
from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import image, network
from magnum.drivers.infra.local.driver import LocalInfra
from tests.doubles import RecordingTask, cluster_template, cluster_view, node_specs
from tests.functional import test_real_kubernetes as k8s
from tests.functional.drivers.test_local_swarm import (  # noqa: F401 - fixtures
    conf,
    drivers,
    host_dirs,
    write_client_creds,
)
from tests.functional.hostcheck import (
    REALHOST,
    REFUSED,
    assert_clean,
    key_and_csr,
    poll,
    snapshot,
    tls_client,
    without_kept,
    write_creds,
)
from tests.functional.test_real_bays import MODEL as SWARM_MODEL
from tests.functional.test_real_bays import (  # noqa: F401 - fixtures
    Real,
    _cluster_template,
    db_url,
    real_factory,
)

pytestmark = REALHOST

FIXED = "10.254.0.0/24"
PROBE = pathlib.Path(__file__).with_name("_probe.py")
WEB_PORT = 8080
DROPPED = 0.5  # seconds a connection attempt waits for an answer that never comes


# --- helpers ---------------------------------------------------------------------
def _task(model: base.ClusterTemplateView, project: str, *, workers: int) -> RecordingTask:
    view = dataclasses.replace(cluster_view(model, masters=1, workers=workers), project_id=project)
    return RecordingTask(view, model)


def _serve(node: base.Node, creds: pathlib.Path, text: str) -> None:
    """A container on `node` publishing an HTTP page saying `text` on WEB_PORT."""
    client = tls_client(node.reachable_address, creds, creds)
    try:
        client.containers.run(
            image.TAG,
            ["sh", "-c", f"mkdir /w && echo {text} > /w/index.html && exec httpd -f -p 80 -h /w"],
            detach=True,
            ports={"80/tcp": WEB_PORT},
            name="web",
        )
    finally:
        client.close()


def _probe(where: list[str], targets: list[str]) -> dict[str, str]:
    """Connection attempts to `targets` made from `where` (a command prefix; [] for the
    host itself)."""
    out = subprocess.run(
        [*where, sys.executable, str(PROBE), str(DROPPED), *targets],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, str] = json.loads(out.stdout)
    return result


def _in_node(task: RecordingTask, node: base.Node) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{network.netns_name(task.cluster.uuid, node.name)}"]


def _plan(task: RecordingTask) -> network.Plan:
    plan = local_cluster.plan_of(task)
    assert plan is not None
    return plan


# --- the tests ---------------------------------------------------------------------
def test_two_projects_share_a_fixed_network_and_stay_apart(
    drivers: tuple[LocalInfra, SwarmDriver, list[RecordingTask]],  # noqa: F811 - the fixture
    conf: Any,  # noqa: F811 - the fixture
    host_dirs: tuple[pathlib.Path, pathlib.Path],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    infra, swarm, tasks = drivers
    before = snapshot(*host_dirs)
    model = cluster_template(fixed_network=FIXED, dns_nameserver="10.254.0.1")
    infra.validate(model, master_count=1, node_count=1)
    a, b = _task(model, "alpha", workers=1), _task(model, "beta", workers=1)
    routed = _task(cluster_template(), "alpha", workers=0)  # a bay the host routes
    tasks += [a, b, routed]

    bays: dict[str, tuple[list[base.Node], pathlib.Path]] = {}
    for name, task in (("a", a), ("b", b)):
        nodes = infra.create_nodes(task, node_specs(1, 1))
        ends = swarm.bootstrap(task, nodes)
        creds = write_client_creds(task, conf, tmp_path / name)
        bays[name] = (nodes, creds)
        # The same private addresses in both bays; the host sees floating IPs only.
        assert [n.address for n in nodes] == ["10.254.0.2", "10.254.0.3"]
        plan = _plan(task)
        assert [n.floating_ip for n in nodes] == [str(plan.external[2]), str(plan.external[3])]
        assert ends.api_address == f"tcp://{nodes[0].floating_ip}:2376"
        assert ends.node_addresses == (nodes[1].floating_ip,)
        assert swarm.health(task, nodes).healthy
        _serve(nodes[1], creds, f"bay-{name}")
    (routed_master,) = infra.create_nodes(routed, node_specs(1, 0))
    assert routed_master.floating_ip is None  # its own address is routed from the host
    pa, pb, pr = _plan(a), _plan(b), _plan(routed)
    assert len({pa.external, pb.external, pr.external}) == 3
    assert pa.subnet == pb.subnet == ipaddress.IPv4Network(FIXED)

    # From the host: each bay's floating IPs reach its own published port; the private
    # addresses are in no routing table of the host (nothing is sent there to check).
    (na, creds_a), (nb, creds_b) = bays["a"], bays["b"]
    web_a, web_b = f"{na[1].floating_ip}:{WEB_PORT}", f"{nb[1].floating_ip}:{WEB_PORT}"
    seen = _probe([], [web_a, web_b])
    assert seen == {web_a: "open:bay-a", web_b: "open:bay-b"}, seen
    host_routes = subprocess.run(
        ["ip", "-4", "route", "show"], capture_output=True, text=True, check=True
    ).stdout
    assert "10.254.0." not in host_routes, host_routes
    for plan in (pa, pb):
        assert f"{plan.external} via {plan.router_address}" in host_routes, host_routes

    # From inside bay a: its own nodes (by address and by floating IP) and its router's
    # services; nothing of bay b, of the routed bay, of the routers or of the host.
    drops = {t.cluster.uuid: network.drop_counts(t.cluster.uuid) for t in (a, b, routed)}
    own = [f"10.254.0.3:{WEB_PORT}", f"{na[1].floating_ip}:{WEB_PORT}", "10.254.0.3:2376"]
    foreign = [
        f"{nb[0].floating_ip}:2376",
        f"{nb[1].floating_ip}:{WEB_PORT}",
        f"{pb.router_address}:2376",
        f"{routed_master.address}:2376",
        f"{pr.gateway}:2376",
        f"{pa.host_address}:22",
        f"{pb.host_address}:22",
        f"{pa.gateway}:22",
    ]
    seen = _probe(_in_node(a, na[0]), own + foreign)
    assert seen[own[0]] == seen[own[1]] == "open:bay-a", seen
    assert seen[own[2]] == "open", seen
    assert all(seen[t] == "timeout" for t in foreign), seen
    after = {t.cluster.uuid: network.drop_counts(t.cluster.uuid) for t in (a, b, routed)}
    # Every one of those attempts was dropped by bay a's router (SYN and retransmits),
    # none reached another bay's router.
    assert after[a.cluster.uuid] - drops[a.cluster.uuid] >= len(foreign), (drops, after)
    assert after[b.cluster.uuid] == drops[b.cluster.uuid]
    assert after[routed.cluster.uuid] == drops[routed.cluster.uuid]

    # And from the routed bay's node: nothing of the two private bays.
    seen = _probe(
        _in_node(routed, routed_master),
        [f"{na[0].floating_ip}:2376", f"{pb.router_address}:2376", f"{pr.host_address}:22"],
    )
    assert set(seen.values()) == {"timeout"}, seen
    assert network.drop_counts(routed.cluster.uuid) > after[routed.cluster.uuid]

    # The routers never route anywhere but to their bay and the host's side of the link.
    for task in (a, b, routed):
        routes = subprocess.run(
            ["ip", "-n", network.router_name(task.cluster.uuid), "-4", "route"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "default" not in routes, routes

    # A certificate of bay a does not open bay b (same private addresses, other CA).
    client = tls_client(nb[0].reachable_address, creds_b, creds_a, timeout=3)
    try:
        with pytest.raises(Exception):  # noqa: B017 - TLS refusal types vary
            client.ping()
    finally:
        client.close()

    # Scale bay a and back: the new node gets the next floating IP and is reachable.
    grown = infra.create_nodes(a, node_specs(1, 2))
    new = [n for n in grown if n not in na]
    assert [n.floating_ip for n in new] == [str(pa.external[4])]
    swarm.add_workers(a, grown, new)
    assert swarm.health(a, grown).healthy
    swarm.remove_workers(a, grown, new)
    infra.delete_nodes(a, [n.name for n in new])

    for task in tasks:
        infra.delete_cluster(task)
    tasks.clear()
    assert_clean(
        before,
        lambda: without_kept(snapshot(*host_dirs), local_cluster.state_root(conf)),
        tags=[network.short_id(t.cluster.uuid) for t in (a, b, routed)],
        dirs=host_dirs,
    )


def test_fixed_network_is_validated(conf: Any) -> None:  # noqa: F811 - the fixture
    infra = LocalInfra(conf)
    host_net = next(iter(sorted(network.host_networks())), None)
    cases = [
        ("private", "is not a CIDR"),
        ("10.254.0.1/24", "is not a CIDR with its host bits zero"),
        ("fd00::/64", "is not IPv4"),
        ("10.0.0.0/8", "between a /16 and a /28"),
        ("10.254.0.0/29", "between a /16 and a /28"),
        ("127.0.0.0/16", "overlaps the loopback range"),
        ("169.254.0.0/24", "overlaps the link-local range"),
        (conf.local.external_pool.rsplit(".", 2)[0] + ".9.0/24", "overlaps the external"),
    ]
    if host_net is not None and 16 <= host_net.prefixlen <= 28:
        cases.append((str(host_net), "a network of the host itself"))
    for value, message in cases:
        with pytest.raises(exceptions.InvalidParameterValue, match=message) as info:
            infra.validate(cluster_template(fixed_network=value), master_count=1, node_count=1)
        assert info.value.status == 400
    for ok in ("10.254.0.0/24", "192.168.77.0/28", "172.20.0.0/16"):
        infra.validate(cluster_template(fixed_network=ok), master_count=1, node_count=1)


def test_load_balancer_in_front_of_three_masters_and_no_floating_ips(
    drivers: tuple[LocalInfra, SwarmDriver, list[RecordingTask]],  # noqa: F811 - the fixture
    conf: Any,  # noqa: F811 - the fixture
    host_dirs: tuple[pathlib.Path, pathlib.Path],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    infra, swarm, tasks = drivers
    before = snapshot(*host_dirs)
    model = cluster_template(
        fixed_network=FIXED,
        floating_ip_enabled=False,
        master_lb_enabled=True,
        registry_enabled=shutil.which("docker-registry") is not None,
    )
    lb = RecordingTask(
        dataclasses.replace(cluster_view(model, masters=3, workers=1), project_id="alpha"), model
    )
    # A template whose load balancer admits one CIDR only, which the host is not in.
    closed_model = cluster_template(
        fixed_network=FIXED,
        master_lb_enabled=True,
        labels={"master_lb_allowed_cidrs": "192.0.2.128/25"},
    )
    closed = RecordingTask(
        dataclasses.replace(cluster_view(closed_model, masters=2, workers=0), project_id="beta"),
        closed_model,
    )
    tasks += [lb, closed]

    nodes = infra.create_nodes(lb, node_specs(3, 1))
    masters = [n for n in nodes if n.role is base.Role.MASTER]
    swarm.bootstrap(lb, nodes)
    vip = infra.api_frontend(lb, masters)
    plan = _plan(lb)
    assert vip == f"{plan.router_address}:2376"
    creds = write_client_creds(lb, conf, tmp_path / "lb")
    ip, _ = vip.rsplit(":", 1)
    client = tls_client(ip, creds, creds, timeout=10)
    try:
        assert client.info()["Swarm"]["Managers"] == 3
    finally:
        client.close()

    # The bay's registry, in its router: the host and the nodes name it alike.
    if model.registry_enabled:
        registry = infra.registry_address(lb)
        assert registry == f"{plan.router_address}:{conf.local.registry_port}"
        pusher = tls_client(masters[1].reachable_address, creds, creds, timeout=60)
        try:
            pusher.images.get(image.TAG).tag(f"{registry}/demo", "1")
            out = pusher.images.push(f"{registry}/demo", tag="1")
            assert "error" not in out.lower(), out
        finally:
            pusher.close()
        assert _probe([], [registry]) == {registry: "open"}
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{registry}/v2/_catalog", timeout=5) as resp:
            assert json.loads(resp.read()) == {"repositories": ["demo"]}

    # No floating IPs: a published port is not reachable from the host, the engine is.
    worker = nodes[-1]
    _serve(worker, creds, "private")
    fip = worker.floating_ip
    seen = _probe([], [f"{fip}:{WEB_PORT}", f"{fip}:2376"])
    assert seen == {f"{fip}:{WEB_PORT}": "timeout", f"{fip}:2376": "open"}, seen
    seen = _probe(_in_node(lb, masters[1]), [f"{worker.address}:{WEB_PORT}", f"{vip}"])
    assert seen == {f"{worker.address}:{WEB_PORT}": "open:private", vip: "open"}, seen

    # master-0 goes: the load balancer keeps answering, from the managers left, which
    # elect a new leader between them.
    infra.delete_nodes(lb, ["master-0"])
    client = tls_client(ip, creds, creds, timeout=10)
    try:
        assert client.ping()  # at once: the front has left master-0 for master-1

        def listed() -> tuple[str, int] | None:
            try:
                return client.info()["Name"], len(client.nodes.list())
            except REFUSED:  # no leader yet
                return None

        name, count = poll("the swarm to answer through its front", listed, timeout=60)
        assert name.endswith("master-1") and count == 4, (name, count)
    finally:
        client.close()

    # The closed front: not from the host, but from the bay's own nodes.
    closed_nodes = infra.create_nodes(closed, node_specs(2, 0))
    closed_vip = infra.api_frontend(closed, closed_nodes)
    assert closed_vip == f"{_plan(closed).router_address}:2376"
    assert _probe([], [closed_vip]) == {closed_vip: "timeout"}
    assert _probe(_in_node(closed, closed_nodes[1]), [closed_vip]) == {closed_vip: "open"}

    for task in tasks:
        infra.delete_cluster(task)
    tasks.clear()
    assert_clean(
        before,
        lambda: without_kept(snapshot(*host_dirs), local_cluster.state_root(conf)),
        tags=[network.short_id(t.cluster.uuid) for t in (lb, closed)],
        dirs=host_dirs,
    )


def test_kubernetes_on_a_fixed_network(
    real_factory: Callable[..., Real],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    """A Kubernetes bay through the API on its template's fixed_network: the conductor,
    kubectl and the kubelets reach its API at the master's floating IP, and the nodes'
    resolv.conf names the template's dns_nameserver."""
    real = real_factory(coes=("kubernetes",))
    if not (pathlib.Path(real.svc.conf.kubernetes.bin_dir) / "kube-apiserver").exists():
        pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
    before = real.snapshot()
    # A service range asked for that holds the nodes' addresses is refused...
    clash: dict[str, Any] = {"name": "clash", "fixed_network": FIXED}
    clash["labels"] = {"service_cluster_ip_range": "10.254.0.0/16"}
    res = real.svc.post("/v1/baymodels", k8s.MODEL | clash)
    assert res.status_code == 400, res.text
    assert "service_cluster_ip_range 10.254.0.0/16 overlaps the fixed_network" in res.text
    # ...while Magnum's usual 10.254.0.0/24 without one moves the default range aside
    model = _cluster_template(real, **k8s.MODEL, fixed_network=FIXED, dns_nameserver="10.254.0.1")
    bay = real.create("kf", model, nodes=1)
    cluster = real.settled(bay["uuid"], timeout=k8s.CREATE_TIMEOUT)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    (master,) = cluster["master_addresses"]
    external = ipaddress.IPv4Network(real.svc.conf.local.external_pool)
    assert ipaddress.IPv4Address(master) in external, master
    assert cluster["api_address"] == f"https://{master}:6443"
    kubectl = k8s.Kubectl(real, cluster, tmp_path / "kube")
    assert kubectl.ready_nodes() == ["node-0"]
    internal = kubectl.json("get", "node", "node-0")["status"]["addresses"]
    assert {"type": "InternalIP", "address": "10.254.0.3"} in internal, internal
    service_ip = kubectl.json("get", "service", "kubernetes")["spec"]["clusterIP"]
    assert service_ip == "10.96.0.1", service_ip

    run_dir = pathlib.Path(real.svc.conf.local.run_dir) / network.short_id(bay["uuid"])
    holder = (run_dir / "node-0" / "holder.pid").read_text().strip()
    resolv = subprocess.run(
        ["nsenter", "-t", holder, "-m", "cat", "/etc/resolv.conf"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert resolv == "nameserver 10.254.0.1\n", resolv

    real.delete(bay["uuid"])
    real.assert_clean(before)


def _tenant_creds(real: Real, project: str, bay: str, where: pathlib.Path) -> pathlib.Path:
    """The bay's CA and a client certificate signed from our CSR, as `project` asks."""
    res = real.svc.get(f"/v1/certificates/{bay}", project=project)
    assert res.status_code == 200, res.text
    key, csr = key_and_csr(f"{project}-user")
    signed = real.svc.post("/v1/certificates", {"bay_uuid": bay, "csr": csr}, project=project)
    assert signed.status_code == 201, signed.text
    return write_creds(where, ca=res.json["pem"], cert=signed.json["pem"], key=key)


def test_two_projects_through_the_api_on_one_fixed_network(
    real_factory: Callable[..., Real],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    """Magnum's usual template (fixed_network 10.254.0.0/24) in two projects, two bays
    each, all four at once: every bay comes up on the same private addresses, reached at
    floating IPs of its own, runs containers, and is opened only by its own certificates
    (not the other project's, not its sibling's)."""
    real = real_factory()
    before = real.snapshot()
    svc = real.svc
    bays: dict[tuple[str, int], str] = {}
    for project in ("alpha", "beta"):
        fields = SWARM_MODEL | {"name": f"net-{project}", "fixed_network": FIXED}
        model = svc.post("/v1/baymodels", fields, project=project)
        assert model.status_code == 201, model.text
        for n in (1, 2):
            res = svc.post(
                "/v1/bays",
                {"name": f"{project}{n}", "baymodel_id": model.json["uuid"], "node_count": 1},
                project=project,
            )
            assert res.status_code == 201, res.text
            bays[project, n] = res.json["uuid"]
            real.clusters.append(res.json["uuid"])
    settled = {
        key: svc.wait_cluster(
            u,
            lambda b: b is None or not b["status"].endswith("IN_PROGRESS"),
            project=key[0],
            timeout=90,
        )
        for key, u in bays.items()
    }
    external = ipaddress.IPv4Network(svc.conf.local.external_pool)
    addresses: dict[tuple[str, int], list[str]] = {}
    for key, body in settled.items():
        assert body is not None and body["status"] == "CREATE_COMPLETE", body
        addresses[key] = [*body["master_addresses"], *body["node_addresses"]]
        assert all(ipaddress.IPv4Address(a) in external for a in addresses[key]), body
        assert body["api_address"] == f"tcp://{body['master_addresses'][0]}:2376"
    every = [a for where in addresses.values() for a in where]
    assert len(set(every)) == len(every) == 8, addresses
    # Neither project sees the other's bays.
    for n in (1, 2):
        assert svc.get(f"/v1/bays/{bays['alpha', n]}", project="beta").status_code == 404
        assert svc.get(f"/v1/bays/{bays['beta', n]}", project="alpha").status_code == 404

    creds = {
        key: _tenant_creds(real, key[0], u, tmp_path / f"{key[0]}{key[1]}")
        for key, u in bays.items()
    }
    for key, where in addresses.items():
        project, n = key
        for address in where:
            client = tls_client(address, creds[key], creds[key])
            try:
                out = client.containers.run(
                    image.TAG, ["echo", f"{project}{n}"], remove=True, network_mode="none"
                )
                assert out == f"{project}{n}\n".encode()
                # the bay's own node, on the same private addresses as the other bays'
                info = client.info()
                assert info["Name"].startswith(f"bay-{network.short_id(bays[key])}-")
                assert info["Swarm"]["NodeAddr"] in ("10.254.0.2", "10.254.0.3"), info["Swarm"]
            finally:
                client.close()
        other = "beta" if project == "alpha" else "alpha"
        for stranger in ((other, n), (project, 3 - n)):  # the other project's, the sibling's
            client = tls_client(where[0], creds[key], creds[stranger], timeout=3)
            try:
                with pytest.raises(REFUSED):
                    client.ping()
            finally:
                client.close()

    for (project, _n), bay in bays.items():
        assert svc.delete(f"/v1/bays/{bay}", project=project).status_code == 204
    for (project, _n), bay in bays.items():
        svc.wait_cluster(bay, lambda b: b is None, project=project, timeout=60)
    real.assert_clean(before)


def test_kubernetes_masters_behind_the_routers_front_on_a_fixed_network(
    real_factory: Callable[..., Real],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    """Three Kubernetes masters on a fixed_network: the API address (the kubelets' and
    kubectl's) is the front in the bay's router, at the router's external address."""
    real = real_factory(coes=("kubernetes",))
    if not (pathlib.Path(real.svc.conf.kubernetes.bin_dir) / "kube-apiserver").exists():
        pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
    before = real.snapshot()
    model = _cluster_template(real, **k8s.MODEL, fixed_network="192.168.51.0/24")
    bay = real.create("kf3", model, nodes=1, masters=3)
    cluster = real.settled(bay["uuid"], timeout=k8s.CREATE_TIMEOUT)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    front = cluster["api_address"].removeprefix("https://").rsplit(":", 1)[0]
    external = ipaddress.IPv4Network(real.svc.conf.local.external_pool)
    assert ipaddress.IPv4Address(front) in external and front.endswith(".1"), cluster
    assert front not in cluster["master_addresses"]
    kubectl = k8s.Kubectl(real, cluster, tmp_path / "kube")
    assert kubectl.ready_nodes() == ["node-0"]  # its kubelet found the API through the front
    real.delete(bay["uuid"])
    real.assert_clean(before)
