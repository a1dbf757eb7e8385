# SPDX-License-Identifier: Apache-2.0
"""/v1/quotas (1.6): the operator's per-project limits, over magnum.objects.quotas, the
records cluster create and resize are checked against.

A quota names a project, a resource and a hard limit. Magnum's one resource is `Cluster`
(how many clusters the project may have; default [quotas] max_clusters_per_project); ours
also knows `Node` (how many nodes, masters and workers of all its clusters; default
[quotas] max_nodes_per_project). A project without a record has the default, which GET of
its quota shows as a record without id or timestamps.

Projects: with noauth there is no project registry, so any well-formed project id (1 to
255 characters, no control character: what X-Project-Id accepts) names a project, and a
quota may be set before the project has made anything. Keystone's "404 The project_id X
could not be found." is for the Keystone auth strategy (`project_exists` is its hook).
"""

from __future__ import annotations

import unicodedata
import urllib.parse
from typing import Annotated, Any, Literal

import falcon
from pydantic import Field

from magnum.api import schemas
from magnum.api.v1 import common
from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.objects import quotas

COLLECTION = "quotas"
LIST_ARGS = common.PAGE_ARGS | {"all_tenants"}
HardLimit = Annotated[int, Field(ge=0, le=schemas.MAX_INT)]
# What check_project accepts, for /v1/openapi.json (control characters are C0, DEL and C1).
PROJECT_PATTERN = r"^[^./\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*$"
ProjectId = Annotated[
    str,
    Field(min_length=1, max_length=255, json_schema_extra={"pattern": PROJECT_PATTERN}),
]
Resource = Literal[quotas.RESOURCES]  # type: ignore[valid-type]


class QuotaBody(schemas._Body):
    """POST /v1/quotas."""

    ARGUMENT = "quota"
    READ_ONLY = schemas._Body.READ_ONLY | {"id"}

    project_id: ProjectId | None = None  # missing: "Must provide a valid project ID."
    resource: Resource = quotas.CLUSTER
    hard_limit: HardLimit = 1


class QuotaPatch(schemas._Body):
    """PATCH /v1/quotas/{project_id}/{resource}: a plain object, not a JSON Patch. The
    clients also send the path's project and resource; they may not differ from it."""

    ARGUMENT = "quota"
    READ_ONLY = schemas._Body.READ_ONLY | {"id"}

    hard_limit: HardLimit
    project_id: ProjectId | None = None
    resource: Resource | None = None


def render(row: models.Quota) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "resource": row.resource,
        "hard_limit": row.hard_limit,
        "created_at": utils.isotime(row.created_at),
        "updated_at": utils.isotime(row.updated_at),
    }


class ProjectNotFound(exceptions.NotFound):
    template = "The project_id {project_id} could not be found."


def project_exists(api: Any, project_id: str) -> bool:
    """Whether `project_id` names a project. noauth has no registry of projects: every
    well-formed id (checked by `check_project`) does. The Keystone strategy will ask Keystone."""
    return True


def check_project(value: str) -> str:
    """A project id from the path or a body: what X-Project-Id accepts, and, so that its
    quota has a URL, no `/` and no leading `.` (`..` would be a path segment of its own)."""
    problem = None
    if not value:
        problem = "Value should have a minimum character requirement of 1"
    elif len(value) > 255:
        problem = "Value should have a maximum character requirement of 255"
    elif any(unicodedata.category(c) == "Cc" for c in value):
        problem = "Value should not contain control characters"
    elif "/" in value or value.startswith("."):
        problem = "Value should not contain '/' nor start with '.'"
    if problem is not None:
        raise exceptions.InvalidParameterValue(
            err=f"Invalid input for field/attribute project_id. Value: "
            f"'{exceptions.shorten(value)}'. {problem}"
        )
    return value


def _resource(value: str) -> str:
    if value not in quotas.RESOURCES:
        choices = ", ".join(quotas.RESOURCES)
        raise exceptions.InvalidParameterValue(
            err=f"Invalid input for field/attribute resource. Value: "
            f"'{exceptions.shorten(value)}'. Value should be one of: {choices}"
        )
    return value


