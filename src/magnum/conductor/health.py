# SPDX-License-Identifier: Apache-2.0
"""Periodic health checks of settled bays.

Each bay is checked at most once per `[conductor] health_interval` across all
conductors: a conductor first *claims* the check with one conditional UPDATE of
`health_checked_at`, so of several conductors exactly one does the work. A check
never runs while an operation is in flight, and its result is written only if no
operation started meanwhile. A bay whose node daemon died or that lost a node from
its cluster gets health_status UNHEALTHY and a status_reason naming the node.
"""

from __future__ import annotations

import logging

from magnum.common import hostpaths
from magnum.conductor.handlers import task as task_mod
from magnum.db import engine, models
from magnum.drivers import registry
from magnum.objects import clusters, fields, nodegroups

LOG = logging.getLogger(__name__)


HealthStatus = fields.HealthStatus
SWEEP = clusters.Sweep.HEALTH
STATUSES = [s.value for s in fields.UPDATABLE]


class HealthChecker:
    def __init__(
        self,
        db: engine.Database,
        drivers: registry.Drivers,
        *,
        interval: float,
        conductor: str | None = None,
    ) -> None:
        self._db = db
        self._drivers = drivers
        self._interval = interval
        self._conductor = conductor

    def run(self) -> None:
        """Check every settled cluster whose last check is older than the interval, a page
        at a time: each page is read, claimed and loaded in a fixed number of queries (see
        clusters.due_pages, claim_many, load_many); only a changed health is written."""
        for page in clusters.due_pages(self._db, SWEEP, interval=self._interval, statuses=STATUSES):
            claimed = clusters.claim_many(
                self._db, SWEEP, page, interval=self._interval, statuses=STATUSES
            )
            if not claimed:
                continue
            with self._db.session() as session:
                loaded = [
                    (row, template, task_mod.Snapshot(row, template, groups))
                    for row, template, groups in clusters.load_many(session, claimed, groups=True)
                ]
            for row, template, snapshot in loaded:
                self._check(row, template, snapshot)

    def check(self, uuid: str) -> None:
        with self._db.session() as session:
            loaded = clusters.load(session, uuid)
            if loaded is None:
                return
            row, template, _ = loaded
            snapshot = task_mod.Snapshot(row, template, nodegroups.of_cluster(session, uuid))
        self._check(row, template, snapshot)

    def _check(
        self, row: models.Cluster, template: models.ClusterTemplate, snapshot: task_mod.Snapshot
    ) -> None:
        if not template.coe:
            return
        status, reason = self._probe(snapshot)
        if status == row.health_status and reason == row.health_status_reason:
            return
        LOG.info("cluster %s: health %s (%s)", row.uuid, status, reason)
        clusters.record_health(self._db, row.uuid, status, reason, conductor=self._conductor)

    def _probe(self, task: task_mod.Snapshot) -> tuple[HealthStatus, str]:
        try:
            infra = self._drivers.infra_for(task.state.get("infra"))
            coe = self._drivers.coe_for(task.cluster_template.coe)
            nodes = infra.list_nodes(task)
            expected = task.cluster.master_count + task.cluster.node_count
            if len(nodes) < expected:
                return (
                    HealthStatus.UNHEALTHY,
                    f"{expected - len(nodes)} of {expected} nodes missing",
                )
            health = coe.health(task, nodes)
        except Exception as exc:  # noqa: BLE001 - a check reports; it never crashes the loop
            LOG.warning("bay %s: health check failed: %s", task.cluster.uuid, exc)
            return HealthStatus.UNKNOWN, hostpaths.scrub(f"health check failed: {exc}")
        if health.healthy:
            return HealthStatus.HEALTHY, health.reason
        return HealthStatus.UNHEALTHY, health.reason
