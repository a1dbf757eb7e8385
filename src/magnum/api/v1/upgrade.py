# SPDX-License-Identifier: Apache-2.0
"""POST /v1/clusters/{ident}/actions/upgrade (1.8): move a cluster, or one of its
nodegroups, to another cluster template, node by node (magnum.conductor.handlers.upgrade).

Body: `cluster_template` (uuid or name), `max_batch_size` (>= 1, default 1: how many
nodes are replaced at once), `nodegroup` (optional). Without a nodegroup, or naming a
default one, the cluster's default nodegroups move to the template; a non-default
nodegroup can only be upgraded to the cluster's current template (catching up after the
cluster's upgrade), else 409 `Cluster Template is not valid for upgrade: ...`.

Order of the answers: at 1.7 a 400 `Cluster upgrade is not supported in the provided
microversion.` (below 1.7 the route is a 406 like every gated route); an unknown cluster
404; the policy (`cluster:upgrade`) 403; the body 400; an unknown template 400 below 1.10
and 404 from 1.10 (as a cluster create answers); an unknown nodegroup 404; a template of
another COE 400; the 409s (the nodegroup rule, the same template, an operation in
progress); then the drivers' checks (an infrastructure or COE that cannot upgrade, a
target they cannot build: 400) and the quotas and capacity for the replacement nodes
built ahead of the nodes they replace (400). Success: 202 `{"uuid": "<cluster uuid>"}`,
with the operation recorded (UPDATE_IN_PROGRESS) and the conductors told.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon

from magnum.api import microversions, schemas, validation
from magnum.api.v1 import common
from magnum.common import context, exceptions
from magnum.db import models
from magnum.drivers import base
from magnum.objects import cluster_templates, clusters, nodegroups

LOG = logging.getLogger(__name__)
ROUTE = microversions.gate(since="1.7")  # the route; 1.7 itself answers the 400 below
UPGRADE = microversions.gate(since="1.8")
NOT_FOUND_IS_404 = microversions.gate(since="1.10")
UNSUPPORTED = "Cluster upgrade is not supported in the provided microversion."
ARGUMENT = "cluster_upgrade"


class TemplateNotValidForUpgrade(exceptions.Conflict):
    template = "Cluster Template is not valid for upgrade: {reason}"


def surge(masters: int, workers: int, max_batch_size: int) -> int:
    """The most nodes an upgrade has built ahead of the ones they replace at once: masters
    are replaced one at a time, workers `max_batch_size` at a time."""
    return max(1 if masters else 0, min(workers, max_batch_size))


class Upgrade:
    def __init__(self, api: Any) -> None:
        self.api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        version = microversions.negotiated(req)
        if not UPGRADE.admits(version):
            raise exceptions.InvalidParameterValue(err=UNSUPPORTED)
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, for_update=True)
            self.api.policy.authorize("cluster:upgrade", ctx, common.target(row))
            body = schemas.validate(
                schemas.ClusterUpgradeBody, common.json_body(req, argument=ARGUMENT)
            )
            target = self._template(session, ctx, body.cluster_template, version)
            current = cluster_templates.by_uuid(session, row.cluster_template_id)
            group = self._nodegroup(session, row, body.nodegroup)
            if current is not None and (current.coe or "") != (target.coe or ""):
                raise exceptions.InvalidParameterValue(
                    err=f"Cluster template {target.name or target.uuid} is for {target.coe}, "
                    f"the cluster runs {current.coe}: an upgrade cannot change the COE."
                )
            if group is not None and target.uuid != row.cluster_template_id:
                raise TemplateNotValidForUpgrade(
                    reason=f"nodegroup {group.name} can only be upgraded to the cluster's "
                    f"current cluster template {row.cluster_template_id}."
                )
            if group is None and target.uuid == row.cluster_template_id:
                raise TemplateNotValidForUpgrade(
                    reason=f"cluster {row.name or row.uuid} already uses cluster template "
                    f"{target.name or target.uuid}."
                )
            masters, workers = self._counts(session, row, group)
            extra = surge(masters, workers, body.max_batch_size)

            def check() -> None:
                self._check_drivers(row, current, target, extra)

            clusters.request_upgrade(
                session,
                row,
                ctx,
                target,
                max_batch_size=body.max_batch_size,
                nodegroup=group,
                surge=extra,
                default_timeout=self.api.default_bay_timeout,
                check=check,
                limits=self.api.limits(),
            )
        self._notify(ctx, row.uuid)
        common.send(resp, {"uuid": row.uuid}, status=202)

    # --- steps -------------------------------------------------------------------------
    @staticmethod
    def _template(
        session: Any, ctx: context.RequestContext, ident: str, version: microversions.Version
    ) -> models.ClusterTemplate:
        try:
            return cluster_templates.get(session, ctx, ident)
        except exceptions.ClusterTemplateNotFound as exc:
            if NOT_FOUND_IS_404.admits(version):
                raise
            raise exceptions.InvalidParameterValue(err=exc.message) from None

    @staticmethod
    def _nodegroup(session: Any, row: models.Cluster, ident: str | None) -> models.NodeGroup | None:
        """The non-default nodegroup named (None: the default nodegroups, the cluster)."""
        if ident is None:
            return None
        group = nodegroups.get(session, row.uuid, ident, for_update=True)
        return None if group.is_default else group

    @staticmethod
    def _counts(
        session: Any, row: models.Cluster, group: models.NodeGroup | None
    ) -> tuple[int, int]:
        """(masters, workers) the upgrade replaces."""
        if group is not None:
            count = group.node_count
            return (count, 0) if group.role == nodegroups.MASTER else (0, count)
        masters = workers = 0
        for g in nodegroups.of_cluster(session, row.uuid):
            if g.is_default:
                if g.role == nodegroups.MASTER:
                    masters += g.node_count
                else:
                    workers += g.node_count
        if not masters and not workers:  # recorded before nodegroups: the counts say it
            return row.master_count, row.node_count
        return masters, workers

    def _check_drivers(
        self,
        row: models.Cluster,
        current: models.ClusterTemplate | None,
        target: models.ClusterTemplate,
        extra: int,
    ) -> None:
        """The target must build this cluster with `extra` more nodes for a while, and the
        drivers must be able to move the cluster to it."""
        drivers = self.api.drivers
        total = row.master_count + row.node_count
        validation.cluster(
            drivers,
            target,
            master_count=row.master_count,
            node_count=row.node_count + extra,
            existing=total,
        )
        now = base.ClusterTemplateView.of(current if current is not None else target)
        wanted = base.ClusterTemplateView.of(target)
        drivers.infra_for().check_upgrade(now, wanted)
        drivers.coe[wanted.coe].check_upgrade(now, wanted)

    def _notify(self, ctx: context.RequestContext, cluster_uuid: str) -> None:
        """Tell the conductors; the operation is durable already (a lost message is found by
        their scan for unowned operations)."""
        try:
            self.api.conductor.cluster_operation(ctx, cluster_uuid=cluster_uuid)
        except Exception:
            LOG.exception(
                "cluster %s: could not notify the conductors; left for their next scan",
                cluster_uuid,
            )
