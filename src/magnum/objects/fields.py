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
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"  # a failed update with ?rollback=true
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
    SNAPSHOT_COMPLETE = "SNAPSHOT_COMPLETE"
    CHECK_COMPLETE = "CHECK_COMPLETE"
    ADOPT_COMPLETE = "ADOPT_COMPLETE"


class Operation(enum.StrEnum):
    """A bay operation the conductor runs; each has an in-progress, complete and failed status."""

    CREATE = "create"
    UPDATE = "update"  # a scale or resize: the nodegroups' counts, nodegroup create/delete
    DELETE = "delete"
    # These show as UPDATE_* statuses, as Magnum's do; the operation record names them.
    UPGRADE = "upgrade"  # move a cluster or nodegroup to another template, node by node
    ROTATE_CA = "rotate_ca"  # two-phase rotation of the cluster's certificate authority
    ROTATE_CREDENTIALS = "rotate_credentials"  # reissue the conductor's client credentials

    @property
    def _status_stem(self) -> str:
        return self.name if self in _OWN_STATUSES else "UPDATE"

    @property
    def in_progress(self) -> ClusterStatus:
        return ClusterStatus(f"{self._status_stem}_IN_PROGRESS")

    @property
    def complete(self) -> ClusterStatus:
        return ClusterStatus(f"{self._status_stem}_COMPLETE")

    @property
    def failed(self) -> ClusterStatus:
        return ClusterStatus(f"{self._status_stem}_FAILED")


_OWN_STATUSES = frozenset({Operation.CREATE, Operation.UPDATE, Operation.DELETE})


IN_PROGRESS = frozenset(op.in_progress for op in Operation) | {ClusterStatus.ROLLBACK_IN_PROGRESS}
# How an update asked with ?rollback=true may end besides its own statuses.
ROLLED_BACK = (ClusterStatus.ROLLBACK_COMPLETE, ClusterStatus.ROLLBACK_FAILED)

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
    if op in (Operation.UPDATE, Operation.ROTATE_CREDENTIALS):
        # a failed scale may be retried (or reversed)
        return current in UPDATABLE or current in (
            ClusterStatus.UPDATE_FAILED,
            ClusterStatus.ROLLBACK_FAILED,
        )
    if op in (Operation.UPGRADE, Operation.ROTATE_CA):
        # from a settled cluster, or again after a failed update (both resume where the
        # failed one stopped: see their handlers)
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
