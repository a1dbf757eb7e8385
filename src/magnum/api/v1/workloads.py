# SPDX-License-Identifier: Apache-2.0
"""/v1/pods, /v1/services and /v1/rcs: the objects of a bay's own Kubernetes API (Magnum
Mitaka's), on bays whose COE driver offers workloads (drivers.capabilities.
WorkloadInterface); any other bay is a 400 naming its COE.

Nothing is stored: every call is an RPC *call* to a conductor, which asks the bay's API
(namespace "default"), so reads are live and the cluster's refusals reach the tenant with
their status and message. `uuid` is the object's `metadata.uid`, `name` and `labels` its
manifest's; no item has `created_at` or `updated_at`. One view per kind
(magnum.api.v1.views.POD, SERVICE, RC) names its collection, policy prefix and fields.

Paths, for each collection C:
  GET  /v1/C?bay_ident=B and /v1/C/detail?bay_ident=B   brief and full items
  POST /v1/C  {"bay_uuid", "manifest" | "manifest_url"}   201 + Location
  GET | PATCH | DELETE  /v1/C/{ident}?bay_ident=B, or /v1/C/{ident}/{B}
`ident` is the object's uuid or name, B the bay's uuid or name (a missing one is
`400 Missing argument: "bay_ident"`). A create's `bay_uuid` must be a uuid (an unknown bay
is 400). PATCH is a JSON Patch of {"bay_uuid", "manifest", "manifest_url"}: the new
manifest replaces the object whole (Kubernetes' PUT), and must name the same object.

Manifests are read and checked by magnum.api.v1.manifests; a manifest_url is fetched by
this API process, from the hosts [api] manifest_url_allowed_hosts lists only.

Where we differ from Mitaka on purpose: a list without bay_ident is a 400 (Mitaka looked
for a bay named None), and lists page like every other collection (limit, marker,
sort_key, sort_dir are applied to the live list; Mitaka validated them and returned the
whole list). The bay's state: creates and updates need a bay that is CREATE_COMPLETE or
UPDATE_COMPLETE with no operation in progress, reads and deletes one whose Kubernetes API
was built (not CREATE_*); a delete on a bay being deleted does nothing (204), as Mitaka's;
a delete of an object the bay does not hold is a 404.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from typing import Any

import falcon

from magnum.api import schemas
from magnum.api.v1 import common, manifests, views
from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.drivers import capabilities
from magnum.objects import cluster_templates, clusters, query, vocabulary

BAY_IDENT = "bay_ident"
MANDATORY = frozenset({"/bay_uuid"})
# A name Kubernetes could hold (a DNS-1123 subdomain): others cannot be found there.
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
K8S_NAME_MAX = 253
BODIES: dict[str, type[schemas.WorkloadBody]] = {
    "pods": schemas.PodBody,
    "services": schemas.ServiceBody,
    "rcs": schemas.ReplicationControllerBody,
}
_UNSORTABLE = frozenset({"images", "labels", "selector", "ports", "desc"})


def sortable(view: views.WorkloadView) -> frozenset[str]:
    """What a list may be ordered by: `id` (the cluster's own order) and the brief fields
    that hold one value."""
    return frozenset({"id", *view.brief}) - _UNSORTABLE


def could_exist(ident: str) -> bool:
    """Whether `ident` may name (or be the uid of) an object of the cluster."""
    return utils.is_uuid_like(ident) or (len(ident) <= K8S_NAME_MAX and bool(K8S_NAME.match(ident)))


class _Base:
    def __init__(self, api: Any, view: views.WorkloadView) -> None:
        self.api = api
        self.view = view

    @property
    def kind(self) -> str:
        return str(self.view.kind)

    def _bay(
        self, ctx: context.RequestContext, ident: str, *, in_body: bool = False
    ) -> models.Cluster:
        """The caller's bay `ident`, if its COE driver offers workloads: BayNotFound (404;
        400 for a body's bay_uuid), or CapabilityNotOffered (400, naming its COE)."""
        with self.api.db.session() as session:
            try:
                cluster = clusters.get(session, ctx, ident, vocab=vocabulary.BAY)
            except exceptions.ClusterNotFound as exc:
                if in_body:  # a bad body field is a 400
                    raise exceptions.InvalidParameterValue(err=exc.message) from None
                raise
            coe = cluster_templates.coe_of(session, cluster.cluster_template_id)
        self.api.drivers.workloads_for(coe or "")
        return cluster

    def _authorize(self, action: str, ctx: context.RequestContext, bay: models.Cluster) -> None:
        self.api.policy.authorize(f"{self.view.policy}:{action}", ctx, common.target(bay))

    def _manifest(self, text: str | None, url: str | None) -> tuple[dict[str, Any], str | None]:
        """(the checked manifest, its text) from the body's manifest or manifest_url."""
        fetcher: manifests.Fetcher = self.api.manifest_fetcher
        if url is not None:
            text = fetcher.fetch(url)
        manifest = manifests.parse(text, limit=fetcher.limit)
        manifests.check(self.view.kind, manifest)
        return manifest, text

    def _render(
        self,
        req: falcon.Request,
        workload: dict[str, Any],
        bay: models.Cluster,
        *,
        brief: bool = False,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        obj = capabilities.Workload.from_dict(workload).manifest
        return self.view.render(obj, bay.uuid, req.prefix, brief=brief, body=body)


class Collection(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._list(req, resp, detail=False)

    def on_get_detail(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._list(req, resp, detail=True)

    def _list(self, req: falcon.Request, resp: falcon.Response, *, detail: bool) -> None:
        ctx = common.ctx(req)
        self.api.policy.authorize(f"{self.view.policy}:{'detail' if detail else 'get_all'}", ctx)
        pg = common.page(
            req,
            max_limit=self.api.max_limit,
            sortable=sortable(self.view),
            allowed=common.PAGE_ARGS | {BAY_IDENT},
        )
        bay_ident = common.one_param(req, BAY_IDENT)
        if bay_ident is None:
            raise exceptions.InvalidParameterValue(err=f'Missing argument: "{BAY_IDENT}"')
        bay = self._bay(ctx, bay_ident)
        listed = self.api.conductor.workload_list(ctx, cluster_uuid=bay.uuid, kind=self.kind)
        items = [self._render(req, w, bay, brief=not detail) for w in listed]
        shown = _page(items, pg, self.view)
        body: dict[str, Any] = {self.view.collection: shown}
        if shown and len(shown) == pg.limit:
            path = f"{req.prefix}/v1/{self.view.collection}{'/detail' if detail else ''}"
            query = {"sort_key": pg.sort_key, "sort_dir": pg.sort_dir, "limit": pg.limit}
            query |= {"marker": shown[-1]["uuid"], BAY_IDENT: bay_ident}
            body["next"] = f"{path}?{urllib.parse.urlencode(query)}"
        common.send(resp, body)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        model = BODIES[self.view.collection]
        body = schemas.validate(model, common.json_body(req, argument=self.view.argument))
        ctx = common.ctx(req)
        bay = self._bay(ctx, body.bay_uuid, in_body=True)
        self._authorize("create", ctx, bay)
        manifest, text = self._manifest(body.manifest, body.manifest_url)
        made = self.api.conductor.workload_create(
            ctx, cluster_uuid=bay.uuid, kind=self.kind, manifest=manifest
        )
        echo = {"manifest": text, "manifest_url": body.manifest_url}
        echo["desc"] = getattr(body, "desc", None)
        shown = self._render(req, made, bay, body=echo)
        common.created(req, resp, self.view.collection, shown["uuid"], shown)


class Item(_Base):
    """One object: /v1/C/{ident}?bay_ident=B, and /v1/C/{ident}/{bay_ident}."""

    def _args(self, req: falcon.Request, bay_ident: str | None) -> str:
        """The bay's ident, from the path or else the query string."""
        if bay_ident is not None:
            common.reject_unknown_args(req)
            return bay_ident
        common.reject_unknown_args(req, {BAY_IDENT})
        found = common.one_param(req, BAY_IDENT)
        if found is None:
            raise exceptions.InvalidParameterValue(err=f'Missing argument: "{BAY_IDENT}"')
        return found

    def _not_found(self, ident: str) -> exceptions.NotFound:
        return exceptions.WORKLOAD_NOT_FOUND[self.kind].of(ident)

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, ident: str, bay_ident: str | None = None
    ) -> None:
        ctx = common.ctx(req)
        bay = self._bay(ctx, self._args(req, bay_ident))
        self._authorize("get", ctx, bay)
        if not could_exist(ident):
            raise self._not_found(ident)
        found = self.api.conductor.workload_show(
            ctx, cluster_uuid=bay.uuid, kind=self.kind, ident=ident
        )
        common.send(resp, self._render(req, found, bay))

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, ident: str, bay_ident: str | None = None
    ) -> None:
        ctx = common.ctx(req)
        bay = self._bay(ctx, self._args(req, bay_ident))
        self._authorize("update", ctx, bay)
        document = {"bay_uuid": bay.uuid, "manifest": None, "manifest_url": None}
        patched = common.apply_patch(
            document,
            req,
            internal=common.BASE_INTERNAL | self.view.internal,
            mandatory=MANDATORY,
            defaults={},
        )
        values = schemas.validate(schemas.WorkloadPatched, patched)
        if values.bay_uuid != bay.uuid:
            raise exceptions.InvalidParameterValue(
                err=f"cannot change {self.view.argument} property(ies) bay_uuid."
            )
        if not could_exist(ident):
            raise self._not_found(ident)
        manifest, _ = self._manifest(values.manifest, values.manifest_url)
        replaced = self.api.conductor.workload_update(
            ctx, cluster_uuid=bay.uuid, kind=self.kind, ident=ident, manifest=manifest
        )
        common.send(resp, self._render(req, replaced, bay))

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, ident: str, bay_ident: str | None = None
    ) -> None:
        ctx = common.ctx(req)
        bay = self._bay(ctx, self._args(req, bay_ident))
        self._authorize("delete", ctx, bay)
        if not could_exist(ident):  # a name the cluster cannot hold
            raise self._not_found(ident)
        self.api.conductor.workload_delete(ctx, cluster_uuid=bay.uuid, kind=self.kind, ident=ident)
        resp.status = 204


def _page(
    items: list[dict[str, Any]], pg: query.Page, view: views.WorkloadView
) -> list[dict[str, Any]]:
    """The page `pg` (limit, marker, sort_key, sort_dir) of the rendered `items`."""
    ordered: Sequence[dict[str, Any]] = items
    if pg.sort_key != "id":  # "id": the cluster's own order

        def key(item: dict[str, Any]) -> tuple[int, Any]:
            return _sort_key(item.get(pg.sort_key))

        ordered = sorted(items, key=key, reverse=pg.sort_dir == "desc")
    elif pg.sort_dir == "desc":
        ordered = list(reversed(items))
    if pg.marker is not None:
        at = next((i for i, item in enumerate(ordered) if item["uuid"] == pg.marker), None)
        if at is None:
            raise exceptions.WORKLOAD_NOT_FOUND[str(view.kind)].of(pg.marker)
        ordered = ordered[at + 1 :]
    return list(ordered[: pg.limit])


def _sort_key(value: Any) -> tuple[int, Any]:
    """Nulls first, then numbers, then text (one list may mix them only through nulls)."""
    if value is None:
        return (0, "")
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))
