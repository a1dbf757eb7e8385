# SPDX-License-Identifier: Apache-2.0
"""The local infrastructure and Swarm drivers against the real thing: network
namespaces, cgroups, one dockerd per node, a swarm, TLS with a per-bay CA.

Needs root and the docker.io binaries; skipped otherwise. Every test snapshots the
host before and checks after deletion that nothing it made is left behind.
"""

from __future__ import annotations

import pathlib
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from magnum import conf as magnum_conf
from magnum.common import pki
from magnum.conf import local as local_conf
from magnum.drivers import base
from magnum.drivers.coe.swarm.driver import SwarmDriver
from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import image, network
from magnum.drivers.infra.local.driver import LocalInfra
from tests.doubles import RecordingTask, cluster_template, new_task, node_specs
from tests.functional.hostcheck import (
    REALHOST,
    REFUSED,
    assert_clean,
    skip_unless_possible,
    snapshot,
    tls_client,
    without_kept,
)

pytestmark = REALHOST


# --- fixtures --------------------------------------------------------------------
@pytest.fixture
def host_dirs() -> Iterator[tuple[pathlib.Path, pathlib.Path]]:
    skip_unless_possible()
    tag = uuid.uuid4().hex[:8]
    # Short paths: containerd's socket lives under the run dir (108-byte limit).
    state, run = pathlib.Path(f"/tmp/mgn-{tag}"), pathlib.Path(f"/run/mgn-{tag}")
    yield state, run
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
def conf(host_dirs: tuple[pathlib.Path, pathlib.Path]) -> Any:
    state, run = host_dirs
    c = magnum_conf.new(messaging=False)
    if "local" not in c:
        c.register_opts(local_conf.OPTS, group=local_conf.GROUP)
    c([], default_config_files=[])
    c.set_override("state_path", str(state))
    c.set_override("run_dir", str(run), group="local")
    return c


@pytest.fixture
def drivers(conf: Any) -> Iterator[tuple[LocalInfra, SwarmDriver, list[RecordingTask]]]:
    """The two drivers plus a list of tasks whose bays are deleted whatever happens."""
    tasks: list[RecordingTask] = []
    infra = LocalInfra(conf)
    swarm = SwarmDriver(conf)
    yield infra, swarm, tasks
    swarm.close()  # its cached engine clients
    for task in tasks:
        infra.delete_cluster(task)


# --- helpers ---------------------------------------------------------------------
def write_client_creds(task: RecordingTask, conf: Any, path: pathlib.Path) -> pathlib.Path:
    creds = pki.ClusterCredentials.from_state(task.state[pki.STATE_KEY])
    path.mkdir(parents=True, exist_ok=True)
    (path / "ca.pem").write_bytes(creds.ca_cert)
    (path / "cert.pem").write_bytes(creds.client_cert)
    (path / "key.pem").write_bytes(pki.decrypt_key(creds.client_key, pki.key_secret(conf)))
    return path


def run_everywhere(nodes: list[base.Node], creds: pathlib.Path) -> None:
    for n in nodes:
        client = tls_client(n.address, creds, creds)
        try:
            out = client.containers.run(
                image.TAG,
                ["sh", "-c", "echo hello from $(hostname)"],
                remove=True,
                network_mode="none",
            )
            assert out.startswith(b"hello from"), out
            assert client.info()["Name"].endswith(n.name)
        finally:
            client.close()


def swarm_nodes(address: str, creds: pathlib.Path) -> dict[str, str]:
    client = tls_client(address, creds, creds)
    try:
        return {n.attrs["Status"]["Addr"]: n.attrs["Status"]["State"] for n in client.nodes.list()}
    finally:
        client.close()


