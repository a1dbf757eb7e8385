# SPDX-License-Identifier: Apache-2.0
"""/v1/baymodels: templates of bays."""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

import falcon

from magnum.api import schemas, validation
from magnum.api.v1 import common
from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.objects import baymodels, fields, query

COLLECTION = "baymodels"
BRIEF = ("uuid", "name", "image_id", "apiserver_port", "coe")
FULL = (
    "uuid",
    "name",
    "coe",
    "image_id",
    "flavor_id",
    "master_flavor_id",
    "dns_nameserver",
    "keypair_id",
    "external_network_id",
    "fixed_network",
    "network_driver",
    "volume_driver",
    "apiserver_port",
    "docker_volume_size",
    "cluster_distro",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "registry_enabled",
    "labels",
    "tls_disabled",
    "public",
    "server_type",
)
MUTABLE = frozenset(FULL) - {"uuid"}
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
}


def render(row: models.BayModel, prefix: str, *, brief: bool = False) -> dict[str, Any]:
    body = {key: getattr(row, key) for key in (BRIEF if brief else FULL)}
    body["links"] = common.links(prefix, COLLECTION, row.uuid)
    if not brief:
        body["created_at"] = utils.isotime(row.created_at)
        body["updated_at"] = utils.isotime(row.updated_at)
    return body


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


class Collection(common.Listing):
    COLLECTION = COLLECTION
    POLICY = "baymodel"
    BRIEF = BRIEF
    SORTABLE = common.sort_keys(FULL)

    def __init__(self, api: Any) -> None:
        self.api = api

    def rows(self, session: Any, ctx: context.RequestContext, pg: query.Page) -> Sequence[Any]:
        return baymodels.list_(session, ctx, pg)

    def render(self, row: Any, prefix: str, *, brief: bool) -> dict[str, Any]:
        return render(row, prefix, brief=brief)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        body = schemas.validate(schemas.BayModelBody, common.json_body(req, argument="baymodel"))
        values = body.model_dump()
        check_drivers(values)
        validation.template(self.api.drivers, types.SimpleNamespace(**values))
        ctx = common.ctx(req)
        self.api.policy.authorize("baymodel:create", ctx)
        if values["public"] and not self.api.policy.check("baymodel:publish", ctx):
            raise exceptions.BaymodelPublishDenied()
        with self.api.db.session() as session:
            row = baymodels.create(session, ctx, values)
        common.send(
            resp,
            render(row, req.prefix),
            status=201,
            location=f"{req.prefix}/v1/{COLLECTION}/{row.uuid}",
        )


class Item:
    def __init__(self, api: Any) -> None:
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = baymodels.get(session, ctx, ident)
        if not row.public:
            self.api.policy.authorize("baymodel:get", ctx, _target(row))
        common.send(resp, render(row, req.prefix))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = baymodels.get(session, ctx, ident, for_update=True)
            self.api.policy.authorize("baymodel:update", ctx, _target(row))
            current = {key: getattr(row, key) for key in FULL}
            patched = common.apply_patch(
                current, req, internal=common.BASE_INTERNAL, mandatory=MANDATORY, defaults=DEFAULTS
            )
            patched.pop("uuid", None)
            values = schemas.validate(schemas.BayModelBody, patched).model_dump()
            check_drivers(values)
            validation.template(self.api.drivers, types.SimpleNamespace(**values))
            changes = {k: v for k, v in values.items() if k in MUTABLE and v != current[k]}
            if "public" in changes and not self.api.policy.check("baymodel:publish", ctx):
                raise exceptions.BaymodelPublishDenied()
            baymodels.update(session, row, changes)
        common.send(resp, render(row, req.prefix))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = baymodels.get(session, ctx, ident, for_update=True)
            self.api.policy.authorize("baymodel:delete", ctx, _target(row))
            baymodels.delete(session, row)
        resp.status = 204


def _target(row: models.BayModel) -> dict[str, Any]:
    return {"project_id": row.project_id, "user_id": row.user_id}
