# SPDX-License-Identifier: Apache-2.0
"""Multi-master bays get one stable API address: a forwarder on the bay's gateway in front
of every manager (magnum.drivers.infra.local.frontend), which keeps answering when
master-0 dies. Real bays through the API, SQLite only, like test_real_bays.py."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pathlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from magnum.db import migration
from magnum.drivers.infra.local import forwarder, network
from tests.functional.conftest import Service
from tests.functional.hostcheck import REALHOST, REFUSED, poll, skip_unless_possible, tls_client
from tests.functional.test_real_bays import Real, _cluster_template, _force_cleanup, _make_real

pytestmark = REALHOST


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only, overriding the three-database parametrisation of tests/conftest.py."""
    url = f"sqlite:///{tmp_path_factory.mktemp('realdb') / 'magnum.sqlite'}"
    migration.upgrade(url)
    return url


@pytest.fixture
def real(service_factory: Callable[..., Service], tmp_path: pathlib.Path) -> Iterator[Real]:
    skip_unless_possible()
    made = _make_real(service_factory, tmp_path)
    yield made
    _force_cleanup(made)


def _forwarders(tag: str) -> list[str]:
    """Command lines of API forwarder processes listening on the bay's gateway `tag`."""
    out = subprocess.run(
        ["ps", "-ww", "-eo", "args="], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if forwarder.__name__ in line and tag in line]


def _input_rules(short: str) -> list[str]:
    out = subprocess.run(
        ["iptables", "-w", "-S", "INPUT"], capture_output=True, text=True, check=False
    ).stdout
    return [line for line in out.splitlines() if short in line]


def _answers(address: str, creds: pathlib.Path, call: Callable[[Any], Any]) -> Any:
    """call(client) through a fresh TLS client, or None when it fails."""
    client = tls_client(address, creds, creds, timeout=30)
    try:
        return call(client)
    except REFUSED as exc:
        print(f"{address}: {exc!r}")
        return None
    finally:
        client.close()


def test_three_masters_behind_one_address_survive_master_0(
    real: Real, tmp_path: pathlib.Path
) -> None:
    before = real.snapshot()
    model = _cluster_template(real)
    cluster = real.settled(real.create("mm", model, nodes=1, masters=3)["uuid"])
    assert cluster["status"] == "CREATE_COMPLETE", cluster
    masters, workers = cluster["master_addresses"], cluster["node_addresses"]
    assert len(masters) == 3 and len(workers) == 1
    net = ipaddress.IPv4Network(f"{masters[0]}/24", strict=False)
    gateway = str(network.gateway(net))
    assert cluster["api_address"] == f"tcp://{gateway}:2376"

    short = network.short_id(cluster["uuid"])
    pidfile = real.run / short / "api-forwarder.pid"
    pid = int(pidfile.read_text())
    (cmd,) = _forwarders(f"{gateway}:2376")
    assert all(f"--backend {m}:2376" in cmd for m in masters), cmd
    assert len(_input_rules(short)) == 1, _input_rules(short)

    # Through the front, with a certificate the API signed: TLS is verified end to end
    # (the masters' certificates name the gateway address).
    creds = real.credentials(cluster["uuid"], tmp_path / "creds")
    nodes = _answers(gateway, creds, lambda c: c.nodes.list())
    assert nodes is not None and len(nodes) == 4
    assert {n.attrs["Status"]["State"] for n in nodes} == {"ready"}

    # A scale-up keeps the address and the forwarder (same backends: not restarted).
    res = real.svc.patch(
        f"/v1/bays/{cluster['uuid']}", [{"op": "replace", "path": "/node_count", "value": 2}]
    )
    assert res.status_code == 200, res.text
    grown = real.settled(cluster["uuid"])
    assert grown["status"] == "UPDATE_COMPLETE", grown
    assert grown["api_address"] == cluster["api_address"]
    assert int(pidfile.read_text()) == pid

    # master-0's dockerd dies: the same address answers through another manager, and
    # the two remaining managers keep the swarm's quorum.
    dockerd_pid = int((real.run / short / "master-0" / "dockerd.pid").read_text())
    os.kill(dockerd_pid, signal.SIGKILL)
    poll(
        "master-0 refusing",
        lambda: _answers(masters[0], creds, lambda c: c.ping()) is None,
        timeout=10,
    )
    # `version` needs no swarm leader; `info` and `node ls` wait for the two remaining
    # managers to elect one (swarmkit's election timeout is about 10 s).
    version = poll(
        "version through the front",
        lambda: _answers(gateway, creds, lambda c: c.version()),
        timeout=5,
    )
    assert version["ApiVersion"]
    info = poll(
        "info through the front", lambda: _answers(gateway, creds, lambda c: c.info()), timeout=60
    )
    assert info["Swarm"]["NodeAddr"] in masters[1:], info["Swarm"]
    listed = poll(
        "node ls through the front",
        lambda: _answers(gateway, creds, lambda c: c.nodes.list()),
        timeout=60,
    )
    assert len(listed) == 5

    real.delete(cluster["uuid"])
    assert not pidfile.exists()
    assert _forwarders(f"{gateway}:2376") == []
    assert _input_rules(short) == []
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 0)
        pytest.fail(f"forwarder {pid} still runs")
    real.assert_clean(before)
