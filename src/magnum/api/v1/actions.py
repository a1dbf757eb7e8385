# SPDX-License-Identifier: Apache-2.0
"""POST /v1/clusters/{ident}/actions/resize (from 1.7): set one worker nodegroup's count,
maybe naming the nodes to remove.

Body: `node_count` (>= 0; 0 only from 1.10), `nodes_to_remove` (names or addresses of
the group's nodes; the conductor removes those, and the highest-indexed ones for the
rest), `nodegroup` (name or uuid; the default worker group when left out). The count must
lie in the group's [min_node_count, max_node_count] and pass the drivers' checks, the
project's quotas and the host's budget before anything is recorded; the answer is 202
{"uuid": <the cluster's>} and the conductor reconciles (magnum.conductor.handlers.cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import falcon

from magnum.api import microversions, schemas
from magnum.api.v1 import clusters as clusters_api
from magnum.api.v1 import common
from magnum.api.v1 import nodegroups as nodegroups_api
from magnum.common import exceptions
from magnum.db import models
from magnum.objects import clusters, nodegroups, vocabulary

GATE = microversions.gate(since="1.7")


def _in_bounds(group: models.NodeGroup, node_count: int) -> None:
    low, high = group.min_node_count, group.max_node_count
    if node_count < low or (high is not None and node_count > high):
        raise exceptions.InvalidParameterValue(
            err=f"Resizing {group.name} outside the allowed range: min_node_count = {low}, "
            f"max_node_count = {high}"
        )


def nodes_to_remove(group: models.NodeGroup, asked: Sequence[str], node_count: int) -> list[str]:
    """The names of the nodes `asked` names (by name or address), each of `group`, and no
    more than the resize removes."""
    names = list(group.node_names or [])
    addresses = list(group.node_addresses or [])
    by_address = dict(zip(addresses, names, strict=True)) if len(addresses) == len(names) else {}
    chosen: list[str] = []
    for ident in asked:
        name = ident if ident in names else by_address.get(ident)
        if name is None:
            raise exceptions.InvalidParameterValue(
                err=f"Node {exceptions.shorten(ident)} is not a node of nodegroup {group.name}."
            )
        if name not in chosen:
            chosen.append(name)
    removed = max(len(names) - node_count, 0)
    if len(chosen) > removed:
        raise exceptions.InvalidParameterValue(
            err=f"nodes_to_remove names {len(chosen)} nodes, but resizing {group.name} from "
            f"{len(names)} to {node_count} nodes removes {removed}."
        )
    return chosen


class Resize(nodegroups_api.ClusterChild):
    def on_post(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        body = schemas.validate(
            schemas.ResizeBody, common.json_body(req, argument="cluster_resize_req")
        )
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            cluster = clusters.get(session, ctx, ident, for_update=True, vocab=vocabulary.CLUSTER)
            self.api.policy.authorize("cluster:resize", ctx, common.target(cluster))
            clusters_api.refuse_zero_nodes(microversions.negotiated(req), body.node_count)
            group = self._group(session, cluster, body.nodegroup)
            _in_bounds(group, body.node_count)
            named = nodes_to_remove(group, body.nodes_to_remove, body.node_count)
            clusters.request_nodegroup_update(
                session,
                cluster,
                ctx,
                group,
                body.node_count,
                action=nodegroups.UPDATE,
                default_timeout=self.api.default_bay_timeout,
                args={"nodes_to_remove": named} if named else None,
                check=self.check_for(group),
                limits=self.api.limits(),
            )
        self._notify(ctx, cluster.uuid)
        common.send(resp, {"uuid": cluster.uuid}, status=202)

    @staticmethod
    def _group(session: Any, cluster: models.Cluster, ident: str | None) -> models.NodeGroup:
        if ident is None:
            group = nodegroups.default(session, cluster.uuid, nodegroups.WORKER)
            if group is None:
                raise nodegroups.NodeGroupNotFound(nodegroup=nodegroups.DEFAULT_WORKER)
        else:
            group = nodegroups.get(session, cluster.uuid, ident, for_update=True)
        if group.role == nodegroups.MASTER:
            raise exceptions.InvalidParameterValue(
                err="Resizing a master nodegroup is not supported."
            )
        if group.status in nodegroups.DELETING:
            raise exceptions.InvalidState(
                detail=f"Nodegroup {group.name} is {group.status}: it can only be deleted."
            )
        return group
