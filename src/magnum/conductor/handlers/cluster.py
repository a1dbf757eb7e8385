# SPDX-License-Identifier: Apache-2.0
"""Cluster operations: create, update (the reconcile of every nodegroup's count: a bay's
scale, a resize, a nodegroup's create and delete) and delete, driven through the drivers.

Every step is safe to run again: drivers find what exists before they act, so an
operation taken over by another conductor simply runs from the start.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from magnum.common import exceptions, pki
from magnum.conductor.handlers import task as task_mod
from magnum.drivers import base, registry
from magnum.objects import fields

LOG = logging.getLogger(__name__)
# driver_state key: the workers a scale-up is adding (see update)
ADDING = "adding_nodes"


def _names(group: base.NodeGroupView) -> str:
    """The stem of a nodegroup's node names: master-N and node-N for the default groups (as
    bays always had), <group>-N for others."""
    if group.name == base.DEFAULT_NODEGROUP[base.Role.MASTER]:
        return "master"
    if group.name == base.DEFAULT_NODEGROUP[base.Role.WORKER]:
        return "node"
    return group.name


def groups(task: task_mod.Task) -> tuple[base.NodeGroupView, ...]:
    """The cluster's nodegroups, masters first (a cluster recorded before nodegroups
    existed has the two default groups, from its counts)."""
    model = task.cluster_template
    found = task.cluster.nodegroups or (
        base.NodeGroupView(
            name=base.DEFAULT_NODEGROUP[base.Role.MASTER],
            role=base.Role.MASTER,
            flavor_id=model.master_flavor_id or model.flavor_id,
            image_id=model.image_id,
            node_count=task.cluster.master_count,
            labels={},
            is_default=True,
        ),
        base.NodeGroupView(
            name=base.DEFAULT_NODEGROUP[base.Role.WORKER],
            role=base.Role.WORKER,
            flavor_id=model.flavor_id,
            image_id=model.image_id,
            node_count=task.cluster.node_count,
            labels={},
            is_default=True,
        ),
    )
    return tuple(sorted(found, key=lambda g: g.role is not base.Role.MASTER))


def _spec(task: task_mod.Task, group: base.NodeGroupView, name: str) -> base.NodeSpec:
    return base.NodeSpec(
        name=name,
        role=group.role,
        flavor=group.flavor_id,
        image=group.image_id or task.cluster_template.image_id,
        nodegroup=group.name,
        profile=task.profile,
    )


def node_specs(task: task_mod.Task, *, workers: int | None = None) -> list[base.NodeSpec]:
    """Every node the cluster's nodegroups ask for, masters first, named <stem>-0 up (see
    `_names`). `workers` overrides the default worker group's count (a scale in progress)."""
    specs = []
    for group in groups(task):
        count = group.node_count
        if workers is not None and group.name == base.DEFAULT_NODEGROUP[base.Role.WORKER]:
            count = workers
        specs += [_spec(task, group, f"{_names(group)}-{i}") for i in range(count)]
    return specs


def node_names(task: task_mod.Task, nodes: Sequence[base.Node]) -> dict[str, list[str]]:
    """{nodegroup: its nodes' names}, in the order of `nodes` (as Task.finish orders the
    nodegroups' addresses): pass as `nodegroup_names=` to Task.finish, so that a resize's
    nodes_to_remove may name them."""
    out: dict[str, list[str]] = {g.name: [] for g in task.cluster.nodegroups}
    for node in nodes:
        out.setdefault(node.nodegroup, []).append(node.name)
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(nodes: Sequence[base.Node]) -> str:
    masters = sum(1 for n in nodes if n.role is base.Role.MASTER)
    return f"{_plural(masters, 'master')}, {_plural(len(nodes) - masters, 'node')}"


def _done(
    what: str, infra: base.InfraDriver, task: task_mod.Task, nodes: Sequence[base.Node]
) -> str:
    """The final status_reason; it names the bay's registry, if the infrastructure runs one."""
    reason = f"Bay {what} completed: {summary(nodes)}"
    if (registry_address := infra.registry_address(task)) is not None:
        reason += f"; registry at {registry_address}"
    return reason


def endpoint_values(endpoints: base.Endpoints) -> dict[str, Any]:
    return {
        "api_address": endpoints.api_address,
        "master_addresses": list(endpoints.master_addresses),
        "node_addresses": list(endpoints.node_addresses),
    }


def fronted(
    infra: base.InfraDriver,
    task: task_mod.Task,
    nodes: Sequence[base.Node],
    ends: base.Endpoints,
    *,
    port: int | None = None,
) -> base.Endpoints:
    """With several masters, the bay's API address is the infrastructure's stable front
    for all of them (if it has one) instead of master-0's, in the same scheme; `port` is
    the COE's API port (CoeDriver.api_port)."""
    if task.cluster.master_count < 2:
        return ends
    masters = [n for n in nodes if n.role is base.Role.MASTER]
    if (front := infra.api_frontend(task, masters, port=port)) is None:
        return ends
    scheme = ends.api_address.split("://", 1)[0] if "://" in ends.api_address else "tcp"
    return dataclasses.replace(ends, api_address=f"{scheme}://{front}")


