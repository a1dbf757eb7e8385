# SPDX-License-Identifier: Apache-2.0
"""Request pipeline: request id, un-versioned paths, body limits, microversions, auth."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import falcon

from magnum.api import microversions, versions
from magnum.common import context, exceptions

# The media types of a JSON body, matched exactly (parameters such as charset aside).
LOG = logging.getLogger(__name__)
_JSON_TYPES = frozenset({"application/json", "application/vnd.openstack.magnum.v1+json"})
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
        if "chunked" in (req.get_header("Transfer-Encoding") or "").lower():
            self._buffer_chunked(req)
        length = req.content_length or 0
        if length > self.max_body_size:
            raise exceptions.BodyTooLarge(limit=self.max_body_size)
        if req.method in ("POST", "PATCH", "PUT") and length:
            mimetype = (req.content_type or "").split(";")[0].strip().lower()
            if mimetype not in _JSON_TYPES:
                raise exceptions.UnsupportedMediaType(mimetype=mimetype or "(none)")

    def _buffer_chunked(self, req: falcon.Request) -> None:
        """A chunked body (no Content-Length) is read here, at most max_body_size bytes
        (413 beyond), and then seen by the resources like one with a Content-Length."""
        try:
            body = req.stream.read(self.max_body_size + 1)
        except Exception:  # noqa: BLE001  # each WSGI server raises its own for a bad chunk
            raise exceptions.InvalidParameterValue(
                err="The request body is not valid chunked transfer coding."
            ) from None
        if len(body) > self.max_body_size:
            raise exceptions.BodyTooLarge(limit=self.max_body_size)
        req.env["CONTENT_LENGTH"] = str(len(body))
        req.env["wsgi.input"] = req.stream = io.BytesIO(body)


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


# Identity headers NoAuth reads: at most 255 characters (the columns' size on every
# database), not empty, no control characters. X-Roles is a list of such names. (noauth
# reads no X-Domain-Id; X-Auth-Token is never stored nor shown.)
IDENTITY_HEADERS = ("X-Project-Id", "X-User-Id", "X-Project-Name", "X-User-Name")
MAX_IDENTITY = 255
MAX_ROLES_HEADER = 4096


def _identity(
    req: falcon.Request, header: str, *, limit: int = MAX_IDENTITY, empty_ok: bool = False
) -> str | None:
    """The header's value (UTF-8, as clients send it), None when absent; 400 naming the
    header when it is too long, empty or holds a control character."""
    raw = req.get_header(header)
    if raw is None:
        return None
    try:  # WSGI hands header bytes over as latin-1 text
        value = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        value = raw
    problem = None
    if not value and not empty_ok:
        problem = "is empty"
    elif len(value) > limit:
        problem = f"is longer than {limit} characters"
    elif any(unicodedata.category(c) == "Cc" for c in value):
        problem = "holds a control character"
    if problem is not None:
        raise exceptions.InvalidParameterValue(err=f"Invalid {header} header: it {problem}.")
    return value


def _roles(req: falcon.Request) -> tuple[str, ...] | None:
    header = _identity(req, "X-Roles", limit=MAX_ROLES_HEADER, empty_ok=True)
    if header is None:
        return None
    roles = tuple(r.strip() for r in header.split(",") if r.strip())
    if any(len(r) > MAX_IDENTITY for r in roles):
        raise exceptions.InvalidParameterValue(
            err=f"Invalid X-Roles header: a role is longer than {MAX_IDENTITY} characters."
        )
    return roles


class NoAuth:
    """Any token is accepted. The project is X-Project-Id (or the configured default); roles
    come from X-Roles, and a caller that names none gets admin and member: noauth is for
    development and the all-in-one, where the one user runs everything. An empty X-Roles
    means no role at all. Every identity header is checked here, before anything reads or
    stores it (see _identity)."""

    def __init__(self, default_project: str) -> None:
        self.default_project = default_project

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        project_id, user_id, project_name, user_name = (_identity(req, h) for h in IDENTITY_HEADERS)
        roles = _roles(req)
        req.context["magnum"] = context.RequestContext(
            project_id=project_id or self.default_project,
            user_id=user_id or "noauth-user",
            project_name=project_name,
            user_name=user_name,
            roles=roles if roles is not None else ("admin", "member"),
            auth_token=req.get_header("X-Auth-Token"),
            request_id=str(req.context["request_id"]),
        )


# What a caller may read without a token under Keystone: the version documents and the
# OpenAPI document (as Magnum's public_api_routes: "/" and "/v1").
PUBLIC_PATHS = frozenset({"/", "/v1", "/v1/openapi.json"})
# Set by magnum.api.keystone (auth_token) in the WSGI environ; see there.
KEYSTONE_FAILURE = "magnum.auth_failure"
KEYSTONE_UNAVAILABLE = "unavailable"
KEYSTONE_VALIDATED = "keystone.token_auth"  # auth_token sets it on every request it let through
IDENTITY_RETRY_AFTER = 5


class KeystoneContext:
    """The request context from what keystonemiddleware's auth_token validated (it removed
    any identity header the caller sent, then set the token's): project, user and their
    domains, the domain of a domain-scoped token, the system scope of a system-scoped one,
    the roles (Keystone's implied roles included: a member is also a reader). `is_admin`
    is the policy's context_is_admin. A request auth_token refused is answered here:
    401 (no token, or garbage, expired, revoked) or 503 (Keystone away), except on a
    public path, which an anonymous context (no project, no role) reads."""

    def __init__(self, is_admin: Callable[[context.RequestContext], bool]) -> None:
        self.is_admin = is_admin

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        failure = req.env.get(KEYSTONE_FAILURE)
        confirmed = (
            failure is None
            and KEYSTONE_VALIDATED in req.env
            and req.get_header("X-Identity-Status") == "Confirmed"
        )
        request_id = str(req.context["request_id"])
        if not confirmed:
            if req.path in PUBLIC_PATHS:
                req.context["magnum"] = context.RequestContext(project_id="", request_id=request_id)
                return
            if failure == KEYSTONE_UNAVAILABLE:
                raise exceptions.IdentityUnavailable(retry_after=IDENTITY_RETRY_AFTER)
            raise exceptions.NotAuthenticated()
        header = req.get_header
        roles = tuple(r.strip() for r in (header("X-Roles") or "").split(",") if r.strip())
        ctx = context.RequestContext(
            project_id=header("X-Project-Id") or "",
            user_id=header("X-User-Id"),
            project_name=header("X-Project-Name"),
            user_name=header("X-User-Name"),
            domain_id=header("X-Domain-Id"),
            user_domain_id=header("X-User-Domain-Id"),
            project_domain_id=header("X-Project-Domain-Id"),
            system_scope=header("X-System-Scope"),
            roles=roles,
            auth_token=header("X-Auth-Token"),
            request_id=request_id,
        )
        if self.is_admin(ctx):
            ctx = dataclasses.replace(ctx, is_admin=True)
        req.context["magnum"] = ctx


def pipeline(
    conf: Any,
    *,
    own_bodies: Sequence[OwnBody],
    is_admin: Callable[[context.RequestContext], bool],
) -> list[Any]:
    """The falcon middleware, in order. Under Keystone the application is also wrapped in
    auth_token (magnum.api.app.build, by magnum.api.keystone)."""
    auth: Any
    if conf.api.auth_strategy == "noauth":
        LOG.warning(
            "auth_strategy = noauth: every caller is trusted by its headers (X-Project-Id, "
            "X-Roles); for development only. Set [api] auth_strategy = keystone for real "
            "tenants."
        )
        auth = NoAuth(conf.api.default_project_id)
    elif conf.api.auth_strategy == "keystone":
        auth = KeystoneContext(is_admin)
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
