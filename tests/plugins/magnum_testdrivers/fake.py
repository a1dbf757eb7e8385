# SPDX-License-Identifier: Apache-2.0
"""Test doubles for the driver contracts. Never shipped: installed only by the test set-up.

FakeInfra "builds" a node by creating a file under <state_path>/fake/<bay>/, so tests
can see exactly what exists and that failures and deletes leave nothing behind.
Behaviour is steered by baymodel labels:

  fake_fail=<step>     raise BayOperationFailed at create_nodes / bootstrap / delete_bay
  fake_max_nodes=<n>   create_nodes refuses to make a bay of more than n nodes
  fake_gate=<path>     before forming the cluster, wait until <path> exists (bounded)
  fake_entered=<path>  touch <path> when the gate is reached (lets a test know it is there)
"""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Sequence

from magnum.common import exceptions
from magnum.drivers import base

GATE_TIMEOUT = 60.0


def _fail_if(task: base.BayTask, step: str) -> None:
    if task.baymodel.labels.get("fake_fail") == step:
        raise exceptions.BayOperationFailed(reason=f"fake {step} failed as asked")


class FakeInfra(base.InfraDriver):
    name = "fake"

    def _dir(self, task: base.BayTask) -> pathlib.Path:
        return pathlib.Path(self.conf.state_path) / "fake" / task.bay.uuid

    def validate(self, baymodel: base.BayModelView, *, master_count: int, node_count: int) -> None:
        if baymodel.flavor_id == "too-big":
            raise exceptions.InvalidParameterValue(err="Flavor too-big does not fit this host.")

    def create_nodes(self, task: base.BayTask, specs: Sequence[base.NodeSpec]) -> list[base.Node]:
        _fail_if(task, "create_nodes")
        limit = int(task.baymodel.labels.get("fake_max_nodes", "1000"))
        if len(specs) > limit:
            raise exceptions.BayOperationFailed(reason=f"fake host holds {limit} nodes at most")
        root = self._dir(task)
        root.mkdir(parents=True, exist_ok=True)
        for i, spec in enumerate(specs):
            path = root / spec.name
            if not path.exists():
                path.write_text(f"{spec.role}\n10.0.{i // 250}.{i % 250 + 2}\n")
            task.progress(f"{i + 1}/{len(specs)} nodes created")
        return self.list_nodes(task)

    def delete_nodes(self, task: base.BayTask, names: Sequence[str]) -> None:
        for name in names:
            (self._dir(task) / name).unlink(missing_ok=True)

    def delete_bay(self, task: base.BayTask) -> None:
        _fail_if(task, "delete_bay")
        root = self._dir(task)
        if root.exists():
            for path in root.iterdir():
                path.unlink()
            root.rmdir()

    def list_nodes(self, task: base.BayTask) -> list[base.Node]:
        root = self._dir(task)
        if not root.exists():
            return []
        nodes = []
        for path in sorted(root.iterdir()):
            role, address = path.read_text().split()
            nodes.append(base.Node(name=path.name, role=base.Role(role), address=address))
        return nodes


class FakeCoe(base.CoeDriver):
    coe = "swarm"

    def bootstrap(self, task: base.BayTask, nodes: Sequence[base.Node]) -> base.Endpoints:
        labels = task.baymodel.labels
        if "fake_entered" in labels:
            pathlib.Path(labels["fake_entered"]).touch()
        if "fake_gate" in labels:
            _wait_for(pathlib.Path(labels["fake_gate"]), task)
        _fail_if(task, "bootstrap")
        task.state["bootstrapped"] = True
        task.checkpoint()
        return self._endpoints(nodes)

    def add_workers(
        self, task: base.BayTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        return self._endpoints(nodes)

    def remove_workers(
        self, task: base.BayTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        del task, nodes, gone

    def health(self, task: base.BayTask, nodes: Sequence[base.Node]) -> base.Health:
        return base.Health(healthy=bool(nodes), reason=f"{len(nodes)} nodes")

    @staticmethod
    def _endpoints(nodes: Sequence[base.Node]) -> base.Endpoints:
        masters = tuple(n.address for n in nodes if n.role is base.Role.MASTER)
        workers = tuple(n.address for n in nodes if n.role is base.Role.WORKER)
        return base.Endpoints(
            api_address=f"tcp://{masters[0]}:2376", master_addresses=masters, node_addresses=workers
        )


def _wait_for(path: pathlib.Path, task: base.BayTask) -> None:
    """Wait for the gate file, reporting progress (which renews nothing but checks ownership)."""
    stop = threading.Event()
    waited = 0.0
    while not path.exists():
        if waited >= GATE_TIMEOUT:
            raise exceptions.BayOperationFailed(reason="fake gate never opened")
        task.progress("waiting at the fake gate")
        stop.wait(0.05)
        waited += 0.05
