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

import datetime
import enum
import logging

import sqlalchemy as sa

from magnum.common import utils
from magnum.conductor.handlers import task as task_mod
from magnum.db import engine, models
from magnum.drivers import registry
from magnum.objects import fields

LOG = logging.getLogger(__name__)


class HealthStatus(enum.StrEnum):
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"


class HealthChecker:
    def __init__(self, db: engine.Database, drivers: registry.Drivers, *, interval: float) -> None:
        self._db = db
        self._drivers = drivers
        self._interval = interval

    def run(self) -> None:
        """Check every settled bay whose last check is older than the interval."""
        for uuid in self._due():
            if self._claim(uuid):
                self.check(uuid)

    def _due(self) -> list[str]:
        with self._db.session() as session:
            return list(
                session.scalars(
                    sa.select(models.Bay.uuid).where(*self._due_clause(utils.utcnow()))
                ).all()
            )

    def _due_clause(self, now: datetime.datetime) -> tuple[sa.ColumnElement[bool], ...]:
        before = now - datetime.timedelta(seconds=self._interval)
        return (
            models.Bay.operation.is_(None),
            models.Bay.status.in_([s.value for s in fields.UPDATABLE]),
            sa.or_(models.Bay.health_checked_at.is_(None), models.Bay.health_checked_at < before),
        )

    def _claim(self, uuid: str) -> bool:
        now = utils.utcnow()
        with self._db.session() as session:
            result = session.execute(
                sa.update(models.Bay)
                .where(models.Bay.uuid == uuid, *self._due_clause(now))
                .values(health_checked_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def check(self, uuid: str) -> None:
        with self._db.session() as session:
            row = session.scalar(sa.select(models.Bay).where(models.Bay.uuid == uuid))
            if row is None:
                return
            template = session.scalar(
                sa.select(models.BayModel).where(models.BayModel.uuid == row.baymodel_id)
            )
        if template is None:
            return
        status, reason = self._probe(task_mod.Snapshot(row, template))
        if status == row.health_status and reason == row.health_status_reason:
            return
        values: dict[str, object] = {"health_status": status, "health_status_reason": reason}
        if status is HealthStatus.UNHEALTHY:
            values["status_reason"] = f"Unhealthy: {reason}"
        elif row.health_status == HealthStatus.UNHEALTHY:
            values["status_reason"] = f"Healthy again: {reason}"
        LOG.info("bay %s: health %s (%s)", uuid, status, reason)
        with self._db.session() as session:
            session.execute(
                sa.update(models.Bay)
                .where(models.Bay.uuid == uuid, models.Bay.operation.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def _probe(self, task: task_mod.Snapshot) -> tuple[HealthStatus, str]:
        try:
            infra = self._drivers.infra_for(task.state.get("infra"))
            coe = self._drivers.coe_for(task.baymodel.coe)
            nodes = infra.list_nodes(task)
            expected = task.bay.master_count + task.bay.node_count
            if len(nodes) < expected:
                return (
                    HealthStatus.UNHEALTHY,
                    f"{expected - len(nodes)} of {expected} nodes missing",
                )
            health = coe.health(task, nodes)
        except Exception as exc:  # noqa: BLE001 - a check reports; it never crashes the loop
            LOG.warning("bay %s: health check failed: %s", task.bay.uuid, exc)
            return HealthStatus.UNKNOWN, f"health check failed: {exc}"
        if health.healthy:
            return HealthStatus.HEALTHY, health.reason
        return HealthStatus.UNHEALTHY, health.reason
