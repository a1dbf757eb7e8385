# SPDX-License-Identifier: Apache-2.0
"""Pods, services and replication controllers of a bay (drivers.capabilities.
WorkloadInterface): the RPC calls of /v1/pods, /v1/services and /v1/rcs, arriving
through magnum.conductor.endpoints.WorkloadEndpoint.

Nothing is written: each call reads the bay's row, builds a read-only task (Snapshot: the
driver state holds the cluster's API address and credentials) and asks the driver, which
asks the cluster. No lease is taken, as for containers: the calls are short, many run at
once, and the cluster's API serialises them itself.

The bay's state decides what may happen (an InvalidState, 409, says why otherwise):
  - creates and updates need a settled bay: CREATE_COMPLETE or UPDATE_COMPLETE, with no
    operation in progress;
  - reads and deletes need a bay whose API was built: not CREATE_IN_PROGRESS or
    CREATE_FAILED, and not being deleted;
  - a delete on a bay being deleted (or gone) does nothing, as in Magnum Mitaka: the
    objects go with the bay.

An `ident` is a uid or a name, as Magnum looked them up: a uuid is matched among the
listed objects' uids (none: PodNotFound & co., 404), anything else read by name (the
cluster's own 404 then passes on as WorkloadNotFound).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from magnum.common import exceptions, utils
from magnum.conductor.handlers import task as task_mod
from magnum.db import engine, models
from magnum.drivers import capabilities, registry
from magnum.objects import clusters, fields

LOG = logging.getLogger(__name__)
Kind = capabilities.WorkloadKind
S = fields.ClusterStatus
_NOT_BUILT = frozenset({S.CREATE_IN_PROGRESS, S.CREATE_FAILED})
_GOING = frozenset({S.DELETE_IN_PROGRESS, S.DELETE_FAILED, S.DELETE_COMPLETE})


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterWorkloads:
    """A bay as the workload calls see it: a read-only task, its row and the workloads its
    COE driver offers."""

    task: task_mod.Snapshot
    row: models.Cluster
    workloads: capabilities.WorkloadInterface

    @property
    def going(self) -> bool:
        """The bay is being deleted (or its delete failed): its objects go with it."""
        return self.row.status in _GOING or self.row.operation == fields.Operation.DELETE

    def check(self, *, write: bool) -> None:
        row = self.row
        if write and row.operation is None and row.status in fields.READY:
            return
        if not write and row.status not in _NOT_BUILT and not self.going:
            return
        state = f"{row.status}, {row.operation} requested" if row.operation else row.status
        need = (
            "CREATE_COMPLETE or UPDATE_COMPLETE with no operation in progress"
            if write
            else "created and not being deleted"
        )
        raise exceptions.InvalidState(
            detail=f"Bay {row.name or row.uuid} is {state}; its Kubernetes objects can be "
            f"{'created and changed' if write else 'read'} when the bay is {need}."
        )


class Workloads:
    def __init__(self, db: engine.Database, drivers: registry.Drivers) -> None:
        self._db = db
        self._drivers = drivers

    def _cluster(self, cluster_uuid: str) -> ClusterWorkloads:
        """The bay, if its COE driver offers workloads. Raises BayNotFound, or
        CapabilityNotOffered (400, naming the COE)."""
        with self._db.session() as session:
            loaded = clusters.load(session, cluster_uuid)
        if loaded is None:
            raise exceptions.BayNotFound(cluster=cluster_uuid)
        row, template, _ = loaded
        offered = self._drivers.workloads_for(template.coe or "")
        return ClusterWorkloads(task=task_mod.Snapshot(row, template), row=row, workloads=offered)

    def create(self, cluster_uuid: str, kind: Kind, manifest: Mapping[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(cluster_uuid)
        cluster.check(write=True)
        made = cluster.workloads.create(cluster.task, kind, manifest)
        LOG.info("bay %s: %s %s created", cluster_uuid, kind, made.name)
        return made.as_dict()

    def list(self, cluster_uuid: str, kind: Kind) -> list[dict[str, Any]]:
        cluster = self._cluster(cluster_uuid)
        cluster.check(write=False)
        return [w.as_dict() for w in cluster.workloads.list(cluster.task, kind)]

    def show(self, cluster_uuid: str, kind: Kind, ident: str) -> dict[str, Any]:
        cluster = self._cluster(cluster_uuid)
        cluster.check(write=False)
        return self._find(cluster, kind, ident).as_dict()

    def update(
        self, cluster_uuid: str, kind: Kind, ident: str, manifest: Mapping[str, Any]
    ) -> dict[str, Any]:
        cluster = self._cluster(cluster_uuid)
        cluster.check(write=True)
        name = self._name(cluster, kind, ident)
        metadata = manifest.get("metadata")
        named = metadata.get("name") if isinstance(metadata, Mapping) else None
        if named != name:
            raise exceptions.InvalidParameterValue(
                err=f"The manifest names {kind} {exceptions.shorten(named)}: an update replaces "
                f"{kind} {name} and cannot rename it."
            )
        replaced = cluster.workloads.replace(cluster.task, kind, name, manifest)
        LOG.info("bay %s: %s %s replaced", cluster_uuid, kind, name)
        return replaced.as_dict()

    def delete(self, cluster_uuid: str, kind: Kind, ident: str) -> None:
        try:
            cluster = self._cluster(cluster_uuid)
        except exceptions.ClusterNotFound:
            return  # the bay is gone, and its objects with it
        if cluster.going:
            return
        cluster.check(write=False)
        name = self._name(cluster, kind, ident)
        cluster.workloads.delete(cluster.task, kind, name)
        LOG.info("bay %s: %s %s deleted", cluster_uuid, kind, name)

    # --- lookups ----------------------------------------------------------------------
    @staticmethod
    def _find(cluster: ClusterWorkloads, kind: Kind, ident: str) -> capabilities.Workload:
        if not utils.is_uuid_like(ident):
            return cluster.workloads.show(cluster.task, kind, ident)
        for workload in cluster.workloads.list(cluster.task, kind):
            if workload.uid == ident:
                return workload
        raise exceptions.WORKLOAD_NOT_FOUND[str(kind)].of(ident)

    def _name(self, cluster: ClusterWorkloads, kind: Kind, ident: str) -> str:
        """The name of the object `ident` (a uid is looked up; a name is taken as it is)."""
        if not utils.is_uuid_like(ident):
            return ident
        return self._find(cluster, kind, ident).name
