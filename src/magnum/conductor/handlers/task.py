# SPDX-License-Identifier: Apache-2.0
"""The conductor's implementation of drivers.base.BayTask."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import sqlalchemy as sa

from magnum.common import exceptions, utils
from magnum.db import engine, models
from magnum.drivers import base
from magnum.objects import fields


class Superseded(Exception):
    """The bay's operation changed (e.g. delete requested during create) or the bay is gone."""


def bay_view(row: models.Bay) -> base.BayView:
    return base.BayView(
        uuid=row.uuid,
        name=row.name,
        project_id=row.project_id,
        master_count=row.master_count,
        node_count=row.node_count,
    )


def baymodel_view(row: models.BayModel) -> base.BayModelView:
    return base.BayModelView.of(row)


class Snapshot:
    """A read-only BayTask for checks on a settled bay: no lease, nothing is written.

    Drivers may read `state`; `progress` and `checkpoint` do nothing, because a check
    must never change what an operation relies on.
    """

    def __init__(self, row: models.Bay, template: models.BayModel) -> None:
        self._bay = bay_view(row)
        self._baymodel = baymodel_view(template)
        self._state: dict[str, Any] = dict(row.driver_state or {})

    @property
    def bay(self) -> base.BayView:
        return self._bay

    @property
    def baymodel(self) -> base.BayModelView:
        return self._baymodel

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    def progress(self, reason: str) -> None:
        del reason

    def checkpoint(self) -> None:
        pass


class Task(Snapshot):
    """One operation on one bay, run by the conductor that holds the bay's lease."""

    def __init__(
        self,
        db: engine.Database,
        row: models.Bay,
        template: models.BayModel,
        *,
        owner: str,
        lost: Callable[[str], bool],
        key_secret: bytes,
    ) -> None:
        self._db = db
        self.key_secret = key_secret
        self._owner = owner
        self._lost = lost
        assert row.operation is not None, "a task exists only for a pending operation"
        self.op = fields.Operation(row.operation)
        self.deadline = row.operation_deadline
        super().__init__(row, template)

    def progress(self, reason: str) -> None:
        if self.deadline is not None and utils.utcnow() > self.deadline:
            raise exceptions.BayOperationFailed(
                reason=f"Bay {self.op} timed out (deadline {utils.isotime(self.deadline)})."
            )
        self._write(status_reason=reason, driver_state=self._state)

    def checkpoint(self) -> None:
        self._write(driver_state=self._state)

    def finish(self, status: fields.BayStatus, reason: str, **values: Any) -> None:
        """Settle the operation: final status, no operation and no lease, in one write, so
        a settled bay never shows an owner (not even one that died right after)."""
        self._write(
            status=status,
            status_reason=reason,
            operation=None,
            operation_deadline=None,
            lease_owner=None,
            lease_expires_at=None,
            driver_state=self._state,
            **values,
        )

    def delete_row(self) -> None:
        """Delete the bay row and its containers' rows in one transaction."""
        with self._db.session() as session:
            result = session.execute(
                sa.delete(models.Bay)
                .where(*self._mine())
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Superseded  # rolls back: the containers stay with the bay
            session.execute(
                sa.delete(models.Container)
                .where(models.Container.bay_uuid == self._bay.uuid)
                .execution_options(synchronize_session=False)
            )

    def _mine(self) -> tuple[sa.ColumnElement[bool], ...]:
        return (
            models.Bay.uuid == self._bay.uuid,
            models.Bay.lease_owner == self._owner,
            models.Bay.operation == self.op.value,
        )

    def _write(self, **values: Any) -> None:
        if self._lost(self._bay.uuid):
            raise exceptions.LeaseLost(bay=self._bay.uuid, owner=self._owner)
        with self._db.session() as session:
            result = session.execute(
                sa.update(models.Bay)
                .where(*self._mine())
                .values(**values, updated_at=utils.utcnow())
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Superseded
