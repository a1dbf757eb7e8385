# SPDX-License-Identifier: Apache-2.0
"""Clusters, served as /v1/bays (and, in its view, /v1/clusters). Writes record the
operation; conductors run it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import falcon

from magnum.api import schemas, validation
from magnum.api.v1 import common, views
from magnum.common import context, exceptions
from magnum.db import models
from magnum.objects import clusters, fields, nodegroups, query

LOG = logging.getLogger(__name__)
INTERNAL = common.BASE_INTERNAL | {
    "/api_address",
    "/node_addresses",
    "/master_addresses",
    "/stack_id",
    "/ca_cert_ref",
    "/magnum_cert_ref",
    "/trust_id",
    "/trustee_user_name",
    "/trustee_password",
    "/trustee_user_id",
    "/status",
    "/status_reason",
}
# Per view: the template field (mandatory), and what a PATCH may name (API field names).
MANDATORY = {"bays": frozenset({"/baymodel_id"}), "clusters": frozenset({"/cluster_template_id"})}
DEFAULTS = {"node_count": 1, "master_count": 1, "bay_create_timeout": 0, "create_timeout": 0}
PATCHABLE = (
    "name",
    "cluster_template_id",
    "node_count",
    "master_count",
    "create_timeout",
    "discovery_url",
)
BODIES: dict[str, type[schemas.BayBody]] = {"bays": schemas.BayBody}


def _patchable(view: views.View) -> tuple[str, ...]:
    inverse = {attr: field for field, attr in view.columns.items()}
    return tuple(inverse.get(attr, attr) for attr in PATCHABLE)


class _Base:
    def __init__(self, api: Any, view: views.View = views.BAY) -> None:
        self.api = api
        self.view = view
        self.body = BODIES[view.collection]

    def _notify(self, ctx: context.RequestContext, cluster_uuid: str) -> None:
        """Tell the conductors. The operation is already durable: if the message is lost,
        a conductor's scan for unowned operations still finds it."""
        try:
            self.api.conductor.cluster_operation(ctx, cluster_uuid=cluster_uuid)
        except Exception:
            LOG.exception(
                "bay %s: could not notify the conductors; left for their next scan", cluster_uuid
            )

    def _check_counts(
        self, template: models.ClusterTemplate, masters: int, workers: int, existing: int
    ) -> None:
        """A resize runs the drivers' validate of a create, for the new counts."""
        validation.cluster(
            self.api.drivers, template, master_count=masters, node_count=workers, existing=existing
        )


class Collection(_Base, common.Listing):
    def rows(self, session: Any, ctx: context.RequestContext, pg: query.Page) -> Sequence[Any]:
        return clusters.list_(session, ctx, pg, vocab=self.view.vocab)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        view = self.view
        body = schemas.validate(self.body, common.json_body(req, argument=view.argument))
        ctx = common.ctx(req)
        self.api.policy.authorize(f"{view.policy}:create", ctx)

        def check(template: models.ClusterTemplate) -> None:
            validation.cluster(
                self.api.drivers,
                template,
                master_count=body.master_count,
                node_count=body.node_count,
            )

        with self.api.db.session() as session:
            try:
                row = clusters.create(
                    session,
                    ctx,
                    view.to_internal(body.model_dump()),
                    default_timeout=self.api.default_bay_timeout,
                    check=check,
                    limits=self.api.limits(),
                    vocab=view.vocab,
                )
            except exceptions.ClusterTemplateNotFound as exc:  # a bad body field is a 400
                raise exceptions.InvalidParameterValue(err=exc.message) from None
        self._notify(ctx, row.uuid)
        common.created(req, resp, view.collection, row.uuid, view.render(row, req.prefix))


class Item(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, vocab=self.view.vocab)
        self.api.policy.authorize(f"{self.view.policy}:get", ctx, common.target(row))
        common.send(resp, self.view.render(row, req.prefix))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        view = self.view
        patchable = _patchable(view)
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, for_update=True, vocab=view.vocab)
            self.api.policy.authorize(f"{view.policy}:update", ctx, common.target(row))
            current = view.values(row, patchable)
            patched = common.apply_patch(
                current,
                req,
                internal=INTERNAL,
                mandatory=MANDATORY[view.collection],
                defaults=DEFAULTS,
            )
            values = schemas.validate(self.body, patched).model_dump()
            changed = sorted(k for k in patchable if values[k] != current[k])
            if forbidden := [k for k in changed if k != "node_count"]:
                raise exceptions.InvalidParameterValue(
                    err=f"cannot change {view.vocab.word} property(ies) {', '.join(forbidden)}."
                )
            if changed:
                group = nodegroups.default(session, row.uuid, nodegroups.WORKER)
                assert group is not None, "every cluster has a default worker nodegroup"
                clusters.request_resize(
                    session,
                    row,
                    ctx,
                    group,
                    values["node_count"],
                    default_timeout=self.api.default_bay_timeout,
                    check=self._check_counts,
                    limits=self.api.limits(),
                    vocab=view.vocab,
                )
        if changed:
            self._notify(ctx, row.uuid)
        common.send(resp, view.render(row, req.prefix))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, for_update=True, vocab=self.view.vocab)
            self.api.policy.authorize(f"{self.view.policy}:delete", ctx, common.target(row))
            clusters.request(
                session,
                row,
                fields.Operation.DELETE,
                ctx,
                default_timeout=self.api.default_bay_timeout,
                vocab=self.view.vocab,
            )
        self._notify(ctx, row.uuid)
        resp.status = 204