# --- the test ----------------------------------------------------------------------
def test_bay_lifecycle_leaves_host_clean(
    drivers: tuple[LocalInfra, SwarmDriver, list[RecordingTask]],
    conf: Any,
    host_dirs: tuple[pathlib.Path, pathlib.Path],
    tmp_path: pathlib.Path,
) -> None:
    infra, swarm, tasks = drivers
    before = snapshot(*host_dirs)
    model = cluster_template(labels={"env": "test"})
    task = new_task(model, masters=1, workers=2)
    tasks.append(task)
    infra.validate(model, master_count=1, node_count=2)
    swarm.validate(model, master_count=1, node_count=2)

    started = time.monotonic()
    nodes = infra.create_nodes(task, node_specs(1, 2))
    endpoints = swarm.bootstrap(task, nodes)
    create_s = time.monotonic() - started
    print(f"\ncreate 1+2: {create_s:.2f}s")

    master = nodes[0]
    assert endpoints.api_address == f"tcp://{master.address}:2376"
    assert endpoints.master_addresses == (master.address,)
    assert len(endpoints.node_addresses) == 2
    assert "3/3 nodes joined" in task.messages
    assert swarm.health(task, nodes).healthy

    creds = write_client_creds(task, conf, tmp_path / "bay1")
    run_everywhere(nodes, creds)

    # Another bay's client certificate and no certificate at all are both refused.
    other = new_task(model, masters=1, workers=0)
    tasks.append(other)
    other_nodes = infra.create_nodes(other, node_specs(1, 0))
    assert other.state["local"]["subnet"] != task.state["local"]["subnet"]
    other_creds = write_client_creds(other, conf, tmp_path / "bay2")
    for cert in (other_creds, None):
        client = tls_client(master.address, creds, cert)
        with pytest.raises(REFUSED):
            client.ping()
        client.close()
    infra.delete_cluster(other)
    assert infra.list_nodes(other) == []
    del other_nodes

    # Running everything again changes nothing (a conductor taking over).
    assert infra.create_nodes(task, node_specs(1, 2)) == nodes
    assert swarm.bootstrap(task, nodes) == endpoints

    # Scale to 1+4 ...
    all_nodes = infra.create_nodes(task, node_specs(1, 4))
    new = [n for n in all_nodes if n not in nodes]
    assert len(new) == 2
    grown = swarm.add_workers(task, all_nodes, new)
    assert len(grown.node_addresses) == 4
    states = swarm_nodes(master.address, creds)
    assert all(states.get(n.address) == "ready" for n in all_nodes), states
    run_everywhere(new, creds)

    # ... and back to 1+2.
    swarm.remove_workers(task, all_nodes, new)
    infra.delete_nodes(task, [n.name for n in new])
    assert infra.list_nodes(task) == nodes
    assert set(swarm_nodes(master.address, creds)) == {n.address for n in nodes}
    assert swarm.health(task, nodes).healthy

    started = time.monotonic()
    infra.delete_cluster(task)
    print(f"delete 1+2: {time.monotonic() - started:.2f}s")
    tasks.clear()
    assert "local" not in task.state
    # The base-image cache and the key secret are kept per host on purpose.
    assert_clean(
        before,
        lambda: without_kept(snapshot(*host_dirs), local_cluster.state_root(conf)),
        tags=[network.short_id(t.cluster.uuid) for t in (task, other)],
        dirs=host_dirs,
    )


def test_validate_refuses_what_it_cannot_honour(conf: Any) -> None:
    conf.set_override("registry", "no-such-registry-binary", group="local")
    infra = LocalInfra(conf)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"flavor_id": "m1.huge"}, "Flavor m1.huge not found"),
        ({"image_id": "ubuntu"}, "Image ubuntu not found"),
        ({"external_network_id": "private"}, "Network private not found"),
        ({"fixed_network": "private"}, "fixed_network 'private' is not a CIDR"),
        ({"fixed_network": "10.0.0.0/12"}, "must be between a /16 and a /28"),
        ({"fixed_network": "127.1.0.0/24"}, "overlaps the loopback range"),
        ({"fixed_network": "10.249.7.0/24"}, "overlaps the external network's pool"),
        ({"registry_enabled": True}, "registry_enabled needs no-such-registry-binary"),
        ({"dns_nameserver": "dns.example"}, "is not an IP address"),
    ]
    for overrides, message in cases:
        with pytest.raises(Exception, match=message) as info:
            infra.validate(cluster_template(**overrides), master_count=1, node_count=1)
        assert getattr(info.value, "status", None) == 400
    with pytest.raises(Exception, match="at most 50 nodes") as info:
        infra.validate(cluster_template(), master_count=1, node_count=50)
    assert getattr(info.value, "status", None) == 400
