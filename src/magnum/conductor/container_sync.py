# SPDX-License-Identifier: Apache-2.0
"""The periodic container sync, which keeps every container's status true.

Every [conductor] container_sync_interval, each settled bay with containers is claimed by
one conductor (a conditional UPDATE of the cluster's containers_synced_at, as the health
checks do), which lists each node's containers in one engine call and writes the statuses
that changed: exited containers become Stopped, containers on a node that does not answer
(or no longer exists) Error with status_reason naming the node. A row is only written if
nobody changed it since it was read, so a sync never undoes an action.

Interrupted creates. A create writes its row (no status, no docker_id), then asks Docker,
then records the Docker id. A conductor killed in between leaves a row without docker_id
and perhaps a Docker container `magnum-<uuid>`. Once such a row is older than `grace`
([conductor] container_create_grace: longer than any create still under way), each sync
resolves it on its node: the Docker container labelled with its uuid is adopted (its id
and state recorded, as the create would have), or, if the node has none, the row becomes
Error "creation was interrupted ..." and stays, as a failed bay does, for its owner to see
and delete (a create still under way after all records its id over it). The first sync
runs as the conductor starts. A Docker container labelled with the bay but with no row at
all (its row was deleted while Docker was still making it) is removed.
"""

from __future__ import annotations

import datetime
import logging

from magnum.common import exceptions, utils
from magnum.conductor.handlers import container
from magnum.db import engine, models
from magnum.drivers import base, capabilities, registry
from magnum.objects import clusters, containers, fields

LOG = logging.getLogger(__name__)
READY = fields.READY
SWEEP = clusters.Sweep.CONTAINERS
INTERRUPTED = (
    "creation was interrupted (its conductor stopped) before Docker made the container on {host}"
)


class ContainerSync:
    def __init__(
        self,
        db: engine.Database,
        drivers: registry.Drivers,
        *,
        interval: float,
        grace: float = 120.0,
    ) -> None:
        self._db = db
        self._drivers = drivers
        self._interval = interval
        self._grace = datetime.timedelta(seconds=grace)

    def sync(self) -> None:
        """Sync every due bay with containers, a page at a time: each page is read, claimed
        and loaded (bays and their containers) in a fixed number of queries; then each bay's
        nodes are asked, and only the statuses that changed are written."""
        statuses = [s.value for s in READY]
        interval = self._interval * 0.9
        for page in clusters.due_pages(self._db, SWEEP, interval=interval, statuses=statuses):
            with self._db.session() as session:
                holding = containers.clusters_with_containers(session, page)
            claimed = clusters.claim_many(
                self._db, SWEEP, holding, interval=interval, statuses=statuses
            )
            if not claimed:
                continue
            with self._db.session() as session:
                loaded = clusters.load_many(session, claimed)
                rows = containers.on_clusters(session, claimed)
            for row, template, _ in loaded:
                try:
                    cluster = container.cluster_containers(self._drivers, row, template)
                    self._sync(cluster, rows.get(row.uuid, []))
                except Exception:  # a bay's sync never stops the others
                    LOG.exception("bay %s: container sync failed", row.uuid)

    def sync_cluster(self, cluster_uuid: str) -> None:
        cluster = container.load_cluster(self._db, self._drivers, cluster_uuid)
        with self._db.session() as session:
            rows = list(containers.on_cluster(session, cluster_uuid))
        self._sync(cluster, rows)

    def _sync(self, cluster: container.ClusterContainers, rows: list[models.Container]) -> None:
        cluster_uuid = cluster.row.uuid
        if not rows:
            return
        nodes = cluster.nodes()
        states: dict[str, dict[str, capabilities.ContainerState]] = {}
        down: dict[str, str] = {}
        for host in sorted({r.host for r in rows if r.host}):
            node = nodes.get(host)
            if node is None:
                down[host] = container.gone_reason(host)
                continue
            try:
                states[host] = cluster.containers.states(cluster.task, node)
            except exceptions.MagnumError as exc:
                LOG.info("bay %s: node %s: %s", cluster_uuid, host, exc)
                down[host] = f"node {host} is not answering"
        cutoff = utils.utcnow() - self._grace
        for row in rows:
            if row.host is None or (row.docker_id is None and row.created_at > cutoff):
                continue  # being created right now
            if row.host in down:
                containers.record_status(
                    self._db, row, fields.ContainerStatus.ERROR, down[row.host]
                )
                continue
            state = states.get(row.host, {}).get(row.uuid)
            if row.docker_id is None:
                self._resolve(cluster_uuid, row, state)
            elif state is None:
                containers.record_status(
                    self._db,
                    row,
                    fields.ContainerStatus.ERROR,
                    f"the container is gone from {row.host}",
                )
            else:
                containers.record_status(self._db, row, state.status, state.reason)
        self._remove_orphans(cluster, nodes, states, {r.uuid for r in rows})

    def _resolve(
        self,
        cluster_uuid: str,
        row: models.Container,
        state: capabilities.ContainerState | None,
    ) -> None:
        """A row whose creator died before recording the Docker id: adopt the container
        labelled with its uuid, or mark it Error."""
        if state is not None and state.container_id is not None:
            if containers.adopt(self._db, row.uuid, state.container_id, state.status, state.reason):
                LOG.info(
                    "bay %s: container %s adopted from %s (its create was interrupted)",
                    cluster_uuid,
                    row.uuid,
                    row.host,
                )
            return
        reason = INTERRUPTED.format(host=row.host)
        if row.status != fields.ContainerStatus.ERROR or row.status_reason != reason:
            LOG.info("bay %s: container %s: %s", cluster_uuid, row.uuid, reason)
        containers.record_status(self._db, row, fields.ContainerStatus.ERROR, reason)

    def _remove_orphans(
        self,
        cluster: container.ClusterContainers,
        nodes: dict[str, base.Node],
        states: dict[str, dict[str, capabilities.ContainerState]],
        known: set[str],
    ) -> None:
        """Remove Docker containers labelled with the bay that have no row. Every row is
        written before its container is made, so one still missing after the listing is
        gone for good (deleted while Docker was still making the container)."""
        unknown = {u for found in states.values() for u in found if u not in known}
        if not unknown:
            return
        with self._db.session() as session:
            orphans = unknown - containers.existing(session, unknown)
        for host, found in states.items():
            for uuid in sorted(orphans & set(found)):
                cid = found[uuid].container_id
                if cid is None:
                    continue
                try:
                    cluster.containers.remove(cluster.task, nodes[host], cid)
                except exceptions.MagnumError as exc:
                    LOG.info("bay %s: orphan %s on %s: %s", cluster.row.uuid, uuid, host, exc)
                    continue
                LOG.warning(
                    "bay %s: removed Docker container of %s from %s: it has no row",
                    cluster.row.uuid,
                    uuid,
                    host,
                )
