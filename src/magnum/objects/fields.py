# SPDX-License-Identifier: Apache-2.0
"""Enumerations and the cluster status machine."""

from __future__ import annotations

import enum


class ClusterStatus(enum.StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_COMPLETE = "CREATE_COMPLETE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    UPDATE_COMPLETE = "UPDATE_COMPLETE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"
    DELETE_COMPLETE = "DELETE_COMPLETE"
    RESUME_COMPLETE = "RESUME_COMPLETE"
    RESTORE_COMPLETE = "RESTORE_COMPLETE"
    ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
    SNAPSHOT_COMPLETE = "SNAPSHOT_COMPLETE"
    CHECK_COMPLETE = "CHECK_COMPLETE"
    ADOPT_COMPLETE = "ADOPT_COMPLETE"


class Operation(enum.StrEnum):
    """A bay operation the conductor runs; each has an in-progress, complete and failed status."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def in_progress(self) -> ClusterStatus:
        return ClusterStatus(f"{self.name}_IN_PROGRESS")

    @property
    def complete(self) -> ClusterStatus:
        return ClusterStatus(f"{self.name}_COMPLETE")

    @property
    def failed(self) -> ClusterStatus:
        return ClusterStatus(f"{self.name}_FAILED")


IN_PROGRESS = frozenset(op.in_progress for op in Operation)

# A bay may be scaled only from a settled, healthy state (Mitaka's list of Heat states).
UPDATABLE = frozenset(
    {
        ClusterStatus.CREATE_COMPLETE,
        ClusterStatus.UPDATE_COMPLETE,
        ClusterStatus.RESUME_COMPLETE,
        ClusterStatus.RESTORE_COMPLETE,
        ClusterStatus.ROLLBACK_COMPLETE,
        ClusterStatus.SNAPSHOT_COMPLETE,
        ClusterStatus.CHECK_COMPLETE,
        ClusterStatus.ADOPT_COMPLETE,
    }
)


# A settled cluster accepts short actions (containers, images) in these statuses only.
READY = (ClusterStatus.CREATE_COMPLETE, ClusterStatus.UPDATE_COMPLETE)


def may_start(op: Operation, current: ClusterStatus) -> bool:
    """Whether `op` may begin on a bay currently in `current`.

    Delete is allowed from anywhere except while a delete already runs (a delete
    during a create takes the operation over: see conductor.handlers.bay).
    Update needs a settled bay whose last create or update succeeded, or a failed update.
    """
    if op is Operation.DELETE:
        return current is not ClusterStatus.DELETE_IN_PROGRESS
    if op is Operation.UPDATE:  # a failed scale may be retried (or reversed)
        return current in UPDATABLE or current is ClusterStatus.UPDATE_FAILED
    return False


class COE(enum.StrEnum):
    KUBERNETES = "kubernetes"
    SWARM = "swarm"
    MESOS = "mesos"


class ContainerStatus(enum.StrEnum):
    """What Docker says of a container (Mitaka's values)."""

    RUNNING = "Running"
    STOPPED = "Stopped"
    PAUSED = "Paused"
    ERROR = "Error"
    UNKNOWN = "Unknown"


class HealthStatus(enum.StrEnum):
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"


class ServiceState(enum.StrEnum):
    UP = "up"
    DOWN = "down"


NETWORK_DRIVERS: dict[str, tuple[str, ...]] = {
    COE.KUBERNETES: ("flannel",),
    COE.SWARM: ("docker", "flannel"),
    COE.MESOS: ("docker",),
}
VOLUME_DRIVERS: dict[str, tuple[str, ...]] = {
    COE.KUBERNETES: ("cinder",),
    COE.SWARM: ("rexray",),
    COE.MESOS: ("rexray",),
}
