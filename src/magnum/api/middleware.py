# SPDX-License-Identifier: Apache-2.0
"""Request pipeline: request id, un-versioned paths, body limits, microversions, auth."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import falcon

from magnum.api import microversions, versions
from magnum.common import context, exceptions

_JSON_TYPES = ("application/json", "application/vnd.openstack.magnum")
_VERSIONS = ("v1",)
# (method, path pattern) of an operation that reads its own body, with its own size limit
# and media types; magnum.api.routes.own_bodies() lists them from the route table.
OwnBody = tuple[str, re.Pattern[str]]


class RequestId:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = f"req-{uuid.uuid4()}"
        req.context["request_id"] = request_id
        resp.set_header("X-OpenStack-Request-Id", request_id)


class Paths:
    """`/bays/x` is `/v1/bays/x` (Magnum's bookmark links rely on it); trailing `/` and
    `.json` suffixes on the version documents are ignored."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        path = req.path
        if path.endswith(".json") and path[:-5] in ("/", "/v1"):
            path = path[:-5] or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        first = path.split("/", 2)[1] if path != "/" else ""
        if first and first not in _VERSIONS:
            path = f"/v1{path}"
        req.path = path


class Bodies:
    def __init__(self, max_body_size: int, own_bodies: Sequence[OwnBody]) -> None:
        self.max_body_size = max_body_size
        self.own_bodies = tuple(own_bodies)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if any(req.method == m and pattern.match(req.path) for m, pattern in self.own_bodies):
            return
        length = req.content_length or 0
        if length > self.max_body_size:
            raise exceptions.BodyTooLarge(limit=self.max_body_size)
        if req.method in ("POST", "PATCH", "PUT") and length:
            mimetype = (req.content_type or "").split(";")[0].strip().lower()
            if not mimetype.startswith(_JSON_TYPES):
                raise exceptions.UnsupportedMediaType(mimetype=mimetype or "(none)")


class Microversions:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith("/v1"):
            return
        resp.set_headers(versions.range_headers())
        negotiated = versions.negotiate(
            req.get_header(versions.HEADER), req.get_header(versions.LEGACY_HEADER)
        )
        req.context[microversions.CONTEXT_KEY] = negotiated.version
        resp.set_headers(versions.version_headers(negotiated.version))


class NoAuth:
    """Any token is accepted. The project is X-Project-Id (or the configured default); roles
    come from X-Roles, and a caller that names none gets admin and member: noauth is for
    development and the all-in-one, where the one user runs everything."""

    def __init__(self, default_project: str) -> None:
        self.default_project = default_project

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        roles_header = req.get_header("X-Roles")
        roles = (
            tuple(r.strip() for r in roles_header.split(",") if r.strip())
            if roles_header is not None
            else ("admin", "member")
        )
        req.context["magnum"] = context.RequestContext(
            project_id=req.get_header("X-Project-Id") or self.default_project,
            user_id=req.get_header("X-User-Id") or "noauth-user",
            project_name=req.get_header("X-Project-Name"),
            user_name=req.get_header("X-User-Name"),
            roles=roles,
            auth_token=req.get_header("X-Auth-Token"),
            request_id=str(req.context["request_id"]),
        )


def pipeline(conf: Any, *, own_bodies: Sequence[OwnBody]) -> list[Any]:
    auth: Any
    if conf.api.auth_strategy == "noauth":
        auth = NoAuth(conf.api.default_project_id)
    else:
        raise exceptions.NotSupported(operation=f"auth_strategy {conf.api.auth_strategy}")
    # Microversions before Bodies: 413/415 answers carry the version headers like any /v1 answer.
    return [
        RequestId(),
        Paths(),
        Microversions(),
        Bodies(conf.api.max_body_size, own_bodies),
        auth,
    ]
