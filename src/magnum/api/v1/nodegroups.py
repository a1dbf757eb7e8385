# SPDX-License-Identifier: Apache-2.0
"""/v1/clusters/{ident}/nodegroups (from 1.9): a cluster's groups of nodes.

A nodegroup is real nodes: creating one records an update of the cluster that builds
its nodes (with the group's flavor, image and labels) and joins them; deleting one
records an update that drains and removes them, then the group. Both answer at once
(202, 204) and the group's status tells how it goes (CREATE_IN_PROGRESS, ...). A PATCH
changes only what needs no node: the count bounds, node labels and taints.

node_labels and node_taints (1.14 in Magnum's history) are not gated by version here, as
Magnum's controller does not gate them: every version that has nodegroups takes and shows
them.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import falcon

from magnum.api import microversions, schemas, validation
from magnum.api.v1 import clusters as clusters_api
from magnum.api.v1 import common, views
from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.objects import clusters, nodegroups, vocabulary

LOG = logging.getLogger(__name__)
COLLECTION = "nodegroups"
BRIEF = (
    "uuid",
    "name",
    "flavor_id",
    "node_count",
    "role",
    "is_default",
    "image_id",
    "status",
    "stack_id",
)
# what a full item shows of the row (API name -> row attribute where they differ) ...
COLUMNS = {"cluster_id": "cluster_uuid"}
STORED = (
    "id",
    "uuid",
    "name",
    "cluster_id",
    "project_id",
    "docker_volume_size",
    "labels",
    "flavor_id",
    "image_id",
    "node_addresses",
    "node_count",
    "role",
    "min_node_count",
    "max_node_count",
    "is_default",
    "stack_id",
    "status",
    "status_reason",
    "version",
    "node_labels",
    "node_taints",
)
# ... and what it computes
COMPUTED = ("labels_overridden", "labels_added", "labels_skipped", "merge_labels")
FULL = (*STORED, *COMPUTED)
PATCHABLE = ("min_node_count", "max_node_count", "node_labels", "node_taints")
INTERNAL = common.BASE_INTERNAL | {f"/{f}" for f in FULL if f not in PATCHABLE}
PATCH_DEFAULTS: dict[str, Any] = {
    "min_node_count": 0,
    "max_node_count": None,
    "node_labels": {},
    "node_taints": [],
}
# What a PATCH value for these may be: a string holding the object as a JSON or Python
# literal ("{'a': 'b'}"), as Magnum reads it.
LITERAL_PATHS = frozenset({"/node_labels", "/node_taints"})
SORTABLE = frozenset(
    {
        "id",
        "uuid",
        "name",
        "flavor_id",
        "image_id",
        "node_count",
        "role",
        "is_default",
        "min_node_count",
        "max_node_count",
        "docker_volume_size",
        "status",
        "stack_id",
        "version",
        "created_at",
        "updated_at",
    }
)
ARGS = common.PAGE_ARGS | {"role", common.ALL_PROJECTS}
GATE = microversions.gate(since="1.9")


def links(prefix: str, cluster_uuid: str, uuid: str) -> list[dict[str, str]]:
    path = f"clusters/{cluster_uuid}/{COLLECTION}/{uuid}"
    return [
        {"href": f"{prefix}/v1/{path}", "rel": "self"},
        {"href": f"{prefix}/{path}", "rel": "bookmark"},
    ]


def brief(row: Any) -> dict[str, Any]:
    return {field: getattr(row, field) for field in BRIEF}


def full(row: models.NodeGroup, prefix: str, cluster_labels: Mapping[str, Any]) -> dict[str, Any]:
    body = {field: getattr(row, COLUMNS.get(field, field)) for field in STORED}
    body["labels"] = dict(row.labels or {})
    body["node_addresses"] = list(row.node_addresses or [])
    body["node_labels"] = dict(row.node_labels or {})
    body["node_taints"] = [dict(t) for t in row.node_taints or ()]
    body |= views.label_diffs(body["labels"], cluster_labels)
    body["merge_labels"] = False  # an input flag; Magnum shows its default
    body["links"] = links(prefix, row.cluster_uuid, row.uuid)
    body["created_at"] = utils.isotime(row.created_at)
    body["updated_at"] = utils.isotime(row.updated_at)
    return body


class _AsBuilt:
    """A cluster template as a nodegroup's nodes are built from it: the group's flavor,
    image and volume size where it has its own (for the drivers' validate)."""

    def __init__(self, template: models.ClusterTemplate, group: models.NodeGroup) -> None:
        self._template = template
        self._own = {
            "flavor_id": group.flavor_id,
            "image_id": group.image_id,
            "docker_volume_size": group.docker_volume_size,
        }

    def __getattr__(self, name: str) -> Any:
        own = self._own.get(name)
        return own if own is not None else getattr(self._template, name)


class ClusterChild:
    """What the resources under one cluster share."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def _cluster(
        self, session: Any, ctx: context.RequestContext, ident: str, action: str, **kw: Any
    ) -> models.Cluster:
        row = clusters.get(session, ctx, ident, vocab=vocabulary.CLUSTER, **kw)
        common.authorize_row(self.api, action, ctx, row)
        return row

    def _notify(self, ctx: context.RequestContext, cluster_uuid: str) -> None:
        """Tell the conductors; a lost message leaves the operation to their next scan."""
        try:
            self.api.conductor.cluster_operation(ctx, cluster_uuid=cluster_uuid)
        except Exception:
            LOG.exception(
                "cluster %s: could not notify the conductors; left for their next scan",
                cluster_uuid,
            )

    def check_for(
        self, group: models.NodeGroup
    ) -> Callable[[models.ClusterTemplate, int, int, int], None]:
        """The drivers' validate of the counts a change of `group` makes, for its nodes."""

        def check(template: models.ClusterTemplate, masters: int, workers: int, have: int) -> None:
            validation.cluster(
                self.api.drivers,
                _AsBuilt(template, group),
                master_count=masters,
                node_count=workers,
                existing=have,
            )

        return check


class Collection(ClusterChild):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        ctx = common.all_projects(self.api, req, "nodegroup:get_all_all_projects")
        pg = common.page(req, max_limit=self.api.max_limit, sortable=SORTABLE, allowed=ARGS)
        role = common.one_param(req, "role")
        with self.api.db.reader() as session:
            cluster = self._cluster(session, ctx, ident, "nodegroup:get_all")
            narrowed = dataclasses.replace(pg, columns=BRIEF)
            rows = nodegroups.list_(session, cluster.uuid, narrowed, role=role)
        body: dict[str, Any] = {COLLECTION: [brief(r) for r in rows]}
        if rows and len(rows) == pg.limit:
            query: dict[str, Any] = {common.ALL_PROJECTS: "true"} if ctx.all_projects else {}
            query |= {"sort_key": pg.sort_key, "sort_dir": pg.sort_dir}
            if role is not None:
                query["role"] = role
            query |= {"limit": pg.limit, "marker": rows[-1].uuid}
            path = f"{req.prefix}/v1/clusters/{cluster.uuid}/{COLLECTION}"
            body["next"] = f"{path}?{urllib.parse.urlencode(query)}"
        common.send(resp, body)

    def on_post(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        body = schemas.validate(schemas.NodeGroupBody, common.json_body(req, argument="nodegroup"))
        ctx = common.ctx(req)
        clusters_api.refuse_zero_nodes(microversions.negotiated(req), body.node_count)
        with self.api.db.session() as session:
            cluster = self._cluster(session, ctx, ident, "nodegroup:create", for_update=True)
            row = self._new(session, cluster, body)
            clusters.request_nodegroup_update(
                session,
                cluster,
                ctx,
                row,
                body.node_count,
                action=nodegroups.CREATE,
                default_timeout=self.api.default_bay_timeout,
                check=self.check_for(row),
                limits=self.api.limits(),
            )
            answer = full(row, req.prefix, cluster.labels or {})
        self._notify(ctx, cluster.uuid)
        common.send(resp, answer, status=202)

    def _new(
        self, session: Any, cluster: models.Cluster, body: schemas.NodeGroupBody
    ) -> models.NodeGroup:
        """The new group's row, in the session with no nodes yet, once Magnum's checks of
        a create pass."""
        if not cluster.api_address:
            raise exceptions.InvalidState(detail="Cluster API address is not available yet")
        if body.role == nodegroups.MASTER:
            raise exceptions.InvalidParameterValue(
                err="Creating master nodegroups is currently not supported."
            )
        if body.name in nodegroups.RESERVED or nodegroups.named(session, cluster.uuid, body.name):
            raise nodegroups.NodeGroupAlreadyExists(name=body.name, cluster=cluster.uuid)
        nodegroups.check_counts(
            body.name,
            node_count=body.node_count,
            min_count=body.min_node_count,
            max_count=body.max_node_count,
        )
        nodegroups.check_node_labels(body.name, body.role, body.node_labels or {})
        nodegroups.check_node_taints(body.name, body.role, body.node_taints or [])
        return nodegroups.add(session, cluster, body.model_dump())


class Item(ClusterChild):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, ident: str, nodegroup: str
    ) -> None:
        common.reject_unknown_args(req, (common.ALL_PROJECTS,))
        ctx = common.all_projects(self.api, req, "nodegroup:get_one_all_projects")
        with self.api.db.reader() as session:
            cluster = self._cluster(session, ctx, ident, "nodegroup:get")
            row = nodegroups.get(session, cluster.uuid, nodegroup)
            answer = full(row, req.prefix, cluster.labels or {})
        common.send(resp, answer)

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, ident: str, nodegroup: str
    ) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        _literals_as_text(req)
        with self.api.db.session() as session:
            cluster = self._cluster(session, ctx, ident, "nodegroup:update")
            row = nodegroups.get(session, cluster.uuid, nodegroup, for_update=True)
            current = {
                "min_node_count": row.min_node_count,
                "max_node_count": row.max_node_count,
                "node_labels": dict(row.node_labels or {}),
                "node_taints": [dict(t) for t in row.node_taints or ()],
            }
            patched = common.apply_patch(
                current,
                req,
                internal=frozenset(INTERNAL),
                mandatory=frozenset(),
                defaults=PATCH_DEFAULTS,
            )
            values = schemas.validate(schemas.NodeGroupPatched, _parsed(patched)).model_dump()
            nodegroups.check_counts(
                row.name,
                node_count=row.node_count,
                min_count=values["min_node_count"],
                max_count=values["max_node_count"],
            )
            nodegroups.check_node_labels(row.name, row.role, values["node_labels"])
            nodegroups.check_node_taints(row.name, row.role, values["node_taints"])
            nodegroups.change(row, values)
            session.flush()
            answer = full(row, req.prefix, cluster.labels or {})
        common.send(resp, answer, status=202)

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, ident: str, nodegroup: str
    ) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            cluster = self._cluster(session, ctx, ident, "nodegroup:delete", for_update=True)
            row = nodegroups.get(session, cluster.uuid, nodegroup, for_update=True)
            if row.is_default:
                raise exceptions.InvalidParameterValue(
                    err="Deleting a default nodegroup is not supported."
                )
            clusters.request_nodegroup_update(
                session,
                cluster,
                ctx,
                row,
                0,
                action=nodegroups.DELETE,
                default_timeout=self.api.default_bay_timeout,
            )
        self._notify(ctx, cluster.uuid)
        resp.status = 204


