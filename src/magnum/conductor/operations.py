# SPDX-License-Identifier: Apache-2.0
"""Runs cluster operations under a lease, one thread per operation, and keeps leases alive."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent import futures
from typing import TypeVar

from magnum.common import context, exceptions, hostpaths, utils
from magnum.conductor.handlers import cluster as cluster_handlers
from magnum.conductor.handlers import rotation, upgrade
from magnum.conductor.handlers import task as task_mod
from magnum.db import engine
from magnum.drivers import registry
from magnum.objects import clusters, fields, nodegroups

LOG = logging.getLogger(__name__)
T = TypeVar("T")
# Statuses in which a settled bay accepts a short action (loading an image).
SETTLE_WAIT = 5.0  # seconds an action waits for a just-settled operation's runner to leave
ACTION_STATUSES = fields.READY
# driver_state key: why a failed update with ?rollback=true is being rolled back
ROLLING_BACK = "rolling_back"
# What runs each kind of operation.
HANDLERS = {**cluster_handlers.HANDLERS, **upgrade.HANDLERS, **rotation.HANDLERS}


class ClusterOperations:
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
        self._stopping = threading.Event()  # set at shutdown: a retrying operation stops
        self._lost: set[str] = set()
        # Runs started since the current heartbeat took its snapshot of _running: a lease
        # found missing by that heartbeat belongs to an earlier run (released meanwhile),
        # never to these.
        self._started: set[str] = set()

    # --- entry points -------------------------------------------------------
    def submit(self, cluster_uuid: str) -> None:
        """Run the operation waiting on `bay_uuid`, unless this conductor already runs it."""
        with self._lock:
            if cluster_uuid in self._running:
                return
            self._running.add(cluster_uuid)
            self._started.add(cluster_uuid)
        self._pool.submit(self._guarded, cluster_uuid)

    def heartbeat(self) -> None:
        """Renew every lease this process holds; remember the ones taken from it."""
        with self._lock:
            running = set(self._running)
            self._started.clear()
        lost = clusters.renew(self._db, running, owner=self.owner, ttl=self._ttl)
        with self._lock:
            self._lost |= (lost & self._running) - self._started

    def adopt_orphans(self) -> None:
        """Take over operations nobody holds (their conductor died, or the cast was lost)."""
        for cluster_uuid in clusters.unowned(self._db):
            self.submit(cluster_uuid)

    def on_settled(
        self, cluster_uuid: str, action: Callable[[registry.Drivers, task_mod.Snapshot], T]
    ) -> T:
        """Run `action` on a settled bay while holding its lease, so that no operation
        (scale, delete) starts under it; the lease is renewed by the heartbeat like an
        operation's. Raises BayNotFound, or InvalidState (409) when an operation is in
        flight, the status is not CREATE/UPDATE_COMPLETE, or another action holds the bay.
        An operation requested meanwhile starts as soon as the action ends."""
        with self._lock:
            # An operation that just settled leaves _running a moment after its row says
            # so: wait for that rather than refuse an action on a bay that looks settled.
            if not self._idle.wait_for(lambda: cluster_uuid not in self._running, SETTLE_WAIT):
                raise exceptions.InvalidState(
                    detail=f"Bay {cluster_uuid} is busy with another operation or action; "
                    "try again once it is done."
                )
            self._running.add(cluster_uuid)
            self._started.add(cluster_uuid)
        held = False
        try:
            self._hold(cluster_uuid)
            held = True
            return action(self._drivers, self._snapshot(cluster_uuid))
        finally:
            if held:
                clusters.release(self._db, cluster_uuid, owner=self.owner)
            with self._lock:
                self._running.discard(cluster_uuid)
                self._lost.discard(cluster_uuid)
                self._idle.notify_all()
            if held and self._pending(cluster_uuid):
                self.submit(cluster_uuid)

    def _hold(self, cluster_uuid: str) -> None:
        outcome = clusters.hold_settled(
            self._db,
            cluster_uuid,
            owner=self.owner,
            ttl=self._ttl,
            statuses=[s.value for s in ACTION_STATUSES],
        )
        if outcome is clusters.Hold.GONE:
            raise exceptions.ClusterNotFound(cluster=cluster_uuid)
        if outcome is clusters.Hold.UNSETTLED:
            raise exceptions.InvalidState(
                detail=f"Bay {cluster_uuid} must be CREATE_COMPLETE or UPDATE_COMPLETE with no "
                "operation in progress."
            )
        if outcome is clusters.Hold.BUSY:
            raise exceptions.InvalidState(
                detail=f"Bay {cluster_uuid} is busy with another action; try again once it is done."
            )

    def _snapshot(self, cluster_uuid: str) -> task_mod.Snapshot:
        with self._db.session() as session:
            loaded = clusters.load(session, cluster_uuid)
            if loaded is None:
                raise exceptions.ClusterNotFound(cluster=cluster_uuid)
            row, template, _ = loaded
            return task_mod.Snapshot(row, template, nodegroups.of_cluster(session, cluster_uuid))

    def _pending(self, cluster_uuid: str) -> bool:
        return clusters.pending(self._db, cluster_uuid)

    def shutdown(self, *, wait: bool = True) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # --- the run loop -------------------------------------------------------
    def _guarded(self, cluster_uuid: str) -> None:
        try:
            self._run(cluster_uuid)
        except Exception:
            LOG.exception("bay %s: operation runner crashed", cluster_uuid)
        finally:
            with self._lock:
                self._running.discard(cluster_uuid)
                self._lost.discard(cluster_uuid)
                self._idle.notify_all()

    def _is_lost(self, cluster_uuid: str) -> bool:
        with self._lock:
            return cluster_uuid in self._lost

    def _run(self, cluster_uuid: str) -> None:
        # (Re)take the lease before every round: a settled operation gives it up in the same
        # write that settles it, so an operation recorded meanwhile (while this runner still
        # counts as running the bay, and so would not be submitted again) is found here.
        try:
            while clusters.acquire(self._db, cluster_uuid, owner=self.owner, ttl=self._ttl):
                with self._lock:  # held anew: a heartbeat in the gap must not count it lost
                    self._lost.discard(cluster_uuid)
                    self._started.add(cluster_uuid)
                task = self._next_task(cluster_uuid)
                if task is None:
                    break
                try:
                    self._run_one(task)
                except clusters.Superseded:
                    continue  # the row now asks for something else (or is gone): look again
        except exceptions.LeaseLost:
            LOG.warning("cluster %s: lease lost; another conductor carries on", cluster_uuid)
            return
        except exceptions.OperationInterrupted:
            LOG.info("cluster %s: stopping; the operation is left to the next owner", cluster_uuid)
        clusters.release(self._db, cluster_uuid, owner=self.owner)

    def _next_task(self, cluster_uuid: str) -> task_mod.Task | None:
        with self._db.session() as session:
            loaded = clusters.load(session, cluster_uuid, owner=self.owner)
            if loaded is None:
                return None
            row, template, op = loaded
            if row.operation is None or op is None:
                return None
            return task_mod.Task(
                self._db,
                row,
                template,
                nodegroups.of_cluster(session, cluster_uuid),
                op,
                owner=self.owner,
                lost=self._is_lost,
                key_secret=self._key_secret,
                profile=self._drivers.node_profile(template.coe or ""),
            )

    def _run_one(self, task: task_mod.Task) -> None:
        actor = task.fence.actor  # who asked for the operation: its log lines name them
        caller = {"project_id": actor.project_id or "", "user_id": actor.user_id}
        if actor.request_id is not None:
            caller["request_id"] = actor.request_id
        with context.calling(caller):
            self._run_as_caller(task)

    @staticmethod
    def _failed(task: task_mod.Task) -> fields.ClusterStatus:
        return fields.ClusterStatus.ROLLBACK_FAILED if task.rolling_back else task.op.failed

    def _roll_back(self, task: task_mod.Task, reason: str) -> bool:
        """An update asked with ?rollback=true that failed puts the counts back and runs
        again toward them (once), ending ROLLBACK_COMPLETE or ROLLBACK_FAILED. False when
        there is nothing to roll back."""
        before = task.args.get("rollback")
        if task.op is not fields.Operation.UPDATE or not before or task.rolling_back:
            return False
        LOG.info(
            "cluster %s: update failed (%s); rolling back to %s", task.cluster.uuid, reason, before
        )
        task.state[ROLLING_BACK] = reason
        task.checkpoint()
        counts = clusters.roll_back(self._db, task.fence, before, reason)
        task.rolled_back_to(before, counts)
        return True

    def _run_as_caller(self, task: task_mod.Task) -> None:
        handler = HANDLERS[task.op]
        uuid = task.cluster.uuid
        task.start()
        if task.state.get(ROLLING_BACK) is not None:  # taken over while rolling back
            task.rolling_back = True
        LOG.info("cluster %s: %s starting on %s", uuid, task.op, self.owner)
        while True:
            try:
                handler(self._drivers, task)
            except exceptions.OperationInterrupted:
                raise
            except exceptions.RetryLater as exc:
                if task.past_deadline():
                    LOG.info("cluster %s: %s out of time retrying: %s", uuid, task.op, exc)
                    gave_up = exceptions.DeadlineExceeded(reason=f"Timed out: {exc.message}")
                    task.finish(task.op.failed, gave_up.message, error_code=gave_up.code)
                    return
                if self._stopping.wait(exc.delay):  # shutting down: the next owner retries
                    raise exceptions.OperationInterrupted(cluster=uuid) from exc
                LOG.info("cluster %s: %s retrying in %.1fs: %s", uuid, task.op, exc.delay, exc)
                task.progress(f"Retrying: {exc.message}")
                continue
            except exceptions.MagnumError as exc:
                LOG.info("cluster %s: %s failed: %s", uuid, task.op, exc)
                if self._roll_back(task, exc.message):
                    continue
                task.finish(self._failed(task), exc.message, error_code=exc.code)
            except Exception as exc:
                LOG.exception("cluster %s: %s failed unexpectedly", uuid, task.op)
                reason = hostpaths.scrub(f"{task.op} failed: {type(exc).__name__}: {exc}")
                if self._roll_back(task, reason):
                    continue
                task.finish(self._failed(task), reason, error_code="InternalError")
            else:
                LOG.info("cluster %s: %s done at %s", uuid, task.op, utils.utcnow())
            return