def _int_arg(req: falcon.Request, name: str) -> int | None:
    raw = common.one_param(req, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise exceptions.InvalidParameterValue(
            err=f"Invalid input for field/attribute {name}. Value: "
            f"'{exceptions.shorten(raw)}'. unable to convert to int"
        ) from None


class _Base:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _is_admin(self, ctx: context.RequestContext) -> bool:
        return bool(self.api.policy.check("context_is_admin", ctx))

    def _default(self, resource: str) -> int:
        return int(self.api.quota_nodes if resource == quotas.NODE else self.api.quota_clusters)


class Collection(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The records the caller may see: its project's, or with ?all_tenants=true (an
        admin only) every project's. Pages follow the integer id of the last record."""
        common.reject_unknown_args(req, LIST_ARGS)
        ctx = common.ctx(req)
        self.api.policy.authorize("quota:get_all", ctx)
        limit = _int_arg(req, "limit")
        if limit is not None and limit <= 0:
            raise exceptions.InvalidParameterValue(err="Limit must be positive")
        limit = min(limit or self.api.max_limit, self.api.max_limit)
        marker = _int_arg(req, "marker")
        sort_key = common.one_param(req, "sort_key") or "id"
        sort_dir = common.one_param(req, "sort_dir") or "asc"
        if sort_dir not in ("asc", "desc"):
            raise exceptions.InvalidParameterValue(
                err=f"Invalid sort direction: {exceptions.shorten(sort_dir)}. Acceptable "
                "values are 'asc' or 'desc'"
            )
        all_tenants = bool(common.bool_param(req, "all_tenants")) and self._is_admin(ctx)
        with self.api.db.reader() as session:
            rows = quotas.list_(
                session,
                project_id=None if all_tenants else ctx.project_id,
                limit=limit,
                marker=marker,
                sort_key=sort_key,
                sort_dir=sort_dir,
            )
        body: dict[str, Any] = {COLLECTION: [render(r) for r in rows]}
        if rows and len(rows) == limit:
            query = {"sort_key": sort_key, "sort_dir": sort_dir, "limit": limit}
            query["marker"] = rows[-1].id
            if all_tenants:
                query["all_tenants"] = "True"
            body["next"] = f"{req.prefix}/v1/{COLLECTION}?{urllib.parse.urlencode(query)}"
        common.send(resp, body)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        self.api.policy.authorize("quota:create", ctx)
        body = schemas.validate(QuotaBody, common.json_body(req, argument="quota"))
        if not body.project_id:
            raise exceptions.InvalidParameterValue(err="Must provide a valid project ID.")
        project_id = check_project(body.project_id)
        if not project_exists(self.api, project_id):
            raise ProjectNotFound(project_id=project_id)
        with self.api.db.session() as session:
            row = quotas.create(
                session, project_id=project_id, resource=body.resource, hard_limit=body.hard_limit
            )
            shown = render(row)
        location = f"{req.prefix}/v1/{COLLECTION}/{urllib.parse.quote(project_id, safe='')}"
        common.send(resp, shown, status=201, location=f"{location}/{body.resource}")


class Item(_Base):
    def _authorized(
        self, req: falcon.Request, action: str, project_id: str, resource: str
    ) -> tuple[str, str]:
        """Check the request's arguments and the policy; the checked project and resource.
        Reading another project's quota needs an admin even where the policy lets a reader."""
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        self.api.policy.authorize(action, ctx)
        if project_id != ctx.project_id and not self._is_admin(ctx):
            raise exceptions.NotAuthorized()
        return check_project(project_id), _resource(resource)

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, resource: str
    ) -> None:
        """The project's record, or the default it has without one. A project's readers
        read their own; only an admin reads another project's."""
        project_id, resource = self._authorized(req, "quota:get", project_id, resource)
        with self.api.db.reader() as session:
            row = quotas.get(session, project_id, resource)
            shown = render(row) if row is not None else None
        if shown is None:  # no record: the default, as Magnum shows it
            shown = {
                "project_id": project_id,
                "resource": resource,
                "hard_limit": self._default(resource),
            }
        common.send(resp, shown)

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, resource: str
    ) -> None:
        project_id, resource = self._authorized(req, "quota:update", project_id, resource)
        body = schemas.validate(QuotaPatch, common.json_body(req, argument="quota"))
        for name, value, path in (
            ("project_id", body.project_id, project_id),
            ("resource", body.resource, resource),
        ):
            if value is not None and value != path:
                raise exceptions.InvalidParameterValue(
                    err=f"Invalid input for field/attribute {name}. Value: "
                    f"'{exceptions.shorten(value)}'. A quota's {name} cannot be changed: "
                    f"it is '{exceptions.shorten(path)}'"
                )
        with self.api.db.session() as session:
            row = quotas.update(
                session, project_id=project_id, resource=resource, hard_limit=body.hard_limit
            )
            shown = render(row)
        common.send(resp, shown, status=202)

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, project_id: str, resource: str
    ) -> None:
        project_id, resource = self._authorized(req, "quota:delete", project_id, resource)
        with self.api.db.session() as session:
            quotas.delete(session, project_id=project_id, resource=resource)
        resp.status = falcon.HTTP_204
