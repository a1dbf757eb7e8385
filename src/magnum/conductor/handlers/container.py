# SPDX-License-Identifier: Apache-2.0
"""Containers on swarm bays: placement, the Docker calls (through the COE driver), and
the periodic sync that keeps every container's status true.

Placement: a container goes to one of the bay's workers (masters only when the bay has
no workers). A node's free memory is its flavor's memory (InfraDriver.node_memory_mb)
minus the `memory` of the containers already placed there (running or not: a stopped
container may start again); the container goes to the node with the most free memory,
ties broken by fewest containers, then by name. The choice and the new row are one
transaction that first writes the bay row, which serialises placements on a bay on every
backend (and refuses a bay that is not settled or is being deleted); Docker is called
after it commits. A container whose Docker create fails is removed from the database
again, so a failed create leaves nothing behind.

No bay lease is taken: container calls are short and many run at once on one bay; a bay
delete deletes its container rows with the bay row, and a create that finds its row gone
afterwards removes what it made in Docker.

Sync: every [conductor] container_sync_interval, each settled bay with containers is
claimed by one conductor (a conditional UPDATE of bay.containers_synced_at, as the
health checks do), which lists each node's containers in one Docker call and writes the
statuses that changed: exited containers become Stopped, containers on a node that does
not answer (or no longer exists) Error with status_reason naming the node. A row is only
written if nobody changed it since it was read, so a sync never undoes an action.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import shlex
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import oslo_messaging as messaging
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from magnum.common import exceptions, rpc, utils
from magnum.conductor.handlers import task as task_mod
from magnum.conductor.rpcapi import RPC_VERSION
from magnum.db import engine, models
from magnum.drivers import base, registry
from magnum.objects import clusters, containers, fields

LOG = logging.getLogger(__name__)
T = TypeVar("T")
READY = fields.READY
SWEEP = clusters.Sweep.CONTAINERS
# A row still without status this long after it was inserted lost its creator (a conductor
# that died mid-create): the sync looks for it in Docker like any other.
CREATING_GRACE = datetime.timedelta(seconds=120)
AFTER_ACTION = {
    base.ContainerAction.START: fields.ContainerStatus.RUNNING,
    base.ContainerAction.STOP: fields.ContainerStatus.STOPPED,
    base.ContainerAction.REBOOT: fields.ContainerStatus.RUNNING,
    base.ContainerAction.PAUSE: fields.ContainerStatus.PAUSED,
    base.ContainerAction.UNPAUSE: fields.ContainerStatus.RUNNING,
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Cluster:
    task: task_mod.Snapshot
    row: models.Cluster
    infra: base.InfraDriver
    coe: base.CoeDriver

    @property
    def ready(self) -> bool:
        return self.row.operation is None and self.row.status in READY

    def check_ready(self) -> None:
        if not self.ready:
            raise exceptions.InvalidState(detail=_not_ready(self.row))

    def nodes(self) -> dict[str, base.Node]:
        return {n.name: n for n in self.infra.list_nodes(self.task)}


def _not_ready(row: models.Cluster) -> str:
    state = f"{row.status}, {row.operation} requested" if row.operation else row.status
    return (
        f"Bay {row.name or row.uuid} is {state}; containers need a bay that is "
        "CREATE_COMPLETE or UPDATE_COMPLETE with no operation in progress."
    )


def _check_swarm(template: models.ClusterTemplate) -> None:
    if template.coe != fields.COE.SWARM:
        raise exceptions.InvalidParameterValue(
            err=f"Cannot fulfill request with a {template.coe} bay, expecting a swarm bay."
        )


def command_argv(command: str | None) -> list[str]:
    try:
        argv = shlex.split(command or "")
    except ValueError as exc:
        raise exceptions.InvalidParameterValue(
            err=f"The command {command!r} cannot be parsed: {exc}."
        ) from None
    return argv


class Containers:
    def __init__(self, db: engine.Database, drivers: registry.Drivers, *, interval: float) -> None:
        self._db = db
        self._drivers = drivers
        self._interval = interval
        self._locks: collections.defaultdict[str, threading.Lock] = collections.defaultdict(
            threading.Lock
        )
        self._locks_lock = threading.Lock()

    # --- lookups ----------------------------------------------------------------------
    def _cluster(self, cluster_uuid: str) -> _Cluster:
        with self._db.session() as session:
            row = session.scalar(
                sa.select(models.Cluster).where(models.Cluster.uuid == cluster_uuid)
            )
            if row is None:
                raise exceptions.ClusterNotFound(cluster=cluster_uuid)
            template = session.scalar(
                sa.select(models.ClusterTemplate).where(
                    models.ClusterTemplate.uuid == row.cluster_template_id
                )
            )
        if template is None:
            raise exceptions.ClusterTemplateNotFound(cluster_template=row.cluster_template_id)
        _check_swarm(template)
        task = task_mod.Snapshot(row, template)
        return _Cluster(
            task=task,
            row=row,
            infra=self._drivers.infra_for(task.state.get("infra")),
            coe=self._drivers.coe_for(template.coe or ""),
        )

    def _container(self, uuid: str) -> models.Container:
        with self._db.session() as session:
            row = containers.get_by_uuid(session, uuid)
        if row is None:
            raise exceptions.ContainerNotFound(container=uuid)
        return row

    def _where(self, row: models.Container, cluster: _Cluster) -> base.Node:
        """The node running `row`; 409 if it is being created or its node is gone."""
        if row.docker_id is None or row.host is None:
            raise exceptions.InvalidState(
                detail=f"Container {row.uuid} is still being created; try again shortly."
            )
        node = cluster.nodes().get(row.host)
        if node is None:
            reason = f"node {row.host} no longer exists"
            self._record(row, fields.ContainerStatus.ERROR, reason)
            raise exceptions.NodeUnavailable(detail=f"Container {row.uuid}: {reason}.")
        return node

    def _lock(self, cluster_uuid: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks[cluster_uuid]

    # --- create -----------------------------------------------------------------------
    def create(self, owner: dict[str, Any], values: dict[str, Any]) -> str:
        """Place, record and create (not start) a container; return its uuid."""
        cluster = self._cluster(values["cluster_uuid"])
        cluster.check_ready()
        command_argv(values.get("command"))
        need = containers.memory_mb(values.get("memory"))
        nodes = list(cluster.nodes().values())
        workers = [n for n in nodes if n.role is base.Role.WORKER]
        candidates = workers or nodes
        if not candidates:
            raise exceptions.InvalidState(detail=f"Bay {cluster.row.uuid} has no nodes.")
        capacity = {n.name: cluster.infra.node_memory_mb(cluster.task, n) for n in candidates}
        uuid = values.get("uuid") or utils.new_uuid()
        with self._lock(cluster.row.uuid):
            node = self._insert(
                cluster,
                uuid=uuid,
                owner=owner,
                values=values,
                candidates=candidates,
                capacity=capacity,
                need=need,
            )
        spec = base.ContainerSpec(
            uuid=uuid,
            name=values.get("name"),
            image=values["image"],
            command=values.get("command"),
            environment=dict(values.get("environment") or {}),
            memory_bytes=containers.memory_bytes(values.get("memory")),
        )
        try:
            docker_id = cluster.coe.container_create(cluster.task, node, spec)
        except BaseException:
            self._delete_row(uuid)
            raise
        if not self._created(uuid, docker_id):
            # The bay (and with it the row) was deleted meanwhile: leave nothing in Docker.
            self._remove_quietly(cluster, node, docker_id)
            raise exceptions.InvalidState(
                detail=f"Bay {cluster.row.uuid} was deleted while the container was created."
            )
        LOG.info("container %s created on %s of bay %s", uuid, node.name, cluster.row.uuid)
        return uuid

    def _insert(
        self,
        cluster: _Cluster,
        *,
        uuid: str,
        owner: dict[str, Any],
        values: dict[str, Any],
        candidates: Sequence[base.Node],
        capacity: dict[str, int | None],
        need: int,
    ) -> base.Node:
        try:
            with self._db.session() as session:
                # The cluster row is locked until commit: placements on one cluster are
                # serialised, and a cluster being deleted or scaled is refused.
                try:
                    clusters.ready_lock(session, cluster.row.uuid, [s.value for s in READY])
                except clusters.NotReady as exc:
                    raise exceptions.InvalidState(detail=_not_ready(exc.row)) from None
                if containers.get_by_uuid(session, uuid) is not None:
                    raise exceptions.ContainerAlreadyExists(uuid=uuid)
                placed = session.execute(
                    sa.select(models.Container.host, models.Container.memory).where(
                        models.Container.cluster_uuid == cluster.row.uuid
                    )
                ).all()
                node = choose(candidates, capacity, placed, need, cluster=cluster.row.uuid)
                session.add(
                    models.Container(
                        uuid=uuid,
                        project_id=owner["project_id"],
                        user_id=owner.get("user_id"),
                        name=values.get("name"),
                        image=values["image"],
                        command=values.get("command"),
                        cluster_uuid=cluster.row.uuid,
                        status=None,
                        memory=values.get("memory"),
                        environment=dict(values.get("environment") or {}),
                        host=node.name,
                    )
                )
        except sa_exc.IntegrityError:
            raise exceptions.ContainerAlreadyExists(uuid=uuid) from None
        return node

    def _created(self, uuid: str, docker_id: str) -> bool:
        with self._db.session() as session:
            result = session.execute(
                sa.update(models.Container)
                .where(models.Container.uuid == uuid)
                .values(
                    docker_id=docker_id,
                    status=fields.ContainerStatus.STOPPED,
                    status_reason=None,
                    updated_at=utils.utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _delete_row(self, uuid: str) -> None:
        with self._db.session() as session:
            session.execute(
                sa.delete(models.Container)
                .where(models.Container.uuid == uuid)
                .execution_options(synchronize_session=False)
            )

    @staticmethod
    def _remove_quietly(cluster: _Cluster, node: base.Node, docker_id: str) -> None:
        try:
            cluster.coe.container_remove(cluster.task, node, docker_id)
        except exceptions.MagnumError as exc:
            LOG.warning("container %s on %s: could not remove it: %s", docker_id, node.name, exc)

    # --- reads and actions ------------------------------------------------------------
    def show(self, uuid: str) -> None:
        """Refresh the container's status from Docker (a settled bay only)."""
        row = self._container(uuid)
        cluster = self._cluster(row.cluster_uuid)
        if not cluster.ready or row.docker_id is None:
            return
        try:
            node = self._where(row, cluster)
            state = cluster.coe.container_state(cluster.task, node, row.docker_id)
        except exceptions.NodeUnavailable as exc:
            self._record(row, fields.ContainerStatus.ERROR, _reason(exc, row))
            return
        self._record(row, state.status, state.reason)

    def action(self, uuid: str, action: base.ContainerAction) -> None:
        row = self._container(uuid)
        cluster = self._cluster(row.cluster_uuid)
        cluster.check_ready()
        node = self._where(row, cluster)
        assert row.docker_id is not None  # _where checked
        try:
            cluster.coe.container_action(cluster.task, node, row.docker_id, action)
        except exceptions.NodeUnavailable as exc:
            self._record(row, fields.ContainerStatus.ERROR, _reason(exc, row))
            raise
        except exceptions.InvalidState:
            self._refresh_quietly(cluster, node, row)
            raise
        self._record(row, AFTER_ACTION[action], None, force=True)

    def logs(self, uuid: str) -> str:
        return self._read(
            uuid, lambda cluster, node, cid: cluster.coe.container_logs(cluster.task, node, cid)
        )

    def execute(self, uuid: str, command: str) -> str:
        argv = command_argv(command)
        if not argv:
            raise exceptions.InvalidParameterValue(err="Command to execute can not be empty.")
        return self._read(
            uuid,
            lambda cluster, node, cid: cluster.coe.container_exec(cluster.task, node, cid, argv),
        )

    def _read(self, uuid: str, call: Callable[[_Cluster, base.Node, str], T]) -> T:
        row = self._container(uuid)
        cluster = self._cluster(row.cluster_uuid)
        cluster.check_ready()
        node = self._where(row, cluster)
        assert row.docker_id is not None
        try:
            return call(cluster, node, row.docker_id)
        except exceptions.NodeUnavailable as exc:
            self._record(row, fields.ContainerStatus.ERROR, _reason(exc, row))
            raise
        except exceptions.InvalidState:
            self._refresh_quietly(cluster, node, row)
            raise

    def delete(self, uuid: str) -> None:
        """Remove the container from Docker (forcibly), then its row."""
        try:
            row = self._container(uuid)
        except exceptions.ContainerNotFound:
            return
        try:
            cluster: _Cluster | None = self._cluster(row.cluster_uuid)
        except exceptions.NotFound:
            cluster = None  # the bay is gone, and its nodes with it
        if cluster is not None and cluster.row.operation != fields.Operation.DELETE:
            node = cluster.nodes().get(row.host or "")
            if node is not None and row.docker_id is not None:
                cluster.coe.container_remove(cluster.task, node, row.docker_id)
        self._delete_row(uuid)
        LOG.info("container %s deleted", uuid)

    def _refresh_quietly(self, cluster: _Cluster, node: base.Node, row: models.Container) -> None:
        assert row.docker_id is not None
        try:
            state = cluster.coe.container_state(cluster.task, node, row.docker_id)
        except exceptions.MagnumError:
            return
        self._record(row, state.status, state.reason)

    def _record(
        self, row: models.Container, status: str, reason: str | None, *, force: bool = False
    ) -> None:
        """Write a new status if it changed and (unless `force`, for what an action just
        did) nobody wrote the row since it was read."""
        if row.status == status and row.status_reason == reason:
            return
        where = [models.Container.uuid == row.uuid]
        if not force:
            where.append(models.Container.updated_at.is_not_distinct_from(row.updated_at))
        with self._db.session() as session:
            session.execute(
                sa.update(models.Container)
                .where(*where)
                .values(status=status, status_reason=reason, updated_at=utils.utcnow())
                .execution_options(synchronize_session=False)
            )

    # --- periodic sync ----------------------------------------------------------------
    def sync(self) -> None:
        for cluster_uuid in self._due():
            if self._claim(cluster_uuid):
                try:
                    self.sync_cluster(cluster_uuid)
                except Exception:  # a bay's sync never stops the others
                    LOG.exception("bay %s: container sync failed", cluster_uuid)

    def _due(self) -> list[str]:
        due = clusters.due(
            self._db, SWEEP, interval=self._interval * 0.9, statuses=[s.value for s in READY]
        )
        with self._db.session() as session:
            return containers.clusters_with_containers(session, due)

    def _claim(self, cluster_uuid: str) -> bool:
        return clusters.claim(
            self._db,
            SWEEP,
            cluster_uuid,
            interval=self._interval * 0.9,
            statuses=[s.value for s in READY],
        )

    def sync_cluster(self, cluster_uuid: str) -> None:
        cluster = self._cluster(cluster_uuid)
        with self._db.session() as session:
            rows = list(containers.on_cluster(session, cluster_uuid))
        if not rows:
            return
        nodes = cluster.nodes()
        states: dict[str, dict[str, base.ContainerState]] = {}
        down: dict[str, str] = {}
        for host in sorted({r.host for r in rows if r.host}):
            node = nodes.get(host)
            if node is None:
                down[host] = f"node {host} no longer exists"
                continue
            try:
                states[host] = cluster.coe.container_states(cluster.task, node)
            except exceptions.MagnumError as exc:
                LOG.info("bay %s: node %s: %s", cluster_uuid, host, exc)
                down[host] = f"node {host} is not answering"
        cutoff = utils.utcnow() - CREATING_GRACE
        for row in rows:
            if row.host is None or (row.docker_id is None and row.created_at > cutoff):
                continue  # being created right now
            if row.host in down:
                self._record(row, fields.ContainerStatus.ERROR, down[row.host])
                continue
            state = states.get(row.host, {}).get(row.uuid)
            if state is None:
                self._record(
                    row, fields.ContainerStatus.ERROR, f"the container is gone from {row.host}"
                )
            else:
                self._record(row, state.status, state.reason)


