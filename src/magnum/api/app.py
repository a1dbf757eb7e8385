# SPDX-License-Identifier: Apache-2.0
"""The WSGI application factory. Everything it needs is passed in; nothing is global."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Iterable
from typing import Any

import falcon
from oslo_config import cfg

from magnum.api import errors, middleware, policy, routes, routing, validation
from magnum.api.v1 import manifests
from magnum.common import hostpaths, pki
from magnum.common import images as image_archives
from magnum.conductor import rpcapi
from magnum.db import engine
from magnum.drivers import registry
from magnum.objects import quotas


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
    image_limits: image_archives.Limits  # [api] max_image_unpacked_size, ...
    image_load_timeout: int
    exec_timeout: float  # container execute and logs: [api] exec_timeout, max_exec_output,
    max_exec_output: int  # max_concurrent_execs
    max_concurrent_execs: int
    quota_clusters: int  # [quotas] defaults
    quota_nodes: int
    manifest_fetcher: manifests.Fetcher  # [api] max_manifest_size, manifest_url_*

    def limits(self) -> quotas.Limits:
        """Quota defaults and the infrastructure's capacity now (cheap: no remote calls)."""
        return validation.limits(
            self.drivers,
            clusters_per_project=self.quota_clusters,
            nodes_per_project=self.quota_nodes,
        )


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def build(conf: cfg.ConfigOpts, db: engine.Database, transport: Any) -> WsgiApp:
    """The API as a WSGI application; under auth_strategy = keystone behind
    keystonemiddleware's auth_token (magnum.api.keystone), the one place it is added."""
    hostpaths.register_conf(conf)  # no error message names them (see the module)
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
        image_limits=image_archives.Limits.from_conf(conf),
        image_load_timeout=conf.api.image_load_timeout,
        exec_timeout=conf.api.exec_timeout,
        max_exec_output=conf.api.max_exec_output,
        max_concurrent_execs=conf.api.max_concurrent_execs,
        quota_clusters=conf.quotas.max_clusters_per_project,
        quota_nodes=conf.quotas.max_nodes_per_project,
        manifest_fetcher=manifests.Fetcher.from_conf(conf.api),
    )
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(
        middleware=middleware.pipeline(
            conf,
            own_bodies=routes.own_bodies(),
            is_admin=lambda ctx: api.policy.check("context_is_admin", ctx),
        )
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    errors.install(app)
    routing.install(app, api, routes.TABLE)  # every route, from the one table
    if conf.api.auth_strategy == "keystone":
        from magnum.api import keystone  # noqa: PLC0415 - keystonemiddleware takes 0.4 s to import

        return keystone.wrap(app, conf)
    return app
