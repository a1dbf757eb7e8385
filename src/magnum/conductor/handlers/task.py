# SPDX-License-Identifier: Apache-2.0
"""The conductor's implementation of drivers.base.ClusterTask. Every write goes through
magnum.objects.clusters, fenced by the lease; this module decides when to write."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from magnum.common import exceptions, utils
from magnum.db import engine, models
from magnum.drivers import base
from magnum.objects import clusters, events, fields

Superseded = clusters.Superseded


def nodegroup_view(row: models.NodeGroup) -> base.NodeGroupView:
    return base.NodeGroupView(
        name=row.name,
        role=base.Role(row.role),
        flavor_id=row.flavor_id,
        image_id=row.image_id,
        node_count=row.node_count,
        labels=dict(row.labels or {}),
        node_labels={str(k): str(v) for k, v in (row.node_labels or {}).items()},
        node_taints=tuple(dict(t) for t in row.node_taints or ()),
    )


def cluster_view(row: models.Cluster, groups: Sequence[models.NodeGroup]) -> base.ClusterView:
    return base.ClusterView(
        uuid=row.uuid,
        name=row.name,
        project_id=row.project_id,
        master_count=row.master_count,
        node_count=row.node_count,
        nodegroups=tuple(nodegroup_view(g) for g in groups),
    )


def cluster_template_view(
    row: models.ClusterTemplate, cluster: models.Cluster | None = None
) -> base.ClusterTemplateView:
    """The template as the drivers build `cluster` from it: with the cluster's own labels,
    flavors, keypair, volume size and network where it overrides them."""
    view = base.ClusterTemplateView.of(row)
    if cluster is None:
        return view
    overrides: dict[str, Any] = {
        "flavor_id": cluster.flavor_id,
        "master_flavor_id": cluster.master_flavor_id,
        "keypair_id": cluster.keypair,
        "docker_volume_size": cluster.docker_volume_size,
        "fixed_network": cluster.fixed_network,
        "floating_ip_enabled": cluster.floating_ip_enabled,
        "master_lb_enabled": cluster.master_lb_enabled,
    }
    changes = {k: v for k, v in overrides.items() if v is not None}
    if cluster.labels is not None:
        changes["labels"] = base.ClusterTemplateView.of_labels(cluster.labels)
    return dataclasses.replace(view, **changes) if changes else view


class Snapshot:
    """A read-only ClusterTask for checks on a settled cluster: no lease, nothing is written.

    Drivers may read `state`; `progress` and `checkpoint` do nothing, because a check
    must never change what an operation relies on.
    """

    def __init__(
        self,
        row: models.Cluster,
        template: models.ClusterTemplate,
        groups: Sequence[models.NodeGroup] = (),
    ) -> None:
        self._cluster = cluster_view(row, groups)
        self._cluster_template = cluster_template_view(template, row)
        self._state: dict[str, Any] = dict(row.driver_state or {})

    @property
    def cluster(self) -> base.ClusterView:
        return self._cluster

    @property
    def cluster_template(self) -> base.ClusterTemplateView:
        return self._cluster_template

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    def progress(self, reason: str) -> None:
        del reason

    def checkpoint(self) -> None:
        pass


class Task(Snapshot):
    """One operation on one cluster, run by the conductor that holds the cluster's lease."""

    def __init__(
        self,
        db: engine.Database,
        row: models.Cluster,
        template: models.ClusterTemplate,
        groups: Sequence[models.NodeGroup],
        operation: models.Operation,
        *,
        owner: str,
        lost: Callable[[str], bool],
        key_secret: bytes,
        profile: base.NodeProfile = base.DEFAULT_PROFILE,
    ) -> None:
        self._db = db
        self.key_secret = key_secret
        # How the cluster's COE wants its nodes prepared: every NodeSpec carries it.
        self.profile = profile
        self._owner = owner
        self._lost = lost
        self.op = fields.Operation(operation.kind)
        self.args: dict[str, Any] = dict(operation.args or {})
        # An update rolling back (?rollback=true): its success is ROLLBACK_COMPLETE.
        self.rolling_back = False
        self.deadline = row.operation_deadline
        self.fence = clusters.Fence(
            cluster_uuid=row.uuid,
            project_id=row.project_id,
            owner=owner,
            operation_id=operation.id,
            operation_uuid=operation.uuid,
            actor=events.Actor.of_operation(operation),
        )
        super().__init__(row, template, groups)

    @property
    def db(self) -> engine.Database:
        """The database, for a handler's own fenced writes (objects functions taking
        `fence`); drivers never get it."""
        return self._db

    def start(self) -> None:
        self._check_lease()
        clusters.start(self._db, self.fence)

    def past_deadline(self) -> bool:
        return self.deadline is not None and utils.utcnow() > self.deadline

    def progress(self, reason: str) -> None:
        if self.past_deadline():
            assert self.deadline is not None
            raise exceptions.DeadlineExceeded(
                reason=f"Bay {self.op} timed out (deadline {utils.isotime(self.deadline)})."
            )
        self._check_lease()
        clusters.progress(self._db, self.fence, reason, self._state)

    def checkpoint(self) -> None:
        self._check_lease()
        clusters.checkpoint(self._db, self.fence, self._state)

    def finish(
        self,
        status: fields.ClusterStatus,
        reason: str,
        *,
        error_code: str | None = None,
        nodes: Sequence[base.Node] | None = None,
        **values: Any,
    ) -> None:
        """Settle the operation: final status, no operation and no lease, in one write."""
        self._check_lease()
        if self.rolling_back and status is self.op.complete:
            status = fields.ClusterStatus.ROLLBACK_COMPLETE
            reason = f"Rolled back: {self._state.get('rolling_back')}; {reason}"
        elif self.rolling_back and status is self.op.failed:
            status = fields.ClusterStatus.ROLLBACK_FAILED
        addresses: dict[str, list[str]] | None = None
        if nodes is not None:
            addresses = {g.name: [] for g in self.cluster.nodegroups}
            for node in nodes:
                addresses.setdefault(node.nodegroup, []).append(node.reachable_address)
        clusters.settle(
            self._db,
            self.fence,
            status,
            reason,
            self._state,
            error_code=error_code,
            nodegroup_addresses=addresses,
            **values,
        )

    def rolled_back_to(self, counts: Mapping[str, int], sums: tuple[int, int]) -> None:
        """Run on toward the nodegroups' counts from before the update (`counts` by group
        name; `sums` the cluster's master and node counts then)."""
        self.rolling_back = True
        groups = tuple(
            dataclasses.replace(g, node_count=int(counts[g.name])) if g.name in counts else g
            for g in self._cluster.nodegroups
        )
        self._cluster = dataclasses.replace(
            self._cluster, master_count=sums[0], node_count=sums[1], nodegroups=groups
        )

    def delete_row(self) -> None:
        """Delete the cluster row and everything recorded with it, in one transaction."""
        self._check_lease()
        clusters.delete(self._db, self.fence)

    def _check_lease(self) -> None:
        if self._lost(self.cluster.uuid):
            raise exceptions.LeaseLost(cluster=self.cluster.uuid, owner=self._owner)
