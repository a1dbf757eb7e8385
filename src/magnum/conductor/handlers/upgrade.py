# SPDX-License-Identifier: Apache-2.0
"""Cluster upgrade: move a cluster or one nodegroup to another template, node by node.

Strategy: surge replacement. A node cannot be changed in place without stopping what
it runs (on the local infrastructure a node's image is a catalog name and its engine is
the host's dockerd configured from the template; restarting that dockerd with the new
configuration stops its containers, because dockerd's live-restore is refused in swarm
mode: "--live-restore daemon configuration is incompatible with swarm mode"). So every
node is *replaced*, a batch of at most `max_batch_size` nodes at a time (masters one at
a time, first), each batch in five steps that are all safe to run again:

1. build the replacement nodes from the target template (InfraDriver.create_nodes_from;
   their names, the lowest free <stem>-N, are recorded in the driver state first);
2. join them to the running cluster (CoeDriver.add_nodes: masters as managers);
3. move the containers of each old node to its replacement, make-before-break: the copy
   is created (and started, or paused, as the original was) on the replacement, the row
   is switched to it (magnum.objects.containers.relocate), then the original is removed;
   images the replacement lacks are copied from the old node first;
4. drain the old nodes and take them out of the cluster (CoeDriver.remove_nodes); with
   several masters the cluster's API front is moved to the remaining ones first;
5. delete them (InfraDriver.delete_nodes).

The plan (batches, replacement names, batches done) is kept in the driver state under
"upgrade" with the operation's uuid, so a conductor that takes over resumes at the batch
that was under way. A batch that fails before its old nodes left the cluster is undone
(containers moved back, replacements removed), so the cluster keeps serving on what was
not replaced; the operation then fails (UPDATE_FAILED) naming the node. On success the
cluster points at the new template (a whole-cluster upgrade: cluster_template_id, its
labels) and the nodegroups upgraded at their new image and version.

A whole-cluster upgrade replaces the nodes of the default nodegroups; a non-default
nodegroup is upgraded on its own, and only to the cluster's current template (the API
refuses others).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from magnum.common import exceptions
from magnum.conductor.handlers import cluster as cluster_handlers
from magnum.conductor.handlers import task as task_mod
from magnum.db import engine, models
from magnum.drivers import base, capabilities, registry
from magnum.objects import cluster_templates, clusters, containers, fields

LOG = logging.getLogger(__name__)
STATE = "upgrade"  # driver_state key of the plan
DEFAULT_GROUPS = frozenset(base.DEFAULT_NODEGROUP.values())
# The template fields a cluster may override (objects.clusters.OVERRIDES, as drivers name
# them): an upgrade keeps the cluster's own values and takes the rest from the target.
OVERRIDABLE = ("flavor_id", "master_flavor_id", "keypair_id", "docker_volume_size", "fixed_network")
# The template label that names the engine version a nodegroup shows as its `version`.
VERSION_LABEL = "engine_version"
VERSION_LENGTH = 20  # nodegroup.version's column


# --- what the upgrade is -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Upgrade:
    target_uuid: str
    target_name: str
    target: base.ClusterTemplateView  # as the nodes are built: with the cluster's overrides
    nodegroup: str | None  # None: the default nodegroups (the whole cluster)
    batch_size: int


def effective_target(
    current: base.ClusterTemplateView,
    current_plain: base.ClusterTemplateView,
    target: base.ClusterTemplateView,
) -> base.ClusterTemplateView:
    """The target template as the cluster's nodes are built from it: what the cluster
    overrides of its current template (`current` is the template with the overrides,
    `current_plain` without) it keeps; the rest, labels included, comes from `target`."""
    changes: dict[str, Any] = {
        f: getattr(current, f)
        for f in OVERRIDABLE
        if getattr(current, f) != getattr(current_plain, f)
    }
    own = {k: v for k, v in current.labels.items() if current_plain.labels.get(k) != v}
    changes["labels"] = dict(target.labels) | own
    return dataclasses.replace(target, **changes)


def _load(task: task_mod.Task) -> Upgrade:
    uuid = str(task.args["cluster_template"])
    group = task.args.get("nodegroup")
    with task.db.session() as session:
        row = cluster_templates.by_uuid(session, uuid)
        loaded = clusters.load(session, task.cluster.uuid)
        current_row = loaded[1] if loaded is not None else None
    if row is None or current_row is None:
        raise exceptions.ClusterOperationFailed(
            reason=f"The cluster template {uuid} was deleted before the upgrade could use it."
        )
    if group is not None:  # a nodegroup catches up with the cluster's own template
        target = task.cluster_template
    else:
        target = effective_target(
            task.cluster_template,
            base.ClusterTemplateView.of(current_row),
            base.ClusterTemplateView.of(row),
        )
    return Upgrade(
        target_uuid=uuid,
        target_name=row.name or uuid,
        target=target,
        nodegroup=str(group) if group is not None else None,
        batch_size=max(1, int(task.args.get("max_batch_size") or 1)),
    )


# --- the plan, kept in the driver state ---------------------------------------------------
def _index(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else -1


def _stem(name: str) -> str:
    return name.rsplit("-", 1)[0] if _index(name) >= 0 else name


def _plan(task: task_mod.Task, up: Upgrade, nodes: Sequence[base.Node]) -> dict[str, Any]:
    """The plan of this operation (made now if the state holds none for it)."""
    plan = task.state.get(STATE)
    if isinstance(plan, dict) and plan.get("operation") == task.fence.operation_uuid:
        return plan
    if up.nodegroup is None:
        chosen = [n for n in nodes if n.nodegroup in DEFAULT_GROUPS]
    else:
        chosen = [n for n in nodes if n.nodegroup == up.nodegroup]
    chosen.sort(key=lambda n: (_index(n.name), n.name))
    masters = [n.name for n in chosen if n.role is base.Role.MASTER]
    workers = [n.name for n in chosen if n.role is not base.Role.MASTER]
    size = up.batch_size
    batches = [[m] for m in masters] + [workers[i : i + size] for i in range(0, len(workers), size)]
    plan = {
        "operation": task.fence.operation_uuid,
        "template": up.target_uuid,
        "batches": batches,
        "done": 0,
        "nodes": {n.name: {"role": str(n.role), "nodegroup": n.nodegroup} for n in chosen},
        "replacements": {},
    }
    task.state[STATE] = plan
    return plan


def _fresh(stem: str, taken: set[str]) -> str:
    i = 0
    while f"{stem}-{i}" in taken:
        i += 1
    name = f"{stem}-{i}"
    taken.add(name)
    return name


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


# --- the handler ---------------------------------------------------------------------------
def upgrade(drivers: registry.Drivers, task: task_mod.Task) -> None:
    up = _load(task)
    coe = drivers.coe_for(task.cluster_template.coe)
    infra = cluster_handlers.infra_of(drivers, task)
    coe.check_upgrade(task.cluster_template, up.target)
    infra.check_upgrade(task.cluster_template, up.target)
    plan = _plan(task, up, infra.list_nodes(task))
    batches: list[list[str]] = plan["batches"]
    if plan["done"] == 0:
        what = f"nodegroup {up.nodegroup}" if up.nodegroup else "the cluster"
        task.progress(
            f"Upgrading {what} to cluster template {up.target_name}: "
            f"{sum(len(b) for b in batches)} nodes in {len(batches)} batches "
            f"of at most {up.batch_size}"
        )
    for number in range(int(plan["done"]), len(batches)):
        Batch(coe, infra, task, up=up, plan=plan, number=number).run()
        plan["done"] = number + 1
        task.checkpoint()
    _finish(coe, infra, task, up)


def _finish(coe: base.CoeDriver, infra: base.InfraDriver, task: task_mod.Task, up: Upgrade) -> None:
    nodes = cluster_handlers.ordered(task, infra.list_nodes(task))
    endpoints = cluster_handlers.fronted(
        infra, task, nodes, coe.add_workers(task, nodes, []), port=coe.api_port
    )
    version = up.target.labels.get(VERSION_LABEL)
    groups = [g.name for g in task.cluster.nodegroups]
    upgraded = [up.nodegroup] if up.nodegroup else [g for g in groups if g in DEFAULT_GROUPS]
    clusters.set_nodegroup_images(
        task.db,
        task.fence,
        dict.fromkeys(
            upgraded, (up.target.image_id, version[:VERSION_LENGTH] if version else None)
        ),
    )
    task.state.pop(STATE, None)
    values: dict[str, Any] = {}
    if up.nodegroup is None:
        values = {"cluster_template_id": up.target_uuid, "labels": dict(up.target.labels)}
    what = f"nodegroup {up.nodegroup}" if up.nodegroup else "cluster"
    task.finish(
        fields.ClusterStatus.UPDATE_COMPLETE,
        f"Bay UPGRADE completed: {what} on cluster template {up.target_name} "
        f"({cluster_handlers.summary(nodes)})",
        nodes=nodes,
        nodegroup_names=cluster_handlers.node_names(task, nodes),
        **values,
        **cluster_handlers.endpoint_values(endpoints),
    )


class _Quiet:
    """The task for undoing a failed batch: progress reports only go to the log (they
    would raise once the deadline passed, leaving the undo half done); the lease is still
    checked by every checkpoint."""

    def __init__(self, task: task_mod.Task) -> None:
        self._task = task

    @property
    def cluster(self) -> base.ClusterView:
        return self._task.cluster

    @property
    def cluster_template(self) -> base.ClusterTemplateView:
        return self._task.cluster_template

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._task.state

    def progress(self, reason: str) -> None:
        LOG.info("cluster %s: undoing: %s", self._task.cluster.uuid, reason)

    def checkpoint(self) -> None:
        self._task.checkpoint()


class Batch:
    """One batch of the plan: its old nodes replaced (see the module's steps)."""

    def __init__(
        self,
        coe: base.CoeDriver,
        infra: base.InfraDriver,
        task: task_mod.Task,
        *,
        up: Upgrade,
        plan: dict[str, Any],
        number: int,
    ) -> None:
        self.coe, self.infra, self.task, self.up, self.plan = coe, infra, task, up, plan
        self.caps = coe.containers
        self.olds: list[str] = list(plan["batches"][number])
        self.label = f"batch {number + 1} of {len(plan['batches'])}"
        self.pairs: dict[str, str] = plan["replacements"]

    # --- the steps ---------------------------------------------------------------
    def run(self) -> None:
        task = self.task
        listed = {n.name: n for n in self.infra.list_nodes(task)}
        # Names of nodes gone (an earlier batch's) may be reused, as a scale reuses them.
        taken = set(listed) | set(self.pairs.values())
        for old in self.olds:
            if old not in self.pairs:
                self.pairs[old] = _fresh(_stem(old), taken)
        for old in self.olds:  # (saves the names chosen, with the state)
            task.progress(f"Replacing {old} with {self.pairs[old]} ({self.label})")
        olds = [listed[o] for o in self.olds if o in listed]
        news = [self.pairs[o] for o in self.olds]
        phase = "build"
        try:
            built = self.infra.create_nodes_from(task, self._specs(), self.up.target)
            by_name = {n.name: n for n in built}
            new_nodes = [by_name[n] for n in news if n in by_name]
            missing = [n for n in news if n not in by_name]
            if missing:
                raise exceptions.ClusterOperationFailed(
                    reason=f"the infrastructure did not list {_names(missing)}"
                )
            phase = "join"
            task.progress(f"Joining {_names(news)} ({self.label})")
            self.coe.add_nodes(task, built, new_nodes)
            phase = "move"
            for node in olds:
                self._move(node, by_name[self.pairs[node.name]])
            phase = "drain"
            if olds:
                self._front(built, without=olds)
                task.progress(f"Draining {_names([o.name for o in olds])} ({self.label})")
                self.coe.remove_nodes(task, built, olds)
            phase = "delete"
            task.progress(f"Removing {_names(self.olds)} ({self.label})")
            self.infra.delete_nodes(task, self.olds)
        except (exceptions.OperationInterrupted, exceptions.RetryLater):
            raise
        except exceptions.MagnumError as exc:
            undone = phase in ("build", "join", "move") and self._undo(olds, news)
            kept = "; the cluster keeps serving on its old nodes" if undone else ""
            raise exceptions.ClusterOperationFailed(
                reason=f"Replacing {_names(self.olds)} with {_names(news)} ({self.label}) "
                f"failed while {_PHASES[phase]}: {exc.message}{kept}"
            ) from exc

    def _specs(self) -> list[base.NodeSpec]:
        groups = {g.name: g for g in self.task.cluster.nodegroups}
        specs = []
        for old in self.olds:
            info = self.plan["nodes"][old]
            role = base.Role(info["role"])
            group = groups.get(info["nodegroup"])
            flavor = group.flavor_id if group is not None else None
            if flavor is None:
                model = self.up.target
                flavor = (
                    model.master_flavor_id or model.flavor_id
                    if role is base.Role.MASTER
                    else model.flavor_id
                )
            specs.append(
                base.NodeSpec(
                    name=self.pairs[old],
                    role=role,
                    flavor=flavor,
                    image=self.up.target.image_id,
                    nodegroup=info["nodegroup"],
                    profile=self.task.profile,
                )
            )
        return specs

    def _front(self, nodes: Sequence[base.Node], *, without: Sequence[base.Node]) -> None:
        """With several masters, the API front names the masters that stay before any of
        those leaving is drained (it keeps answering meanwhile)."""
        leaving = {n.name for n in without if n.role is base.Role.MASTER}
        if not leaving:
            return
        staying = [n for n in nodes if n.role is base.Role.MASTER and n.name not in leaving]
        if self.task.cluster.master_count >= 2 and len(staying) >= 1:
            self.infra.api_frontend(self.task, staying, port=self.coe.api_port)

    # --- containers --------------------------------------------------------------
    def _move(self, src: base.Node, dst: base.Node, *, task: base.ClusterTask | None = None) -> int:
        """Move every container placed on `src` to `dst`, make-before-break; return how
        many moved."""
        on = task or self.task
        if self.caps is None:
            return 0
        db = self.task.db
        with db.session() as session:
            rows = list(containers.on_host(session, self.task.cluster.uuid, src.name))
        for row in rows:
            on.progress(f"Moving container {row.name or row.uuid} from {src.name} to {dst.name}")
            _move_one(self.caps, self.coe, on, db=db, row=row, src=src, dst=dst)
        return len(rows)

    def _undo(self, olds: Sequence[base.Node], news: Sequence[str]) -> bool:
        """Put the batch back as it was: containers on their old nodes, no replacements.
        True when that worked."""
        quiet = _Quiet(self.task)
        try:
            listed = {n.name: n for n in self.infra.list_nodes(quiet)}
            back = {self.pairs[o.name]: o for o in olds}
            for new in news:
                if new in listed and new in back:
                    self._move(listed[new], back[new], task=quiet)
            present = [listed[n] for n in news if n in listed]
            if present:
                self.coe.remove_nodes(quiet, list(listed.values()), present)
            self.infra.delete_nodes(quiet, list(news))
            for old in self.olds:
                self.pairs.pop(old, None)
            quiet.checkpoint()
        except exceptions.OperationInterrupted:
            raise
        except Exception:
            LOG.exception("cluster %s: undoing a failed upgrade batch failed", quiet.cluster.uuid)
            return False
        return True


_PHASES = {
    "build": "building the new nodes",
    "join": "joining the new nodes",
    "move": "moving containers",
    "drain": "draining the old nodes",
    "delete": "deleting the old nodes",
}


def _quietly(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except exceptions.MagnumError as exc:
        LOG.info("%s: %s", what, exc)
        return None


def _move_one(
    caps: capabilities.ContainerInterface,
    coe: base.CoeDriver,
    task: base.ClusterTask,
    *,
    db: engine.Database,
    row: models.Container,
    src: base.Node,
    dst: base.Node,
) -> None:
    """One container: a copy on `dst` in the state the original is in, the row switched to
    it, then the original removed. The original's state is read from its engine (the row
    may lag); a `src` that does not answer leaves the row's word."""
    old_id = row.docker_id or _quietly(
        f"container {row.uuid}", lambda: caps.find(task, src, row.uuid)
    )
    status = row.status or fields.ContainerStatus.STOPPED
    if old_id is not None:
        found = _quietly(f"container {row.uuid}", lambda: caps.state(task, src, old_id))
        if found is not None and found.status != fields.ContainerStatus.ERROR:
            status = found.status
    spec = capabilities.ContainerSpec(
        uuid=row.uuid,
        name=row.name,
        image=row.image,
        command=row.command,
        environment=dict(row.environment or {}),
        memory_bytes=containers.memory_bytes(row.memory),
    )
    new_id = caps.find(task, dst, row.uuid)
    if new_id is None:
        try:
            new_id = caps.create(task, dst, spec)
        except exceptions.ImageNotAvailable:
            # an image loaded into the old node only (POST /v1/bays/{bay}/images)
            coe.copy_images(task, src, dst, [row.image])
            new_id = caps.create(task, dst, spec)
    live = status in (fields.ContainerStatus.RUNNING, fields.ContainerStatus.PAUSED)
    if live:
        caps.action(task, dst, new_id, capabilities.ContainerAction.START)
        if status == fields.ContainerStatus.PAUSED:
            caps.action(task, dst, new_id, capabilities.ContainerAction.PAUSE)
    shown = status if live else fields.ContainerStatus.STOPPED
    if not containers.relocate(
        db, row.uuid, from_host=src.name, host=dst.name, docker_id=new_id, status=shown
    ):  # deleted (or moved) meanwhile: the copy goes
        _quietly(f"container {row.uuid}", lambda: caps.remove(task, dst, new_id))
        return
    if old_id is not None:
        _quietly(f"container {row.uuid}", lambda: caps.remove(task, src, old_id))


HANDLERS: dict[fields.Operation, Callable[[registry.Drivers, task_mod.Task], None]] = {
    fields.Operation.UPGRADE: upgrade,
}
