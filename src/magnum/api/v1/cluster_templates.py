# SPDX-License-Identifier: Apache-2.0
"""Cluster templates, served as /v1/baymodels (and, in its view, /v1/clustertemplates)."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any

import falcon

from magnum.api import schemas, validation
from magnum.api.v1 import common, views
from magnum.common import context, exceptions, names
from magnum.objects import cluster_templates, fields, query

FULL = views.BAYMODEL.full
MUTABLE = frozenset(FULL) - {"uuid"}
TODAY_MUTABLE = frozenset(views.CLUSTER_TEMPLATE.full) - {"uuid", "project_id", "user_id"}
# Today's non-removable paths: keypair_id is optional now, hidden is not.
TODAY_MANDATORY = frozenset(
    {
        "/image_id",
        "/network_driver",
        "/external_network_id",
        "/tls_disabled",
        "/public",
        "/server_type",
        "/coe",
        "/registry_enabled",
        "/cluster_distro",
        "/hidden",
    }
)
MANDATORY = frozenset(
    {
        "/image_id",
        "/keypair_id",
        "/external_network_id",
        "/coe",
        "/tls_disabled",
        "/public",
        "/registry_enabled",
        "/server_type",
        "/cluster_distro",
        "/network_driver",
    }
)
DEFAULTS = {
    "labels": {},
    "registry_enabled": False,
    "tls_disabled": False,
    "public": False,
    "server_type": "vm",
    "master_lb_enabled": False,
    "floating_ip_enabled": True,
    "hidden": False,
}


def referenced_may(changes: Mapping[str, Any]) -> bool:
    """Today's API lets a template that clusters use change in one field only: published
    (public set to true), hidden or shown, tagged, or renamed."""
    if len(changes) != 1:
        return False
    ((key, value),) = changes.items()
    return (
        (key == "public" and value is True)
        or key == "hidden"
        or (key == "tags" and value is not None)
        or key == "name"
    )


def check_drivers(values: dict[str, Any]) -> None:
    """Fill the COE's default network driver and refuse drivers the COE does not support."""
    coe = values.get("coe")
    if coe is None:
        raise exceptions.InvalidParameterValue(err="Requested COE type Unset is not supported.")
    supported = fields.NETWORK_DRIVERS[coe]
    if values.get("network_driver") is None:
        values["network_driver"] = supported[0]
    elif values["network_driver"] not in supported:
        raise exceptions.InvalidParameterValue(
            err=f"Network driver type {values['network_driver']} is not supported, expecting a "
            f"{'/'.join(supported)}/unspecified network driver."
        )
    volume = values.get("volume_driver")
    if volume is not None and volume not in fields.VOLUME_DRIVERS[coe]:
        raise exceptions.InvalidParameterValue(
            err=f"Volume driver type {volume} is not supported, expecting a "
            f"{'/'.join(fields.VOLUME_DRIVERS[coe])}/unspecified volume driver."
        )


BODIES: dict[str, type[schemas.BayModelBody]] = {
    "baymodels": schemas.BayModelBody,
    "clustertemplates": schemas.ClusterTemplateBody,
}


class _Base:
    def __init__(self, api: Any, view: views.View = views.BAYMODEL) -> None:
        self.api = api
        self.view = view
        self.body = BODIES[view.collection]
        self.today = view is views.CLUSTER_TEMPLATE
        self.mutable = TODAY_MUTABLE if self.today else MUTABLE
        self.mandatory = TODAY_MANDATORY if self.today else MANDATORY

    def _admin(self, ctx: context.RequestContext) -> bool:
        """Whether the caller sees hidden public templates too."""
        return bool(self.api.policy.check("context_is_admin", ctx))

    def _publish_allowed(self, ctx: context.RequestContext) -> None:
        if not self.api.policy.check(f"{self.view.policy}:publish", ctx):
            raise self.view.vocab.publish_denied()


class Collection(_Base, common.Listing):
    def rows(self, session: Any, ctx: context.RequestContext, pg: query.Page) -> Sequence[Any]:
        return cluster_templates.list_(
            session, ctx, pg, vocab=self.view.vocab, admin=self._admin(ctx)
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        view = self.view
        body = schemas.validate(self.body, common.json_body(req, argument=view.argument))
        values = body.model_dump()
        check_drivers(values)
        validation.template(self.api.drivers, types.SimpleNamespace(**values))
        ctx = common.ctx(req)
        self.api.policy.authorize(f"{view.policy}:create", ctx)
        if values["public"] or values.get("hidden"):
            self._publish_allowed(ctx)
        if self.today and values.get("name") is None:
            values["name"] = names.generate("template")
        with self.api.db.session() as session:
            row = cluster_templates.create(session, ctx, view.to_internal(values), vocab=view.vocab)
        common.created(req, resp, view.collection, row.uuid, view.render(row, req.prefix))


class Item(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req, (common.ALL_PROJECTS,))
        view = self.view
        ctx = common.all_projects(self.api, req, f"{view.policy}:get_one_all_projects")
        with self.api.db.reader() as session:
            row = cluster_templates.read(
                session, ctx, ident, vocab=view.vocab, admin=self._admin(ctx)
            )
        if not row.public:
            common.authorize_row(self.api, f"{view.policy}:get", ctx, row)
        common.send(resp, view.render(row, req.prefix))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        view = self.view
        with self.api.db.session() as session:
            row = cluster_templates.get(session, ctx, ident, for_update=True, vocab=view.vocab)
            self.api.policy.authorize(f"{view.policy}:update", ctx, common.target(row))
            current = view.values(row, view.full)
            patched = common.apply_patch(
                current,
                req,
                internal=common.BASE_INTERNAL,
                mandatory=self.mandatory,
                defaults=DEFAULTS,
            )
            for key in ("uuid", "project_id", "user_id"):
                patched.pop(key, None)
            values = schemas.validate(self.body, patched).model_dump()
            check_drivers(values)
            validation.template(self.api.drivers, types.SimpleNamespace(**values))
            changes = {k: v for k, v in values.items() if k in self.mutable and v != current[k]}
            if "public" in changes or "hidden" in changes:
                self._publish_allowed(ctx)
            cluster_templates.update(
                session,
                row,
                view.to_internal(changes),
                vocab=view.vocab,
                referenced_may=referenced_may if self.today else None,
            )
        common.send(resp, view.render(row, req.prefix))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = cluster_templates.get(session, ctx, ident, for_update=True, vocab=self.view.vocab)
            self.api.policy.authorize(f"{self.view.policy}:delete", ctx, common.target(row))
            cluster_templates.delete(session, row, vocab=self.view.vocab)
        resp.status = 204
