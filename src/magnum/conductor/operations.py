# SPDX-License-Identifier: Apache-2.0
"""Runs bay operations under a lease, one thread per operation, and keeps leases alive."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures
from typing import TypeVar

import sqlalchemy as sa

from magnum.common import exceptions, utils
from magnum.conductor import leases
from magnum.conductor.handlers import bay as bay_handlers
from magnum.conductor.handlers import task as task_mod
from magnum.db import engine, models
from magnum.drivers import registry
from magnum.objects import fields

LOG = logging.getLogger(__name__)
T = TypeVar("T")
# Statuses in which a settled bay accepts a short action (loading an image).
SETTLE_WAIT = 5.0  # seconds an action waits for a just-settled operation's runner to leave
ACTION_STATUSES = (fields.BayStatus.CREATE_COMPLETE, fields.BayStatus.UPDATE_COMPLETE)


class BayOperations:
    """Owns the bay operations of one conductor process."""

    def __init__(
        self,
        db: engine.Database,
        drivers: registry.Drivers,
        *,
        owner: str,
        ttl: float,
        workers: int,
        key_secret: bytes,
    ) -> None:
        self._db = db
        self._key_secret = key_secret
        self._drivers = drivers
        self.owner = owner
        self._ttl = ttl
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bay-op")
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a bay leaves _running
        self._running: set[str] = set()
        self._lost: set[str] = set()
        # Runs started since the current heartbeat took its snapshot of _running: a lease
        # found missing by that heartbeat belongs to an earlier run (released meanwhile),
        # never to these.
        self._started: set[str] = set()

    # --- entry points -------------------------------------------------------
    def submit(self, bay_uuid: str) -> None:
        """Run the operation waiting on `bay_uuid`, unless this conductor already runs it."""
        with self._lock:
            if bay_uuid in self._running:
                return
            self._running.add(bay_uuid)
            self._started.add(bay_uuid)
        self._pool.submit(self._guarded, bay_uuid)

    def heartbeat(self) -> None:
        """Renew every lease this process holds; remember the ones taken from it."""
        with self._lock:
            running = set(self._running)
            self._started.clear()
        lost = leases.renew(self._db, running, owner=self.owner, ttl=self._ttl)
        with self._lock:
            self._lost |= (lost & self._running) - self._started

    def adopt_orphans(self) -> None:
        """Take over operations nobody holds (their conductor died, or the cast was lost)."""
        for bay_uuid in leases.unowned(self._db):
            self.submit(bay_uuid)

    def on_settled(
        self, bay_uuid: str, action: Callable[[registry.Drivers, task_mod.Snapshot], T]
    ) -> T:
        """Run `action` on a settled bay while holding its lease, so that no operation
        (scale, delete) starts under it; the lease is renewed by the heartbeat like an
        operation's. Raises BayNotFound, or InvalidState (409) when an operation is in
        flight, the status is not CREATE/UPDATE_COMPLETE, or another action holds the bay.
        An operation requested meanwhile starts as soon as the action ends."""
        with self._lock:
            # An operation that just settled leaves _running a moment after its row says
            # so: wait for that rather than refuse an action on a bay that looks settled.
            if not self._idle.wait_for(lambda: bay_uuid not in self._running, SETTLE_WAIT):
                raise exceptions.InvalidState(
                    detail=f"Bay {bay_uuid} is busy with another operation or action; "
                    "try again once it is done."
                )
            self._running.add(bay_uuid)
            self._started.add(bay_uuid)
        held = False
        try:
            self._hold(bay_uuid)
            held = True
            return action(self._drivers, self._snapshot(bay_uuid))
        finally:
            if held:
                leases.release(self._db, bay_uuid, owner=self.owner)
            with self._lock:
                self._running.discard(bay_uuid)
                self._lost.discard(bay_uuid)
                self._idle.notify_all()
            if held and self._pending(bay_uuid):
                self.submit(bay_uuid)

    def _hold(self, bay_uuid: str) -> None:
        outcome = leases.hold_settled(
            self._db,
            bay_uuid,
            owner=self.owner,
            ttl=self._ttl,
            statuses=[s.value for s in ACTION_STATUSES],
        )
        if outcome is leases.Hold.GONE:
            raise exceptions.BayNotFound(bay=bay_uuid)
        if outcome is leases.Hold.UNSETTLED:
            raise exceptions.InvalidState(
                detail=f"Bay {bay_uuid} must be CREATE_COMPLETE or UPDATE_COMPLETE with no "
                "operation in progress."
            )
        if outcome is leases.Hold.BUSY:
            raise exceptions.InvalidState(
                detail=f"Bay {bay_uuid} is busy with another action; try again once it is done."
            )

    def _snapshot(self, bay_uuid: str) -> task_mod.Snapshot:
        with self._db.session() as session:
            row = session.scalar(sa.select(models.Bay).where(models.Bay.uuid == bay_uuid))
            if row is None:
                raise exceptions.BayNotFound(bay=bay_uuid)
            template = session.scalar(
                sa.select(models.BayModel).where(models.BayModel.uuid == row.baymodel_id)
            )
            if template is None:
                raise exceptions.BayModelNotFound(baymodel=row.baymodel_id)
            return task_mod.Snapshot(row, template)

    def _pending(self, bay_uuid: str) -> bool:
        with self._db.session() as session:
            op = session.scalar(sa.select(models.Bay.operation).where(models.Bay.uuid == bay_uuid))
        return op is not None

    def shutdown(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # --- the run loop -------------------------------------------------------
    def _guarded(self, bay_uuid: str) -> None:
        try:
            self._run(bay_uuid)
        except Exception:
            LOG.exception("bay %s: operation runner crashed", bay_uuid)
        finally:
            with self._lock:
                self._running.discard(bay_uuid)
                self._lost.discard(bay_uuid)
                self._idle.notify_all()

    def _is_lost(self, bay_uuid: str) -> bool:
        with self._lock:
            return bay_uuid in self._lost

    def _run(self, bay_uuid: str) -> None:
        # (Re)take the lease before every round: a settled operation gives it up in the same
        # write that settles it, so an operation recorded meanwhile (while this runner still
        # counts as running the bay, and so would not be submitted again) is found here.
        try:
            while leases.acquire(self._db, bay_uuid, owner=self.owner, ttl=self._ttl):
                with self._lock:  # held anew: a heartbeat in the gap must not count it lost
                    self._lost.discard(bay_uuid)
                    self._started.add(bay_uuid)
                task = self._next_task(bay_uuid)
                if task is None:
                    break
                try:
                    self._run_one(task)
                except task_mod.Superseded:
                    continue  # the row now asks for something else (or is gone): look again
        except exceptions.LeaseLost:
            LOG.warning("bay %s: lease lost; another conductor carries on", bay_uuid)
            return
        leases.release(self._db, bay_uuid, owner=self.owner)

    def _next_task(self, bay_uuid: str) -> task_mod.Task | None:
        with self._db.session() as session:
            row = session.scalar(
                sa.select(models.Bay).where(
                    models.Bay.uuid == bay_uuid, models.Bay.lease_owner == self.owner
                )
            )
            if row is None or row.operation is None:
                return None
            template = session.scalar(
                sa.select(models.BayModel).where(models.BayModel.uuid == row.baymodel_id)
            )
            if template is None:  # cannot happen while the bay references it; be safe
                template = models.BayModel(uuid=row.baymodel_id, coe="", labels={})
            return task_mod.Task(
                self._db,
                row,
                template,
                owner=self.owner,
                lost=self._is_lost,
                key_secret=self._key_secret,
            )

    def _run_one(self, task: task_mod.Task) -> None:
        handler = bay_handlers.HANDLERS[task.op]
        LOG.info("bay %s: %s starting on %s", task.bay.uuid, task.op, self.owner)
        try:
            handler(self._drivers, task)
        except (task_mod.Superseded, exceptions.LeaseLost):
            raise
        except exceptions.MagnumError as exc:
            LOG.info("bay %s: %s failed: %s", task.bay.uuid, task.op, exc)
            task.finish(task.op.failed, exc.message)
        except Exception as exc:
            LOG.exception("bay %s: %s failed unexpectedly", task.bay.uuid, task.op)
            task.finish(task.op.failed, f"{task.op} failed: {type(exc).__name__}: {exc}")
        else:
            LOG.info("bay %s: %s done at %s", task.bay.uuid, task.op, utils.utcnow())
