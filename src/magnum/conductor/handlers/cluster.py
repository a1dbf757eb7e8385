# SPDX-License-Identifier: Apache-2.0
"""Cluster operations: create, update (scale) and delete, driven through the drivers.

Every step is safe to run again: drivers find what exists before they act, so an
operation taken over by another conductor simply runs from the start.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
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


def node_specs(task: task_mod.Task, *, workers: int | None = None) -> list[base.NodeSpec]:
    """Every node the cluster's nodegroups ask for, masters first. `workers` overrides the
    default worker group's count (a scale in progress)."""
    model = task.cluster_template
    groups = task.cluster.nodegroups or (
        base.NodeGroupView(
            name=base.DEFAULT_NODEGROUP[base.Role.MASTER],
            role=base.Role.MASTER,
            flavor_id=model.master_flavor_id or model.flavor_id,
            image_id=model.image_id,
            node_count=task.cluster.master_count,
            labels={},
        ),
        base.NodeGroupView(
            name=base.DEFAULT_NODEGROUP[base.Role.WORKER],
            role=base.Role.WORKER,
            flavor_id=model.flavor_id,
            image_id=model.image_id,
            node_count=task.cluster.node_count,
            labels={},
        ),
    )
    specs = []
    for group in sorted(groups, key=lambda g: g.role is not base.Role.MASTER):
        count = group.node_count
        if workers is not None and group.name == base.DEFAULT_NODEGROUP[base.Role.WORKER]:
            count = workers
        specs += [
            base.NodeSpec(
                name=f"{_names(group)}-{i}",
                role=group.role,
                flavor=group.flavor_id,
                image=group.image_id or model.image_id,
                nodegroup=group.name,
            )
            for i in range(count)
        ]
    return specs


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _summary(nodes: Sequence[base.Node]) -> str:
    masters = sum(1 for n in nodes if n.role is base.Role.MASTER)
    return f"{_plural(masters, 'master')}, {_plural(len(nodes) - masters, 'node')}"


def _done(
    what: str, infra: base.InfraDriver, task: task_mod.Task, nodes: Sequence[base.Node]
) -> str:
    """The final status_reason; it names the bay's registry, if the infrastructure runs one."""
    reason = f"Bay {what} completed: {_summary(nodes)}"
    if (registry_address := infra.registry_address(task)) is not None:
        reason += f"; registry at {registry_address}"
    return reason


def _endpoint_values(endpoints: base.Endpoints) -> dict[str, Any]:
    return {
        "api_address": endpoints.api_address,
        "master_addresses": list(endpoints.master_addresses),
        "node_addresses": list(endpoints.node_addresses),
    }


def _fronted(
    infra: base.InfraDriver, task: task_mod.Task, nodes: Sequence[base.Node], ends: base.Endpoints
) -> base.Endpoints:
    """With several masters, the bay's API address is the infrastructure's stable front
    for all of them (if it has one) instead of master-0's."""
    if task.cluster.master_count < 2:
        return ends
    masters = [n for n in nodes if n.role is base.Role.MASTER]
    if (front := infra.api_frontend(task, masters)) is None:
        return ends
    return dataclasses.replace(ends, api_address=f"tcp://{front}")


def _infra(drivers: registry.Drivers, task: task_mod.Task) -> base.InfraDriver:
    name = task.state.get("infra")
    driver = drivers.infra_for(name)
    if name is None:
        task.state["infra"] = driver.name
    return driver


def create(drivers: registry.Drivers, task: task_mod.Task) -> None:
    coe = drivers.coe_for(task.cluster_template.coe)
    infra = _infra(drivers, task)
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
        task.progress(f"Forming the {coe.coe} cluster on {_summary(nodes)}")
        endpoints = _fronted(infra, task, nodes, coe.bootstrap(task, nodes))
    except exceptions.OperationInterrupted:
        raise
    except Exception as exc:
        _undo_create(infra, task, exc)
        raise
    task.finish(
        fields.ClusterStatus.CREATE_COMPLETE,
        _done("CREATE", infra, task, nodes),
        nodes=nodes,
        **_endpoint_values(endpoints),
    )


def _undo_create(infra: base.InfraDriver, task: task_mod.Task, cause: Exception) -> None:
    """A failed create leaves nothing behind: remove what was built, then report the cause."""
    LOG.info("bay %s: create failed (%s); removing what was built", task.cluster.uuid, cause)
    try:
        infra.delete_cluster(task)
    except Exception:
        LOG.exception("bay %s: cleanup after failed create also failed", task.cluster.uuid)


def update(drivers: registry.Drivers, task: task_mod.Task) -> None:
    coe = drivers.coe_for(task.cluster_template.coe)
    infra = _infra(drivers, task)
    nodes = infra.list_nodes(task)
    # The API checked these counts; check again before building anything, so a count
    # recorded by anything else (an older release, a hand edit) fails the update instead
    # of the conductor.
    counts = {"master_count": task.cluster.master_count, "node_count": task.cluster.node_count}
    infra.validate(task.cluster_template, **counts, existing=len(nodes))
    coe.validate(task.cluster_template, **counts)
    workers = sorted((n for n in nodes if n.role is base.Role.WORKER), key=_index)
    wanted = task.cluster.node_count
    # Workers an earlier run of this operation was adding when its conductor died: the
    # infrastructure may list them already (half built, not in the cluster). They count
    # as new until the operation settles.
    adding = set(task.state.pop(ADDING, None) or ())
    have = {n.name for n in nodes} - adding
    if wanted > sum(1 for w in workers if w.name in have):
        specs = node_specs(task, workers=wanted)
        task.state[ADDING] = sorted(s.name for s in specs if s.name not in have)
        task.progress(f"Adding {len(task.state[ADDING])} nodes")  # saves task.state too
        all_nodes = infra.create_nodes(task, specs)
        new = [n for n in all_nodes if n.name not in have]
        task.progress(f"Joining {len(new)} nodes")
        endpoints = _fronted(infra, task, all_nodes, coe.add_workers(task, all_nodes, new))
        task.state.pop(ADDING)
        nodes = all_nodes
    else:
        gone = workers[wanted:]
        if gone:
            task.progress(f"Draining {len(gone)} nodes")
            coe.remove_workers(task, nodes, gone)
            task.progress(f"Removing {len(gone)} nodes")
            infra.delete_nodes(task, [n.name for n in gone])
        nodes = [n for n in nodes if n not in gone]
        endpoints = _fronted(infra, task, nodes, coe.add_workers(task, nodes, []))
    task.finish(
        fields.ClusterStatus.UPDATE_COMPLETE,
        _done("UPDATE", infra, task, nodes),
        nodes=nodes,
        **_endpoint_values(endpoints),
    )


def _index(node: base.Node) -> int:
    return int(node.name.rsplit("-", 1)[-1])


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
