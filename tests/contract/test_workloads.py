# SPDX-License-Identifier: Apache-2.0
"""The contract of drivers.capabilities.WorkloadInterface, over every COE driver entry point
that offers workloads (test doubles and real drivers alike; the others are skipped), on a
1+1 cluster of the infrastructure driver shipped beside it (see sites.py): what each call
returns, and the errors the API relies on."""

from __future__ import annotations

import functools
import pathlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from magnum.common import exceptions
from magnum.drivers import base, capabilities
from tests import doubles
from tests.contract import sites

Kind = capabilities.WorkloadKind
IMAGE = "busybox"  # every node has it (the local busybox; the fake says so too)
GONE_WITHIN = 90.0  # seconds a deleted pod may take to go (its grace period)


def _pod(name: str, image: str = IMAGE, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "contract", **labels}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                }
            ],
            "terminationGracePeriodSeconds": 0,
        },
    }


SERVICE = {
    "metadata": {"name": "contract-svc"},
    "spec": {"selector": {"app": "contract"}, "ports": [{"port": 80, "targetPort": 8080}]},
}
RC = {
    "metadata": {"name": "contract-rc"},
    "spec": {
        "replicas": 1,
        "selector": {"app": "contract-rc"},
        "template": {
            "metadata": {"labels": {"app": "contract-rc"}},
            "spec": _pod("unused")["spec"],
        },
    },
}


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    pause = threading.Event()
    while not check():
        assert time.monotonic() < deadline, what
        pause.wait(0.2)


def _gone(
    workloads: capabilities.WorkloadInterface, task: base.ClusterTask, kind: Kind, name: str
) -> bool:
    try:
        workloads.show(task, kind, name)
    except exceptions.WorkloadNotFound:
        return True
    return False


@pytest.mark.parametrize("pair", sites.pairs())
def test_workloads_round_trip(
    pair: tuple[sites.Entry, sites.Entry | None], tmp_path: pathlib.Path
) -> None:
    coe_entry, infra = pair
    probe = sites.load_coe(
        sites.make_conf(tmp_path / "probe-state", tmp_path / "probe-run"), coe_entry
    )
    offered = probe.workloads is not None
    probe.close()
    if not offered:
        pytest.skip(f"{coe_entry.name} offers no workloads")
    with sites.site(infra, tmp_path) as site:
        coe = sites.load_coe(site.conf, coe_entry)
        workloads = coe.workloads
        assert workloads is not None
        task = site.new_task()
        nodes = site.infra.create_nodes(task, doubles.node_specs(1, 1, coe.node_profile))
        coe.bootstrap(task, nodes)
        try:
            _round_trip(workloads, task)
        finally:
            coe.close()


def _round_trip(workloads: capabilities.WorkloadInterface, task: base.ClusterTask) -> None:
    made = workloads.create(task, Kind.POD, _pod("contract-pod"))
    assert (made.kind, made.name, made.namespace) == (
        Kind.POD,
        "contract-pod",
        capabilities.NAMESPACE,
    )
    assert made.uid and made.manifest["metadata"]["uid"] == made.uid
    assert made.manifest["spec"]["containers"][0]["image"] == IMAGE
    assert [w.uid for w in workloads.list(task, Kind.POD) if w.name == "contract-pod"] == [made.uid]
    assert workloads.show(task, Kind.POD, "contract-pod").uid == made.uid

    with pytest.raises(exceptions.WorkloadConflict):
        workloads.create(task, Kind.POD, _pod("contract-pod"))
    with pytest.raises(exceptions.InvalidParameterValue):
        workloads.create(task, Kind.POD, _pod("Not_A_Name"))
    with pytest.raises(exceptions.ImageNotAvailable):
        workloads.create(task, Kind.POD, _pod("contract-missing", image="nope/missing:1"))
    with pytest.raises(exceptions.WorkloadNotFound):
        workloads.show(task, Kind.POD, "contract-nothing")

    replaced = workloads.replace(task, Kind.POD, "contract-pod", _pod("contract-pod", tier="a"))
    assert replaced.uid == made.uid and replaced.manifest["metadata"]["labels"]["tier"] == "a"
    with pytest.raises(exceptions.InvalidParameterValue):
        workloads.replace(task, Kind.POD, "contract-pod", _pod("contract-other"))
    with pytest.raises(exceptions.WorkloadNotFound):
        workloads.replace(task, Kind.POD, "contract-nothing", _pod("contract-nothing"))

    service = workloads.create(task, Kind.SERVICE, SERVICE)
    assert service.uid and service.manifest["spec"]["ports"][0]["port"] == 80
    assert [w.name for w in workloads.list(task, Kind.SERVICE) if w.uid == service.uid] == [
        "contract-svc"
    ]
    rc = workloads.create(task, Kind.REPLICATION_CONTROLLER, RC)
    assert rc.uid and workloads.show(task, Kind.REPLICATION_CONTROLLER, "contract-rc").uid == rc.uid

    for kind, name in (
        (Kind.POD, "contract-pod"),
        (Kind.SERVICE, "contract-svc"),
        (Kind.REPLICATION_CONTROLLER, "contract-rc"),
    ):
        workloads.delete(task, kind, name)
        _until(functools.partial(_gone, workloads, task, kind, name), f"{kind} {name} stays")
        with pytest.raises(exceptions.WorkloadNotFound):  # deleting what is gone
            workloads.delete(task, kind, name)
