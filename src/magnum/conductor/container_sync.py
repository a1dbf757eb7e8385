# SPDX-License-Identifier: Apache-2.0
"""The periodic container sync, which keeps every container's status true.

Every [conductor] container_sync_interval, each settled bay with containers is claimed by
one conductor (a conditional UPDATE of the cluster's containers_synced_at, as the health
checks do), which lists each node's containers in one engine call and writes the statuses
that changed: exited containers become Stopped, containers on a node that does not answer
(or no longer exists) Error with status_reason naming the node. A row is only written if
nobody changed it since it was read, so a sync never undoes an action.
"""

from __future__ import annotations

import datetime
import logging

from magnum.common import exceptions, utils
from magnum.conductor.handlers import container
from magnum.db import engine
from magnum.drivers import capabilities, registry
from magnum.objects import clusters, containers, fields

LOG = logging.getLogger(__name__)
READY = fields.READY
SWEEP = clusters.Sweep.CONTAINERS
# A row still without status this long after it was inserted lost its creator (a conductor
# that died mid-create): the sync looks for it in the engine like any other.
CREATING_GRACE = datetime.timedelta(seconds=120)


class ContainerSync:
    def __init__(self, db: engine.Database, drivers: registry.Drivers, *, interval: float) -> None:
        self._db = db
        self._drivers = drivers
        self._interval = interval

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
        cluster = container.load_cluster(self._db, self._drivers, cluster_uuid)
        with self._db.session() as session:
            rows = list(containers.on_cluster(session, cluster_uuid))
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
        cutoff = utils.utcnow() - CREATING_GRACE
        for row in rows:
            if row.host is None or (row.docker_id is None and row.created_at > cutoff):
                continue  # being created right now
            if row.host in down:
                containers.record_status(
                    self._db, row, fields.ContainerStatus.ERROR, down[row.host]
                )
                continue
            state = states.get(row.host, {}).get(row.uuid)
            if state is None:
                containers.record_status(
                    self._db,
                    row,
                    fields.ContainerStatus.ERROR,
                    f"the container is gone from {row.host}",
                )
            else:
                containers.record_status(self._db, row, state.status, state.reason)