def infra_of(drivers: registry.Drivers, task: task_mod.Task) -> base.InfraDriver:
    name = task.state.get("infra")
    driver = drivers.infra_for(name)
    if name is None:
        task.state["infra"] = driver.name
    return driver


def create(drivers: registry.Drivers, task: task_mod.Task) -> None:
    coe = drivers.coe_for(task.cluster_template.coe)
    infra = infra_of(drivers, task)
    counts = {"master_count": task.cluster.master_count, "node_count": task.cluster.node_count}
    infra.validate(task.cluster_template, **counts)
    coe.validate(task.cluster_template, **counts)
    try:
        # The bay's CA comes first: node certificates are signed by it, and the API serves
        # it (GET /v1/certificates) as soon as the bay exists.
        pki.ensure_cluster_credentials(
            task.state, cluster_uuid=task.cluster.uuid, secret=task.key_secret
        )
        task.progress("Certificate authority ready")
        specs = node_specs(task)
        task.progress(f"Creating {len(specs)} nodes")
        nodes = infra.create_nodes(task, specs)
        task.progress(f"Forming the {coe.coe} cluster on {summary(nodes)}")
        endpoints = fronted(infra, task, nodes, coe.bootstrap(task, nodes), port=coe.api_port)
    except exceptions.OperationInterrupted:
        raise
    except Exception as exc:
        _undo_create(infra, task, exc)
        raise
    task.finish(
        fields.ClusterStatus.CREATE_COMPLETE,
        _done("CREATE", infra, task, nodes),
        nodes=nodes,
        nodegroup_names=node_names(task, nodes),
        **endpoint_values(endpoints),
    )


def _undo_create(infra: base.InfraDriver, task: task_mod.Task, cause: Exception) -> None:
    """A failed create leaves nothing behind: remove what was built, then report the cause."""
    LOG.info("bay %s: create failed (%s); removing what was built", task.cluster.uuid, cause)
    try:
        infra.delete_cluster(task)
    except Exception:
        LOG.exception("bay %s: cleanup after failed create also failed", task.cluster.uuid)


@dataclasses.dataclass(slots=True)
class _Plan:
    """What an update does to reach every nodegroup's count: the nodes that stay, the
    nodes to drain and remove, and the specs of the nodes to add (each by nodegroup)."""

    keep: list[base.Node] = dataclasses.field(default_factory=list)
    gone: dict[str, list[base.Node]] = dataclasses.field(default_factory=dict)
    new: dict[str, list[base.NodeSpec]] = dataclasses.field(default_factory=dict)


def _plan(task: task_mod.Task, nodes: Sequence[base.Node]) -> _Plan:
    """Compare each worker group's count with its nodes. Extra
    nodes go: those the operation's nodes_to_remove names first, then the highest
    indices. Missing ones take the lowest free <stem>-N names. A worker whose group no
    longer exists goes too; masters stay as they are (their groups are never resized)."""
    wanted = {g.name: g for g in groups(task)}
    named = set(task.args.get("nodes_to_remove") or ())
    members: dict[str, list[base.Node]] = {name: [] for name in wanted}
    plan = _Plan()
    for node in nodes:
        if node.nodegroup in wanted:
            members[node.nodegroup].append(node)
        elif node.role is base.Role.MASTER:
            plan.keep.append(node)
        else:
            plan.gone.setdefault(node.nodegroup, []).append(node)
    taken = {n.name for n in nodes}
    for group in wanted.values():
        have = sorted(members[group.name], key=_index)
        count = group.node_count
        if group.role is base.Role.MASTER or len(have) == count:
            plan.keep += have
        elif len(have) > count:
            by_index = [n for n in reversed(have) if n.name not in named]
            chosen = ([n for n in have if n.name in named] + by_index)[: len(have) - count]
            plan.gone[group.name] = sorted(chosen, key=_index)
            plan.keep += [n for n in have if n not in chosen]
        else:
            plan.keep += have
            free = (f"{_names(group)}-{i}" for i in itertools.count())
            fresh = (name for name in free if name not in taken)
            plan.new[group.name] = [
                _spec(task, group, next(fresh)) for _ in range(count - len(have))
            ]
    return plan


def _where(by_group: Mapping[str, Sequence[object]]) -> str:
    """The " (nodegroup X)" after a step's count, unless only the default worker group is
    concerned (a bay's scale says what it always said)."""
    names = sorted(name for name, items in by_group.items() if items)
    if not names or names == [base.DEFAULT_NODEGROUP[base.Role.WORKER]]:
        return ""
    return f" (nodegroup{'s' if len(names) > 1 else ''} {', '.join(names)})"


