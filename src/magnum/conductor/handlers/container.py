# SPDX-License-Identifier: Apache-2.0
"""Containers on bays whose COE driver offers them (drivers.capabilities.ContainerInterface):
placement, and the engine calls through that interface. The periodic sync that keeps every
container's status true is magnum.conductor.container_sync; the RPC calls arrive through
magnum.conductor.endpoints.ContainerEndpoint. Rows are written by magnum.objects.containers.

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

A bay whose COE driver offers no containers is refused with a 400 naming its COE
(CapabilityNotOffered), as the API does before calling.

Execute and logs run within the Limits the API sends (time, output; the driver kills a
command past them) and at most `max_calls` at once per conductor: one more is refused at
once with TooBusy (503, Retry-After), so that long commands never hold every RPC thread.

A create whose conductor died between the row and the Docker id leaves a row without
docker_id; the container sync resolves it (magnum.conductor.container_sync), and a delete
finds its Docker container by label all the same.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import shlex
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from magnum.common import exceptions, utils
from magnum.conductor.handlers import task as task_mod
from magnum.db import engine, models
from magnum.drivers import base, capabilities, registry
from magnum.objects import clusters, containers, fields

LOG = logging.getLogger(__name__)
T = TypeVar("T")
READY = fields.READY
RETRY_AFTER = 5  # seconds a caller refused for want of an execute/logs slot waits
Action = capabilities.ContainerAction
AFTER_ACTION = {
    Action.START: fields.ContainerStatus.RUNNING,
    Action.STOP: fields.ContainerStatus.STOPPED,
    Action.REBOOT: fields.ContainerStatus.RUNNING,
    Action.PAUSE: fields.ContainerStatus.PAUSED,
    Action.UNPAUSE: fields.ContainerStatus.RUNNING,
}


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterContainers:
    """A bay as the container calls see it: a read-only task, its row, its infrastructure
    driver and the containers its COE driver offers."""

    task: task_mod.Snapshot
    row: models.Cluster
    infra: base.InfraDriver
    containers: capabilities.ContainerInterface

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


def load_cluster(
    db: engine.Database, drivers: registry.Drivers, cluster_uuid: str
) -> ClusterContainers:
    """The bay, if its COE driver offers containers. Raises ClusterNotFound, or
    CapabilityNotOffered (400, naming the COE)."""
    with db.session() as session:
        loaded = clusters.load(session, cluster_uuid)
    if loaded is None:
        raise exceptions.ClusterNotFound(cluster=cluster_uuid)
    row, template, _ = loaded
    return cluster_containers(drivers, row, template)


def cluster_containers(
    drivers: registry.Drivers, row: models.Cluster, template: models.ClusterTemplate
) -> ClusterContainers:
    """A loaded bay and its template as the container calls see it. Raises
    CapabilityNotOffered (400, naming the COE) if its COE driver offers no containers."""
    offered = drivers.containers_for(template.coe or "")
    task = task_mod.Snapshot(row, template)
    return ClusterContainers(
        task=task, row=row, infra=drivers.infra_for(task.state.get("infra")), containers=offered
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
    def __init__(
        self,
        db: engine.Database,
        drivers: registry.Drivers,
        *,
        limits: capabilities.Limits,
        max_calls: int,
    ) -> None:
        self._db = db
        self._drivers = drivers
        self._limits = limits  # for callers that send none
        self._max_calls = max_calls
        self._slots = threading.BoundedSemaphore(max_calls)
        self._locks: collections.defaultdict[str, threading.Lock] = collections.defaultdict(
            threading.Lock
        )
        self._locks_lock = threading.Lock()

    # --- lookups ----------------------------------------------------------------------
    def _cluster(self, cluster_uuid: str) -> ClusterContainers:
        return load_cluster(self._db, self._drivers, cluster_uuid)

    def _container(self, uuid: str) -> models.Container:
        with self._db.session() as session:
            row = containers.get_by_uuid(session, uuid)
        if row is None:
            raise exceptions.ContainerNotFound(container=uuid)
        return row

    def _where(self, row: models.Container, cluster: ClusterContainers) -> base.Node:
        """The node running `row`; 409 if it is being created (or never was) or its node is
        gone."""
        if row.docker_id is None or row.host is None:
            if row.status is not None:  # the sync found its create interrupted
                raise exceptions.InvalidState(
                    detail=f"Container {row.uuid} has no Docker container "
                    f"({row.status_reason}); delete it."
                )
            raise exceptions.InvalidState(
                detail=f"Container {row.uuid} is still being created; try again shortly."
            )
        node = cluster.nodes().get(row.host)
        if node is None:
            reason = gone_reason(row.host)
            self._record(row, fields.ContainerStatus.ERROR, reason)
            raise exceptions.NodeGone(detail=f"Container {row.uuid}: {reason}.")
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
        spec = capabilities.ContainerSpec(
            uuid=uuid,
            name=values.get("name"),
            image=values["image"],
            command=values.get("command"),
            environment=dict(values.get("environment") or {}),
            memory_bytes=containers.memory_bytes(values.get("memory")),
        )
        try:
            docker_id = cluster.containers.create(cluster.task, node, spec)
        except BaseException as exc:
            if isinstance(exc, exceptions.NodeUnavailable):  # the engine may have made it
                self._remove_found_quietly(cluster, node, uuid)
            containers.delete(self._db, uuid)
            raise
        if not containers.mark_created(self._db, uuid, docker_id):
            # The bay (and with it the row) was deleted meanwhile: leave nothing in Docker.
            self._remove_quietly(cluster, node, docker_id)
            raise exceptions.InvalidState(
                detail=f"Bay {cluster.row.uuid} was deleted while the container was created."
            )
        LOG.info("container %s created on %s of bay %s", uuid, node.name, cluster.row.uuid)
        return uuid

    def _insert(
        self,
        cluster: ClusterContainers,
        *,
        uuid: str,
        owner: dict[str, Any],
        values: dict[str, Any],
        candidates: Sequence[base.Node],
        capacity: dict[str, int | None],
        need: int,
    ) -> base.Node:
        by_name = {n.name: n for n in candidates}

        def place(placed: Sequence[Any]) -> str:
            return choose(candidates, capacity, placed, need, cluster=cluster.row.uuid).name

        try:
            host = containers.insert_placed(
                self._db,
                cluster_uuid=cluster.row.uuid,
                statuses=[s.value for s in READY],
                uuid=uuid,
                owner=owner,
                values=values,
                place=place,
            )
        except clusters.NotReady as exc:
            raise exceptions.InvalidState(detail=_not_ready(exc.row)) from None
        return by_name[host]

    @staticmethod
    def _remove_found_quietly(cluster: ClusterContainers, node: base.Node, uuid: str) -> None:
        try:
            docker_id = cluster.containers.find(cluster.task, node, uuid)
            if docker_id is not None:
                cluster.containers.remove(cluster.task, node, docker_id)
        except exceptions.MagnumError as exc:
            LOG.info("container %s on %s: could not look for it: %s", uuid, node.name, exc)

    @staticmethod
    def _remove_quietly(cluster: ClusterContainers, node: base.Node, docker_id: str) -> None:
        try:
            cluster.containers.remove(cluster.task, node, docker_id)
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
            state = cluster.containers.state(cluster.task, node, row.docker_id)
        except exceptions.NodeUnavailable as exc:
            self._record(row, fields.ContainerStatus.ERROR, _reason(exc, row))
            return
        self._record(row, state.status, state.reason)

    def action(self, uuid: str, action: capabilities.ContainerAction) -> None:
        row = self._container(uuid)
        cluster = self._cluster(row.cluster_uuid)
        cluster.check_ready()
        node = self._where(row, cluster)
        assert row.docker_id is not None  # _where checked
        try:
            cluster.containers.action(cluster.task, node, row.docker_id, action)
        except exceptions.NodeUnavailable as exc:
            self._record(row, fields.ContainerStatus.ERROR, _reason(exc, row))
            raise
        except exceptions.InvalidState:
            self._refresh_quietly(cluster, node, row)
            raise
        self._record(row, AFTER_ACTION[action], None, force=True)

    def logs(self, uuid: str, limits: capabilities.Limits | None = None) -> capabilities.Output:
        bounds = limits or self._limits
        with self._slot():
            return self._read(
                uuid,
                lambda cluster, node, cid: cluster.containers.logs(cluster.task, node, cid, bounds),
            )

    def execute(
        self, uuid: str, command: str, limits: capabilities.Limits | None = None
    ) -> capabilities.Output:
        argv = command_argv(command)
        if not argv:
            raise exceptions.InvalidParameterValue(err="Command to execute can not be empty.")
        bounds = limits or self._limits
        with self._slot():
            return self._read(
                uuid,
                lambda cluster, node, cid: cluster.containers.exec(
                    cluster.task, node, cid, argv, bounds
                ),
            )

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the conductor's execute/logs slots, or TooBusy at once."""
        if not self._slots.acquire(blocking=False):
            raise exceptions.TooBusy(
                detail=f"This conductor already runs {self._max_calls} container execute "
                "and logs calls ([conductor] max_concurrent_execs).",
                retry_after=RETRY_AFTER,
            )
        try:
            yield
        finally:
            self._slots.release()

    def _read(self, uuid: str, call: Callable[[ClusterContainers, base.Node, str], T]) -> T:
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
        """Remove the container from Docker (forcibly), then its row. A row without a
        Docker id (its create was interrupted, or is under way) has its container found by
        label: a create still under way finds its row gone and removes what it made."""
        try:
            row = self._container(uuid)
        except exceptions.ContainerNotFound:
            return
        try:
            cluster: ClusterContainers | None = self._cluster(row.cluster_uuid)
        except exceptions.NotFound:
            cluster = None  # the bay is gone, and its nodes with it
        if cluster is not None and cluster.row.operation != fields.Operation.DELETE:
            node = cluster.nodes().get(row.host or "")
            if node is not None:
                docker_id = row.docker_id or cluster.containers.find(cluster.task, node, uuid)
                if docker_id is not None:
                    cluster.containers.remove(cluster.task, node, docker_id)
        containers.delete(self._db, uuid)
        LOG.info("container %s deleted", uuid)

    def _refresh_quietly(
        self, cluster: ClusterContainers, node: base.Node, row: models.Container
    ) -> None:
        assert row.docker_id is not None
        try:
            state = cluster.containers.state(cluster.task, node, row.docker_id)
        except exceptions.MagnumError:
            return
        self._record(row, state.status, state.reason)

    def _record(
        self, row: models.Container, status: str, reason: str | None, *, force: bool = False
    ) -> None:
        containers.record_status(self._db, row, status, reason, force=force)


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


def gone_reason(host: str) -> str:
    return f"node {host} no longer exists"


def _reason(exc: exceptions.NodeUnavailable, row: models.Container) -> str:
    if isinstance(exc, exceptions.NodeGone):
        return gone_reason(row.host or "")
    return f"node {row.host} is not answering"
