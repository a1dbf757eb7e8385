# SPDX-License-Identifier: Apache-2.0
"""Version discovery documents: / and /v1."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import falcon

from magnum.api import microversions, versions
from magnum.api.v1 import common


class Root:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        v1 = {
            "id": "v1",
            "links": [{"href": f"{req.prefix}/v1/", "rel": "self"}],
            "status": "CURRENT",
            "min_version": versions.fmt(versions.MIN_VERSION),
            "max_version": versions.fmt(versions.MAX_VERSION),
        }
        common.send(
            resp,
            {
                "name": "OpenStack Magnum API",
                "description": "Magnum is an OpenStack project which aims to provide container "
                "management.",
                "versions": [v1],
                "default_version": v1,
            },
        )


class V1:
    """The /v1 document: one link pair per collection that exists at the negotiated version
    (`collections`, read from the route table: magnum.api.routes.collections)."""

    def __init__(self, collections: Callable[[microversions.Version], Iterable[str]]) -> None:
        self.collections = collections

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: dict[str, object] = {
            "id": "v1",
            "media_types": [
                {"base": "application/json", "type": "application/vnd.openstack.magnum.v1+json"}
            ],
            "links": [
                {"href": f"{req.prefix}/v1/", "rel": "self"},
                {
                    "href": f"{req.prefix}/v1/openapi.json",
                    "rel": "describedby",
                    "type": "application/json",
                },
            ],
        }
        for name in self.collections(microversions.negotiated(req)):
            body[name] = [
                {"href": f"{req.prefix}/v1/{name}/", "rel": "self"},
                {"href": f"{req.prefix}/{name}/", "rel": "bookmark"},
            ]
        common.send(resp, body)