def choose(
    candidates: Sequence[base.Node],
    capacity: dict[str, int | None],
    placed: Sequence[Any],
    need: int,
    *,
    cluster: str,
) -> base.Node:
    """The candidate with the most free memory that fits `need` MB (ties: fewest containers,
    then name). `placed` rows have .host and .memory."""
    used: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for row in placed:
        used[row.host] += containers.memory_mb(row.memory)
        count[row.host] += 1
    best: tuple[float, int, str] | None = None
    chosen: base.Node | None = None
    for node in candidates:
        total = capacity.get(node.name)
        free = float("inf") if total is None else total - used[node.name]
        if free < need:
            continue
        key = (-free, count[node.name], node.name)
        if best is None or key < best:
            best, chosen = key, node
    if chosen is None:
        raise exceptions.InvalidParameterValue(err=f"No node of bay {cluster} has {need} MB free.")
    return chosen


def _reason(exc: exceptions.MagnumError, row: models.Container) -> str:
    if isinstance(exc, exceptions.NodeUnavailable) and "no longer exists" in exc.message:
        return f"node {row.host} no longer exists"
    return f"node {row.host} is not answering"


# --- RPC ------------------------------------------------------------------------------
class ContainerEndpoint:
    """The container RPC calls; errors reach the caller as magnum exceptions."""

    target = messaging.Target(version=RPC_VERSION)

    def __init__(self, handler: Containers) -> None:
        self._handler = handler

    @staticmethod
    def _answer(what: str, fn: Callable[[], Any]) -> Any:
        return rpc.answer(what, fn)

    def container_create(self, ctxt: dict[str, Any], values: dict[str, Any]) -> Any:
        return self._answer("Creating the container", lambda: self._handler.create(ctxt, values))

    def container_show(self, ctxt: dict[str, Any], uuid: str) -> Any:
        del ctxt
        return self._answer("Refreshing the container", lambda: self._handler.show(uuid))

    def container_action(self, ctxt: dict[str, Any], uuid: str, action: str) -> Any:
        del ctxt
        return self._answer(
            f"Container {action}",
            lambda: self._handler.action(uuid, base.ContainerAction(action)),
        )

    def container_logs(self, ctxt: dict[str, Any], uuid: str) -> Any:
        del ctxt
        return self._answer("Reading logs", lambda: self._handler.logs(uuid))

    def container_exec(self, ctxt: dict[str, Any], uuid: str, command: str) -> Any:
        del ctxt
        return self._answer("Executing", lambda: self._handler.execute(uuid, command))

    def container_delete(self, ctxt: dict[str, Any], uuid: str) -> Any:
        del ctxt
        return self._answer("Deleting the container", lambda: self._handler.delete(uuid))
