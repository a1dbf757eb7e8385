# SPDX-License-Identifier: Apache-2.0
"""The update's reconcile (magnum.conductor.handlers.cluster): which nodes go, which are
added under which names, and that running it again (a conductor taking over) changes
nothing more and joins what an interrupted run had built."""

from __future__ import annotations

import dataclasses
import pathlib
import types
from collections.abc import Sequence
from typing import Any, cast

from magnum.conductor.handlers import cluster as handlers
from magnum.conductor.handlers import task as task_mod
from magnum.drivers import base
from tests.plugins.magnum_testdrivers import fake

W, M = base.Role.WORKER, base.Role.MASTER


def _group(name: str, count: int, role: base.Role = W) -> base.NodeGroupView:
    return base.NodeGroupView(
        name=name, role=role, flavor_id="f", image_id="i", node_count=count, labels={}
    )


class StubTask:
    """Enough of a Task for the reconcile: args, the cluster's groups, state, progress."""

    def __init__(self, groups: Sequence[base.NodeGroupView], **args: Any) -> None:
        self.args = dict(args)
        self.state: dict[str, Any] = {}
        self.steps: list[str] = []
        self.profile = base.DEFAULT_PROFILE
        self.cluster = base.ClusterView(
            uuid="c1",
            name="c1",
            project_id="p1",
            master_count=sum(g.node_count for g in groups if g.role is M),
            node_count=sum(g.node_count for g in groups if g.role is W),
            nodegroups=tuple(groups),
        )
        values: dict[str, Any] = dict.fromkeys(
            f.name for f in dataclasses.fields(base.ClusterTemplateView)
        )
        values |= {"uuid": "t1", "coe": "swarm", "image_id": "i", "flavor_id": "f"}
        self.cluster_template = base.ClusterTemplateView.of(types.SimpleNamespace(**values))

    def progress(self, reason: str) -> None:
        self.steps.append(reason)

    def checkpoint(self) -> None:
        pass

    def with_groups(self, *groups: base.NodeGroupView) -> StubTask:
        other = StubTask(groups, **self.args)
        other.state = self.state
        return other


def _task(groups: Sequence[base.NodeGroupView], **args: Any) -> task_mod.Task:
    return cast(task_mod.Task, StubTask(groups, **args))


def _node(name: str, group: str, role: base.Role = W) -> base.Node:
    return base.Node(name=name, role=role, address=f"10.0.0.{len(name)}", nodegroup=group)


NODES = [
    _node("master-0", "default-master", M),
    _node("node-0", "default-worker"),
    _node("node-1", "default-worker"),
    _node("node-2", "default-worker"),
    _node("node-3", "default-worker"),
]
DEFAULTS = (_group("default-master", 1, M),)


def test_extra_nodes_go_named_ones_first_then_the_highest() -> None:
    task = _task((*DEFAULTS, _group("default-worker", 2)), nodes_to_remove=["node-0"])
    plan = handlers._plan(task, NODES)
    assert [n.name for n in plan.gone["default-worker"]] == ["node-0", "node-3"]
    assert sorted(n.name for n in plan.keep) == ["master-0", "node-1", "node-2"]
    assert plan.new == {}
    plain = handlers._plan(_task((*DEFAULTS, _group("default-worker", 1))), NODES)
    assert [n.name for n in plain.gone["default-worker"]] == ["node-1", "node-2", "node-3"]


def test_missing_nodes_take_the_lowest_free_names() -> None:
    have = [n for n in NODES if n.name not in ("node-0", "node-2")]
    task = _task((*DEFAULTS, _group("default-worker", 4), _group("gpu", 2)))
    plan = handlers._plan(task, have)
    assert [s.name for s in plan.new["default-worker"]] == ["node-0", "node-2"]
    assert [(s.name, s.nodegroup, s.flavor) for s in plan.new["gpu"]] == [
        ("gpu-0", "gpu", "f"),
        ("gpu-1", "gpu", "f"),
    ]
    assert plan.gone == {}


def test_workers_of_no_group_go_and_masters_stay() -> None:
    nodes = [*NODES[:2], _node("old-0", "old"), _node("master-9", "lost", M)]
    plan = handlers._plan(_task((*DEFAULTS, _group("default-worker", 1))), nodes)
    assert {g: [n.name for n in ns] for g, ns in plan.gone.items()} == {"old": ["old-0"]}
    assert sorted(n.name for n in plan.keep) == ["master-0", "master-9", "node-0"]


@dataclasses.dataclass
class RecordingCoe(fake.FakeCoe):
    joined: list[list[str]] = dataclasses.field(default_factory=list)
    drained: list[list[str]] = dataclasses.field(default_factory=list)

    def __init__(self) -> None:
        super().__init__(cast(Any, None))
        self.joined, self.drained = [], []

    def add_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        self.joined.append(sorted(n.name for n in new))
        return super().add_workers(task, nodes, new)

    def remove_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        self.drained.append(sorted(n.name for n in gone))


def _run(coe: RecordingCoe, infra: fake.FakeInfra, task: StubTask) -> list[str]:
    t = cast(task_mod.Task, task)
    nodes = infra.list_nodes(t)
    built, _ = handlers._reconcile(coe, infra, t, nodes, handlers._plan(t, nodes))
    return [n.name for n in built]


def test_running_again_changes_nothing_and_joins_what_was_half_built(
    tmp_path: pathlib.Path,
) -> None:
    infra = fake.FakeInfra(cast(Any, types.SimpleNamespace(state_path=str(tmp_path))))
    coe = RecordingCoe()
    first = StubTask((*DEFAULTS, _group("default-worker", 1)))
    infra.create_nodes(cast(task_mod.Task, first), handlers.node_specs(cast(task_mod.Task, first)))
    assert _run(coe, infra, first) == ["master-0", "node-0"]  # a create's nodes: all there
    grow = first.with_groups(*DEFAULTS, _group("default-worker", 1), _group("ng", 2))
    assert _run(coe, infra, grow) == ["master-0", "node-0", "ng-0", "ng-1"]
    assert coe.joined[-1] == ["ng-0", "ng-1"]
    assert "Adding 2 nodes (nodegroup ng)" in grow.steps
    assert _run(coe, infra, grow) == ["master-0", "node-0", "ng-0", "ng-1"]
    assert coe.joined[-1] == [] and coe.drained == []  # nothing more to do

    # a run that died after building ng-2 but before it joined: the next run joins it
    bigger = grow.with_groups(*DEFAULTS, _group("default-worker", 1), _group("ng", 3))
    t = cast(task_mod.Task, bigger)
    infra.create_nodes(
        t, [base.NodeSpec(name="ng-2", role=W, flavor="f", image="i", nodegroup="ng")]
    )
    bigger.state[handlers.ADDING] = ["ng-2"]
    assert _run(coe, infra, bigger) == ["master-0", "node-0", "ng-0", "ng-1", "ng-2"]
    assert coe.joined[-1] == ["ng-2"] and handlers.ADDING not in bigger.state

    # the group deleted (count 0): its nodes are drained and removed, once
    gone = bigger.with_groups(*DEFAULTS, _group("default-worker", 1), _group("ng", 0))
    assert _run(coe, infra, gone) == ["master-0", "node-0"]
    assert coe.drained == [["ng-0", "ng-1", "ng-2"]]
    assert _run(coe, infra, gone) == ["master-0", "node-0"]
    assert coe.drained == [["ng-0", "ng-1", "ng-2"]]