def _reconcile(
    coe: base.CoeDriver,
    infra: base.InfraDriver,
    task: task_mod.Task,
    nodes: Sequence[base.Node],
    plan: _Plan,
) -> tuple[list[base.Node], base.Endpoints]:
    """Carry out `plan`: drain and remove first (it frees room), then build and join. The
    nodes being added are kept in the driver state until they have joined: a conductor
    taking over finds them listed, maybe half built, and builds and joins them again.
    Returns the nodes (in `_ordered` order, which the COE's addresses follow too)."""
    adding = set(task.state.pop(ADDING, None) or ())
    if gone := [n for group in plan.gone.values() for n in group]:
        task.progress(f"Draining {len(gone)} nodes{_where(plan.gone)}")
        coe.remove_workers(task, nodes, gone)
        task.progress(f"Removing {len(gone)} nodes{_where(plan.gone)}")
        infra.delete_nodes(task, [n.name for n in gone])
    joining = {n.name: n.nodegroup for n in plan.keep if n.name in adding}
    joining |= {s.name: s.nodegroup for specs in plan.new.values() for s in specs}
    if not joining:
        kept = ordered(task, plan.keep)
        return kept, coe.add_workers(task, kept, [])
    by_group: dict[str, list[str]] = {}
    for name, group in joining.items():
        by_group.setdefault(group, []).append(name)
    task.state[ADDING] = sorted(joining)
    task.progress(f"Adding {len(joining)} nodes{_where(by_group)}")  # saves task.state too
    wanted = {g.name: g for g in groups(task)}
    specs = [
        _spec(task, wanted[n.nodegroup], n.name) if n.nodegroup in wanted else _kept_spec(task, n)
        for n in plan.keep
    ]
    built = ordered(
        task, infra.create_nodes(task, specs + [s for new in plan.new.values() for s in new])
    )
    new = [n for n in built if n.name in joining]
    task.progress(f"Joining {len(new)} nodes{_where(by_group)}")
    endpoints = coe.add_workers(task, built, new)
    task.state.pop(ADDING)
    return built, endpoints


def _kept_spec(task: task_mod.Task, node: base.Node) -> base.NodeSpec:
    """A node kept as it is (a master of no recorded group)."""
    return base.NodeSpec(
        name=node.name,
        role=node.role,
        flavor=None,
        image=None,
        nodegroup=node.nodegroup,
        profile=task.profile,
    )


def update(drivers: registry.Drivers, task: task_mod.Task) -> None:
    """Reconcile every nodegroup's count with the nodes the infrastructure lists: a bay's
    scale, a resize (of any worker group, maybe naming the nodes to remove), a nodegroup's
    create (its nodes are built and join) or delete (its count is 0: its nodes are drained
    and removed, then objects.clusters.settle removes its row). Safe to run again."""
    coe = drivers.coe_for(task.cluster_template.coe)
    infra = infra_of(drivers, task)
    nodes = infra.list_nodes(task)
    # The API checked these counts; check again before building anything, so a count
    # recorded by anything else (an older release, a hand edit) fails the update instead
    # of the conductor.
    counts = {"master_count": task.cluster.master_count, "node_count": task.cluster.node_count}
    infra.validate(task.cluster_template, **counts, existing=len(nodes))
    coe.validate(task.cluster_template, **counts)
    nodes, endpoints = _reconcile(coe, infra, task, nodes, _plan(task, nodes))
    if task.args.get("nodegroup_action") == "delete":
        task.progress(f"Nodegroup {task.args.get('nodegroup')} has no nodes left")
    task.finish(
        fields.ClusterStatus.UPDATE_COMPLETE,
        _done("UPDATE", infra, task, nodes),
        nodes=nodes,
        nodegroup_names=node_names(task, nodes),
        **endpoint_values(fronted(infra, task, nodes, endpoints, port=coe.api_port)),
    )


def _index(node: base.Node) -> int:
    index = node.name.rsplit("-", 1)[-1]
    return int(index) if index.isascii() and index.isdigit() else -1


def ordered(task: task_mod.Task, nodes: Sequence[base.Node]) -> list[base.Node]:
    """Masters first, then group by group (as `groups` lists them), each by index."""
    rank = {g.name: i for i, g in enumerate(groups(task))}
    return sorted(
        nodes,
        key=lambda n: (
            n.role is not base.Role.MASTER,
            rank.get(n.nodegroup, len(rank)),
            _index(n),
            n.name,
        ),
    )


def delete(drivers: registry.Drivers, task: task_mod.Task) -> None:
    name = task.state.get("infra")
    if name is not None or drivers.infra:
        task.progress("Deleting nodes")
        drivers.infra_for(name).delete_cluster(task)
    task.delete_row()


HANDLERS = {
    fields.Operation.CREATE: create,
    fields.Operation.UPDATE: update,
    fields.Operation.DELETE: delete,
}
