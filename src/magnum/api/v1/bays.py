# SPDX-License-Identifier: Apache-2.0
"""/v1/bays: clusters built from baymodels. Writes record the operation; conductors run it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import falcon

from magnum.api import schemas, validation
from magnum.api.v1 import common
from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.objects import bays, fields, query

LOG = logging.getLogger(__name__)
COLLECTION = "bays"
BRIEF = (
    "uuid",
    "name",
    "baymodel_id",
    "node_count",
    "master_count",
    "bay_create_timeout",
    "status",
    "stack_id",
)
FULL = (
    *BRIEF,
    "status_reason",
    "discovery_url",
    "api_address",
    "node_addresses",
    "master_addresses",
    "health_status",
    "health_status_reason",
)
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
MANDATORY = frozenset({"/baymodel_id"})
DEFAULTS = {"node_count": 1, "master_count": 1, "bay_create_timeout": 0}
PATCHABLE = (
    "name",
    "baymodel_id",
    "node_count",
    "master_count",
    "bay_create_timeout",
    "discovery_url",
)


def render(row: models.Bay, prefix: str, *, brief: bool = False) -> dict[str, Any]:
    body = {key: getattr(row, key) for key in (BRIEF if brief else FULL)}
    body["links"] = common.links(prefix, COLLECTION, row.uuid)
    if not brief:
        body["created_at"] = utils.isotime(row.created_at)
        body["updated_at"] = utils.isotime(row.updated_at)
    return body


def _target(row: models.Bay) -> dict[str, Any]:
    return {"project_id": row.project_id, "user_id": row.user_id}


class _Base:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _notify(self, ctx: context.RequestContext, bay_uuid: str) -> None:
        """Tell the conductors. The operation is already durable: if the message is lost,
        a conductor's scan for unowned operations still finds it."""
        try:
            self.api.conductor.bay_operation(ctx, bay_uuid=bay_uuid)
        except Exception:
            LOG.exception(
                "bay %s: could not notify the conductors; left for their next scan", bay_uuid
            )


class Collection(_Base, common.Listing):
    COLLECTION = COLLECTION
    POLICY = "bay"
    BRIEF = BRIEF
    SORTABLE = common.sort_keys(FULL)

    def rows(self, session: Any, ctx: context.RequestContext, pg: query.Page) -> Sequence[Any]:
        return bays.list_(session, ctx, pg)

    def render(self, row: Any, prefix: str, *, brief: bool) -> dict[str, Any]:
        return render(row, prefix, brief=brief)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        body = schemas.validate(schemas.BayBody, common.json_body(req, argument="bay"))
        ctx = common.ctx(req)
        self.api.policy.authorize("bay:create", ctx)

        def check(template: models.BayModel) -> None:
            validation.bay(
                self.api.drivers,
                template,
                master_count=body.master_count,
                node_count=body.node_count,
            )

        with self.api.db.session() as session:
            try:
                row = bays.create(
                    session,
                    ctx,
                    body.model_dump(),
                    default_timeout=self.api.default_bay_timeout,
                    check=check,
                )
            except exceptions.BayModelNotFound as exc:  # a bad body field is a 400
                raise exceptions.InvalidParameterValue(err=exc.message) from None
        self._notify(ctx, row.uuid)
        common.send(
            resp,
            render(row, req.prefix),
            status=201,
            location=f"{req.prefix}/v1/{COLLECTION}/{row.uuid}",
        )


class Item(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = bays.get(session, ctx, ident)
        self.api.policy.authorize("bay:get", ctx, _target(row))
        common.send(resp, render(row, req.prefix))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = bays.get(session, ctx, ident, for_update=True)
            self.api.policy.authorize("bay:update", ctx, _target(row))
            current = {key: getattr(row, key) for key in PATCHABLE}
            patched = common.apply_patch(
                current, req, internal=INTERNAL, mandatory=MANDATORY, defaults=DEFAULTS
            )
            values = schemas.validate(schemas.BayBody, patched).model_dump()
            changed = sorted(k for k in PATCHABLE if values[k] != current[k])
            if forbidden := [k for k in changed if k != "node_count"]:
                raise exceptions.InvalidParameterValue(
                    err=f"cannot change bay property(ies) {', '.join(forbidden)}."
                )
            if changed:
                bays.request(
                    session,
                    row,
                    fields.Operation.UPDATE,
                    default_timeout=self.api.default_bay_timeout,
                )
                row.node_count = values["node_count"]
        if changed:
            self._notify(ctx, row.uuid)
        common.send(resp, render(row, req.prefix))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = bays.get(session, ctx, ident, for_update=True)
            self.api.policy.authorize("bay:delete", ctx, _target(row))
            bays.request(
                session, row, fields.Operation.DELETE, default_timeout=self.api.default_bay_timeout
            )
        self._notify(ctx, row.uuid)
        resp.status = 204
