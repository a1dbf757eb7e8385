# SPDX-License-Identifier: Apache-2.0
"""The WSGI application factory. Everything it needs is passed in; nothing is global."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import falcon
from oslo_config import cfg

from magnum.api import errors, middleware, openapi, policy
from magnum.api.v1 import (
    certificates,
    cluster_templates,
    clusters,
    common,
    containers,
    images,
    mservices,
    root,
)
from magnum.common import images as image_archives
from magnum.common import pki
from magnum.conductor import rpcapi
from magnum.db import engine
from magnum.drivers import registry


@dataclasses.dataclass(slots=True, kw_only=True)
class Api:
    """What the resources share: settings, the database, policy, the conductor client and
    the enabled drivers (for their cheap `validate()` only)."""

    db: engine.Database
    policy: policy.Policy
    conductor: rpcapi.ConductorAPI
    drivers: registry.Drivers
    key_secret: bytes
    max_limit: int
    default_bay_timeout: int
    service_down_time: int
    upload_dir: pathlib.Path
    max_image_size: int
    image_load_timeout: int


class _OpenApi:
    def __init__(self) -> None:
        self._body = json.dumps(openapi.document())

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = self._body


def build(
    conf: cfg.ConfigOpts, db: engine.Database, transport: Any
) -> falcon.App[falcon.Request, falcon.Response]:
    api = Api(
        db=db,
        policy=policy.Policy(conf),
        conductor=rpcapi.ConductorAPI(conf, transport),
        drivers=registry.load(conf),
        key_secret=pki.key_secret(conf),
        max_limit=conf.api.max_limit,
        default_bay_timeout=conf.conductor.default_bay_timeout,
        service_down_time=conf.conductor.service_down_time,
        upload_dir=image_archives.upload_dir(conf),
        max_image_size=conf.api.max_image_size,
        image_load_timeout=conf.api.image_load_timeout,
    )
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(
        middleware=middleware.pipeline(conf)
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    errors.install(app)
    app.add_route("/", root.Root())
    app.add_route("/v1", root.V1())
    app.add_route("/v1/openapi.json", _OpenApi())
    for name, module in (
        ("baymodels", cluster_templates),
        ("bays", clusters),
        ("containers", containers),
    ):
        collection = module.Collection(api)
        app.add_route(f"/v1/{name}", collection)
        app.add_route(f"/v1/{name}/detail", collection, suffix="detail")
        app.add_route(f"/v1/{name}/{{ident}}", module.Item(api))
    app.add_route("/v1/bays/{ident}/images", images.Collection(api))
    app.add_route("/v1/containers/{ident}/{action}", containers.Action(api))
    app.add_route("/v1/mservices", mservices.Collection(api))
    app.add_route("/v1/certificates", certificates.Collection(api))
    app.add_route("/v1/certificates/{ident}", certificates.Item(api))
    return app