def _literals_as_text(req: falcon.Request) -> None:
    """A PATCH value for /node_labels or /node_taints may be the object itself or a string
    holding it as a JSON or Python literal (as Magnum reads it). Objects are read before the
    patch applies (later operations may name their keys); lists go through the patch as
    JSON text (a patch value may not be a list), read back by `_parsed`."""
    data = common.json_body(req, argument="patch")
    if not isinstance(data, list):
        return
    for op in data:
        path = op.get("path") if isinstance(op, dict) else None
        if not isinstance(path, str) or path not in LITERAL_PATHS:  # the schema judges it
            continue
        value = _literal(op["value"]) if isinstance(op.get("value"), str) else op.get("value")
        if isinstance(value, dict):
            op["value"] = value
        elif isinstance(value, list):
            op["value"] = json.dumps(value)
    req.context["json_body"] = data


def _literal(text: str) -> Any:
    """The object `text` holds as JSON or as a Python literal; `text` if neither."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        with contextlib.suppress(ValueError, SyntaxError, MemoryError, RecursionError):
            return ast.literal_eval(text)
    return text


def _parsed(document: Mapping[str, Any]) -> dict[str, Any]:
    """The patched document with the lists `_literals_as_text` passed as text read back."""
    out = dict(document)
    for path in LITERAL_PATHS:
        name = path[1:]
        if isinstance(out.get(name), str):
            out[name] = _literal(out[name])
    return out
