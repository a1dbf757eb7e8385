# SPDX-License-Identifier: Apache-2.0
"""Test doubles for the driver contracts. Never shipped: installed only by the test set-up.

FakeInfra "builds" a node by creating a file under <state_path>/fake/<bay>/, so tests
can see exactly what exists and that failures and deletes leave nothing behind.
Behaviour is steered by baymodel labels:

  fake_fail=<step>     raise NodeStartFailed at create_nodes, ClusterOperationFailed at
                       bootstrap / delete_bay
  fake_retry=<n>       bootstrap raises RetryLater the first n times
  fake_max_nodes=<n>   create_nodes refuses to make a bay of more than n nodes
  fake_gate=<path>     before forming the cluster, wait until <path> exists (bounded)
  fake_entered=<path>  touch <path> when the gate is reached (lets a test know it is there)
  fake_update_gate=<path>  before an update joins or drains nodes, wait until <path> exists
                       (bounded): the update stays UPDATE_IN_PROGRESS until then
  fake_node_memory=<MB> memory of every node, for container placement (default 1024)
  fake_upgrade_fail=<node>  (target template of an upgrade) building that replacement
                       node fails
  fake_upgrade_gate=<path>, fake_upgrade_gate_node=<node>, fake_upgrade_entered=<path>
                       (target template) before building that replacement node, touch
                       <entered>, then wait until <path> exists (bounded)
  fake_upgrade=unsupported  (target template) FakeInfra.check_upgrade refuses it
  fake_no_rotation=1   the infrastructure cannot rotate TLS material (CA, credentials)
  fake_rotation_gate=<path>, fake_rotation_entered=<path>  as fake_gate and fake_entered,
                       when a CA rotation reissues node certificates
  fake_fail=set_node_trust / reissue  fail those rotation steps

The nodes' TLS material (what each trusts, which CA issued its certificate) is recorded
in the driver state under FAKE_TLS.

FakeCoe offers containers (FakeContainers, its `containers`), kept in memory with Docker's
state rules (pause needs a running container, ...), and no image loading. Its nodes have
the images in FAKE_IMAGES; a test makes a node stop answering by adding (bay uuid, node
name) to `FakeContainers.down`, and a container exit with `exit_all`. FakeBareCoe, for
coe "kubernetes", offers no capability at all. FakeKubernetes, for coe "kubernetes" too
(enable one of the two), offers workloads (FakeWorkloads, in fake_k8s.py): pods,
services and replication controllers in memory, with Kubernetes' rules and words.

Exec understands `echo ...`, `env`, `sleep <s>` (really waits, until the exec's time limit
kills it: ContainerTimedOut; `running` counts the sleeps under way, `killed` the ones
killed) and `print <n>` (n bytes of "x", cut to the output limit); anything else answers
"ran <argv>". A container's log is its runs plus what a test `write_log`s.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import pathlib
import shlex
import threading
from collections.abc import Sequence

from oslo_config import cfg

from magnum.common import exceptions
from magnum.drivers import base, capabilities
from magnum.objects import fields

from . import fake_k8s

GATE_TIMEOUT = 60.0
FAKE_TLS = "fake_tls"  # driver state: {"trust": {node: PEM}, "issuer": {node: CA PEM}}
Action = capabilities.ContainerAction
FAKE_IMAGES = frozenset({"local/busybox:latest", "busybox", "nginx", "nginx:latest"})


def _fail_if(task: base.ClusterTask, step: str) -> None:
    if task.cluster_template.labels.get("fake_fail") == step:
        failure = (
            exceptions.NodeStartFailed
            if step == "create_nodes"
            else exceptions.ClusterOperationFailed
        )
        raise failure(reason=f"fake {step} failed as asked")


class FakeInfra(base.InfraDriver):
    name = "fake"

    def _dir(self, task: base.ClusterTask) -> pathlib.Path:
        return pathlib.Path(self.conf.state_path) / "fake" / task.cluster.uuid

    def validate(
        self,
        cluster_template: base.ClusterTemplateView,
        *,
        master_count: int,
        node_count: int,
        existing: int = 0,
    ) -> None:
        del existing
        if cluster_template.flavor_id == "too-big":
            raise exceptions.InvalidParameterValue(err="Flavor too-big does not fit this host.")
        if master_count + node_count > 1000:  # what create_nodes holds without fake_max_nodes
            raise exceptions.InvalidParameterValue(err="The fake host holds 1000 nodes at most.")

    def capacity(self) -> int | None:
        return int(os.environ.get("MAGNUM_FAKE_CAPACITY", "100000"))

    def create_nodes(
        self, task: base.ClusterTask, specs: Sequence[base.NodeSpec]
    ) -> list[base.Node]:
        _fail_if(task, "create_nodes")
        limit = int(task.cluster_template.labels.get("fake_max_nodes", "1000"))
        if len(specs) > limit:
            raise exceptions.ClusterOperationFailed(reason=f"fake host holds {limit} nodes at most")
        root = self._dir(task)
        root.mkdir(parents=True, exist_ok=True)
        taken = {n.address for n in self.list_nodes(task)}  # a new node gets a free address
        free = (a for i in range(62500) if (a := f"10.0.{i // 250}.{i % 250 + 2}") not in taken)
        for i, spec in enumerate(specs):
            path = root / spec.name
            if not path.exists():
                # the template and image it was built from: node_template() reads them
                template = task.cluster_template.uuid
                image = spec.image or task.cluster_template.image_id or "-"
                path.write_text(
                    f"{spec.role}\n{next(free)}\n{spec.nodegroup}\n{template}\n{image}\n"
                )
            task.progress(f"{i + 1}/{len(specs)} nodes created")
        return self.list_nodes(task)

    def check_upgrade(
        self, current: base.ClusterTemplateView, target: base.ClusterTemplateView
    ) -> None:
        del current
        if target.labels.get("fake_upgrade") == "unsupported":
            raise exceptions.NotSupported(operation="Upgrading to this fake template")

    def create_nodes_from(
        self,
        task: base.ClusterTask,
        specs: Sequence[base.NodeSpec],
        template: base.ClusterTemplateView,
    ) -> list[base.Node]:
        labels = template.labels
        for spec in specs:
            if (self._dir(task) / spec.name).exists():
                continue
            if labels.get("fake_upgrade_fail") == spec.name:
                raise exceptions.NodeStartFailed(reason=f"fake node {spec.name} did not start")
            if labels.get("fake_upgrade_gate_node") == spec.name and "fake_upgrade_gate" in labels:
                if "fake_upgrade_entered" in labels:
                    pathlib.Path(labels["fake_upgrade_entered"]).touch()
                _wait_for(pathlib.Path(labels["fake_upgrade_gate"]), task)
        return self.create_nodes(base.WithTemplate(task, template), specs)

    def node_template(self, task: base.ClusterTask, name: str) -> tuple[str, str]:
        """(template uuid, image) the node was built from."""
        parts = (self._dir(task) / name).read_text().split()
        return parts[3], parts[4]

    def delete_nodes(self, task: base.ClusterTask, names: Sequence[str]) -> None:
        for name in names:
            (self._dir(task) / name).unlink(missing_ok=True)

    def delete_cluster(self, task: base.ClusterTask) -> None:
        _fail_if(task, "delete_bay")
        root = self._dir(task)
        if root.exists():
            for path in root.iterdir():
                path.unlink()
            root.rmdir()

    def node_memory_mb(self, task: base.ClusterTask, node: base.Node) -> int | None:
        return int(task.cluster_template.labels.get("fake_node_memory", "1024"))

    def list_nodes(self, task: base.ClusterTask) -> list[base.Node]:
        root = self._dir(task)
        if not root.exists():
            return []
        nodes = []
        for path in sorted(root.iterdir()):
            role, address, nodegroup, *_ = path.read_text().split()
            nodes.append(
                base.Node(
                    name=path.name, role=base.Role(role), address=address, nodegroup=nodegroup
                )
            )
        return nodes

    # --- TLS rotation: the nodes' TLS material is kept in the driver state ("fake_tls")
    def supports_tls_rotation(self, cluster_template: base.ClusterTemplateView) -> bool:
        return cluster_template.labels.get("fake_no_rotation") is None

    def set_node_trust(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], trust: bytes
    ) -> None:
        _fail_if(task, "set_node_trust")
        tls = task.state.setdefault(FAKE_TLS, {"trust": {}, "issuer": {}})
        for node in nodes:
            tls["trust"][node.name] = trust.decode()
        task.checkpoint()

    def reissue_node_certificates(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], *, ca_cert: bytes, ca_key: bytes
    ) -> None:
        labels = task.cluster_template.labels
        if "fake_rotation_entered" in labels:
            pathlib.Path(labels["fake_rotation_entered"]).touch()
        if "fake_rotation_gate" in labels:
            _wait_for(pathlib.Path(labels["fake_rotation_gate"]), task)
        _fail_if(task, "reissue")
        del ca_key
        tls = task.state.setdefault(FAKE_TLS, {"trust": {}, "issuer": {}})
        for node in nodes:
            tls["issuer"][node.name] = ca_cert.decode()
        task.checkpoint()


@dataclasses.dataclass
class _FakeContainer:
    spec: capabilities.ContainerSpec
    state: str = "created"
    exit_code: int = 0
    runs: int = 0
    cid: str | None = None
    log: str = ""  # what write_log added

    def view(self) -> capabilities.ContainerState:
        if self.state == "running":
            return capabilities.ContainerState(
                status=fields.ContainerStatus.RUNNING, container_id=self.cid
            )
        if self.state == "paused":
            return capabilities.ContainerState(
                status=fields.ContainerStatus.PAUSED, container_id=self.cid
            )
        reason = f"exited with code {self.exit_code}" if self.state == "exited" else None
        return capabilities.ContainerState(
            status=fields.ContainerStatus.STOPPED, reason=reason, container_id=self.cid
        )


class FakeCoe(base.CoeDriver):
    """The lifecycle as labels steer it, and containers (FakeContainers) but no images."""

    coe = "swarm"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self.containers: FakeContainers | None = FakeContainers()

    def bootstrap(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Endpoints:
        labels = task.cluster_template.labels
        if "fake_entered" in labels:
            pathlib.Path(labels["fake_entered"]).touch()
        if "fake_gate" in labels:
            _wait_for(pathlib.Path(labels["fake_gate"]), task)
        _fail_if(task, "bootstrap")
        retries = int(labels.get("fake_retry", "0"))
        if task.state.get("retried", 0) < retries:  # transient trouble, `retries` times
            task.state["retried"] = task.state.get("retried", 0) + 1
            raise exceptions.RetryLater(reason="fake apiserver not up yet", delay=0.01)
        task.state["bootstrapped"] = True
        task.checkpoint()
        return self._endpoints(nodes)

    def add_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        if new and "fake_update_gate" in task.cluster_template.labels:
            _wait_for(pathlib.Path(task.cluster_template.labels["fake_update_gate"]), task)
        return self._endpoints(nodes)

    def remove_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        del nodes
        if gone and "fake_update_gate" in task.cluster_template.labels:
            _wait_for(pathlib.Path(task.cluster_template.labels["fake_update_gate"]), task)

    def check_upgrade(
        self, current: base.ClusterTemplateView, target: base.ClusterTemplateView
    ) -> None:
        del current, target

    def add_nodes(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        del task, new
        return self._endpoints(nodes)

    def remove_nodes(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        del task
        leaving = {n.name for n in gone}
        if not any(n.role is base.Role.MASTER and n.name not in leaving for n in nodes):
            raise exceptions.ClusterOperationFailed(reason="fake: no master would stay")

    def health(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Health:
        return base.Health(healthy=bool(nodes), reason=f"{len(nodes)} nodes")

    @staticmethod
    def _endpoints(nodes: Sequence[base.Node]) -> base.Endpoints:
        masters = tuple(n.address for n in nodes if n.role is base.Role.MASTER)
        workers = tuple(n.address for n in nodes if n.role is base.Role.WORKER)
        return base.Endpoints(
            api_address=f"tcp://{masters[0]}:2376", master_addresses=masters, node_addresses=workers
        )


class FakeContainers(capabilities.ContainerInterface):
    """Containers in memory, per (bay uuid, node name), with Docker's state rules."""

    def __init__(self) -> None:
        self.engines: dict[tuple[str, str], dict[str, _FakeContainer]] = {}
        self.down: set[tuple[str, str]] = set()  # (bay uuid, node name) that do not answer
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.running = 0  # `sleep` execs under way
        self.killed: list[list[str]] = []  # argv of the execs killed at their time limit
        self.wake = threading.Event()  # set: every `sleep` ends at once

    def _engine(self, task: base.ClusterTask, node: base.Node) -> dict[str, _FakeContainer]:
        if (task.cluster.uuid, node.name) in self.down:
            raise exceptions.NodeUnavailable(
                detail=f"node {node.name} of bay {task.cluster.uuid} is not answering (fake)."
            )
        return self.engines.setdefault((task.cluster.uuid, node.name), {})

    def _one(self, task: base.ClusterTask, node: base.Node, cid: str) -> _FakeContainer:
        found = self._engine(task, node).get(cid)
        if found is None:
            raise exceptions.InvalidState(detail=f"node {node.name} has no container {cid}.")
        return found

    def create(
        self, task: base.ClusterTask, node: base.Node, spec: capabilities.ContainerSpec
    ) -> str:
        self._engine(task, node)  # raises for a node that does not answer
        if spec.image not in FAKE_IMAGES:
            raise exceptions.ImageNotAvailable(
                image=spec.image, cluster=task.cluster.uuid, why=f" (node {node.name})"
            )
        if spec.memory_bytes is not None and spec.memory_bytes < 6 * 1024 * 1024:
            raise exceptions.InvalidParameterValue(
                err="Creating the container: Minimum memory limit allowed is 6MB"
            )
        return self.add(task.cluster.uuid, node.name, spec)

    def add(self, cluster_uuid: str, node_name: str, spec: capabilities.ContainerSpec) -> str:
        """Make a container as Docker would, without any row (a test's crashed create)."""
        cid = f"fake{next(self._ids):060d}"
        self.engines.setdefault((cluster_uuid, node_name), {})[cid] = _FakeContainer(
            spec=spec, cid=cid
        )
        return cid

    def write_log(self, uuid: str, text: str) -> None:
        for engine in self.engines.values():
            for c in engine.values():
                if c.spec.uuid == uuid:
                    c.log += text

    def action(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        action: Action,
    ) -> None:
        c = self._one(task, node, container_id)
        with self._lock:
            if action in (Action.START, Action.REBOOT):
                if c.state in ("paused", "running") and action is Action.START:
                    return  # Docker answers 304
                c.state, c.runs = "running", c.runs + 1
            elif action is Action.STOP:
                if c.state in ("running", "paused"):
                    c.state, c.exit_code = "exited", 137
            elif action is Action.PAUSE:
                if c.state != "running":
                    raise exceptions.InvalidState(
                        detail=f"Container action pause: Container {container_id} is not running"
                    )
                c.state = "paused"
            elif action is Action.UNPAUSE:
                if c.state != "paused":
                    raise exceptions.InvalidState(
                        detail=f"Container action unpause: Container {container_id} is not paused"
                    )
                c.state = "running"

    def logs(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        limits: capabilities.Limits,
    ) -> capabilities.Output:
        c = self._one(task, node, container_id)
        runs = (f"run {i + 1} of {c.spec.command or 'the image'}\n" for i in range(c.runs))
        text = "".join(runs) + c.log
        data = text.encode()
        if len(data) <= limits.max_bytes:
            return capabilities.Output(text=text)
        return capabilities.Output(
            text=data[-limits.max_bytes :].decode("utf-8", "replace"), truncated=True
        )

    def exec(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        argv: Sequence[str],
        limits: capabilities.Limits,
    ) -> capabilities.Output:
        c = self._one(task, node, container_id)
        if c.state != "running":
            raise exceptions.InvalidState(
                detail=f"Executing in the container: Container {container_id} is not running"
            )
        if argv[0] == "sleep":
            return self._sleep(list(argv), limits)
        if argv[0] == "print":
            size = int(argv[1])
            return capabilities.Output(
                text="x" * min(size, limits.max_bytes), truncated=size > limits.max_bytes
            )
        if argv[0] == "echo":
            return capabilities.Output(text=" ".join(argv[1:]) + "\n")
        if argv[0] == "env":
            env = "".join(f"{k}={v}\n" for k, v in sorted(c.spec.environment.items()))
            return capabilities.Output(text=env)
        return capabilities.Output(text=f"ran {shlex.join(argv)}\n")

    def _sleep(self, argv: list[str], limits: capabilities.Limits) -> capabilities.Output:
        seconds = float(argv[1])
        with self._lock:
            self.running += 1
        try:
            self.wake.wait(min(seconds, limits.timeout))
        finally:
            with self._lock:
                self.running -= 1
        if seconds > limits.timeout and not self.wake.is_set():
            with self._lock:
                self.killed.append(argv)
            raise capabilities.timed_out("The command", limits, "its processes were killed")
        return capabilities.Output(text="")

    def find(self, task: base.ClusterTask, node: base.Node, uuid: str) -> str | None:
        for cid, c in self._engine(task, node).items():
            if c.spec.uuid == uuid:
                return cid
        return None

    def remove(self, task: base.ClusterTask, node: base.Node, container_id: str) -> None:
        self._engine(task, node).pop(container_id, None)

    def states(
        self, task: base.ClusterTask, node: base.Node
    ) -> dict[str, capabilities.ContainerState]:
        return {c.spec.uuid: c.view() for c in self._engine(task, node).values()}

    def state(
        self, task: base.ClusterTask, node: base.Node, container_id: str
    ) -> capabilities.ContainerState:
        c = self._engine(task, node).get(container_id)
        if c is None:
            return capabilities.ContainerState(
                status=fields.ContainerStatus.ERROR,
                reason=f"the container is gone from node {node.name}",
            )
        return c.view()

    def exit_all(self, code: int = 0) -> None:
        """Every running container of every bay exits (its command ended)."""
        with self._lock:
            for engine in self.engines.values():
                for c in engine.values():
                    if c.state == "running":
                        c.state, c.exit_code = "exited", code


class FakeBareCoe(FakeCoe):
    """A COE that offers nothing beyond the lifecycle (no containers, images or workloads),
    for the "kubernetes" COE: what the API answers for a capability a driver lacks."""

    coe = "kubernetes"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self.containers = None

    def check_upgrade(
        self, current: base.ClusterTemplateView, target: base.ClusterTemplateView
    ) -> None:
        base.CoeDriver.check_upgrade(self, current, target)  # upgrades are not offered


class FakeKubernetes(FakeCoe):
    """The "kubernetes" COE with workloads (FakeWorkloads) and nothing else."""

    coe = "kubernetes"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self.containers = None
        self.workloads: fake_k8s.FakeWorkloads | None = fake_k8s.FakeWorkloads(FAKE_IMAGES)


def _wait_for(path: pathlib.Path, task: base.ClusterTask) -> None:
    """Wait for the gate file, reporting progress (which renews nothing but checks ownership)."""
    stop = threading.Event()
    waited = 0.0
    while not path.exists():
        if waited >= GATE_TIMEOUT:
            raise exceptions.ClusterOperationFailed(reason="fake gate never opened")
        task.progress("waiting at the fake gate")
        stop.wait(0.05)
        waited += 0.05
