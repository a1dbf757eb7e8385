# SPDX-License-Identifier: Apache-2.0
"""What every v1 resource shares: query parameters, links, collections, bodies, JSON Patch."""

from __future__ import annotations

import abc
import dataclasses
import json
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import falcon
import jsonpatch
import orjson

from magnum.api import errors, microversions, schemas
from magnum.api.v1 import views
from magnum.common import context, exceptions, utils
from magnum.objects import query

PAGE_ARGS = frozenset({"limit", "marker", "sort_key", "sort_dir"})
BASE_INTERNAL = frozenset(
    {"/created_at", "/id", "/links", "/updated_at", "/uuid", "/project_id", "/user_id"}
)


def ctx(req: falcon.Request) -> context.RequestContext:
    value = req.context["magnum"]
    assert isinstance(value, context.RequestContext)
    return value


def target(row: Any) -> dict[str, Any]:
    """The policy target of a project-owned row."""
    return {"project_id": row.project_id, "user_id": row.user_id}


ALL_PROJECTS = "all_projects"


def all_projects(api: Any, req: falcon.Request, rule: str) -> context.RequestContext:
    """The caller; reading every project's rows with `?all_projects=true` once the
    policy's `rule` (a `*_all_projects` one) lets it (403 otherwise). An admin
    (`context_is_admin`, under Keystone) reads every project's rows without asking, as in
    Magnum, where the rule lets it (else its own project's), and only its own with
    `?all_projects=false`."""
    caller = ctx(req)
    asked = bool_param(req, ALL_PROJECTS)
    if asked is None and caller.is_admin:
        if not api.policy.check(rule, caller):
            return caller
    elif not asked:
        return caller
    else:
        api.policy.authorize(rule, caller)
    return dataclasses.replace(caller, all_projects=True)


def authorize_row(api: Any, action: str, caller: context.RequestContext, row: Any) -> None:
    """Authorize `action` on a project-owned row. A row of another project is only found
    through all_projects, whose `*_all_projects` rule has decided already."""
    if caller.all_projects and row.project_id != caller.project_id:
        return
    api.policy.authorize(action, caller, target(row))


def reject_unknown_args(req: falcon.Request, allowed: Iterable[str] = ()) -> None:
    allowed = frozenset(allowed)
    for name in req.params:
        if name not in allowed:
            raise exceptions.InvalidParameterValue(
                err=f'Unknown argument: "{exceptions.shorten(name)}"'
            )


def one_param(req: falcon.Request, name: str) -> str | None:
    """A query parameter given at most once (a repeated one is a 400)."""
    value = req.params.get(name)
    if value is not None and not isinstance(value, str):
        raise exceptions.InvalidParameterValue(err="Repeated query parameters are not allowed")
    return value


def bool_param(req: falcon.Request, name: str) -> bool | None:
    """A boolean query parameter, in the words a body's boolean accepts; None if absent."""
    raw = one_param(req, name)
    if raw is None:
        return None
    try:
        return schemas.parse_bool(raw)
    except ValueError as exc:
        shown = exceptions.shorten(raw)
        raise exceptions.InvalidParameterValue(
            err=f"Invalid input for field/attribute {name}. Value: '{shown}'. {exc}"
        ) from None


# Fields whose values are JSON lists or objects: no order makes sense (and PostgreSQL cannot
# order JSON text).
_JSON_FIELDS = frozenset({"labels", "node_addresses", "master_addresses", "environment"})


def sort_keys(fields: Iterable[str]) -> frozenset[str]:
    """What a list may be ordered by: the fields the API shows, never internal columns
    (project_id, lease_owner, ...), whose order would leak them."""
    return (frozenset(fields) | {"id", "created_at", "updated_at"}) - _JSON_FIELDS


def page(
    req: falcon.Request,
    *,
    max_limit: int,
    sortable: frozenset[str],
    allowed: Iterable[str] = PAGE_ARGS,
) -> query.Page:
    reject_unknown_args(req, allowed)
    params = req.params
    limit = max_limit
    if "limit" in params:
        raw = str(params["limit"])
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise exceptions.InvalidParameterValue(
                err=f"Invalid input for field/attribute limit. Value: '{exceptions.shorten(raw)}'. "
                "unable to convert to int"
            ) from None
        if limit <= 0:
            raise exceptions.InvalidParameterValue(err="Limit must be positive")
        limit = min(limit, max_limit)
    marker = params.get("marker")
    if marker is not None and not utils.is_uuid_like(marker):
        raise exceptions.InvalidUUID(uuid=marker)
    sort_dir = params.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise exceptions.InvalidParameterValue(
            err=f"Invalid sort direction: {exceptions.shorten(sort_dir)}. Acceptable values are "
            "'asc' or 'desc'"
        )
    sort_key = params.get("sort_key", "id")
    if not isinstance(sort_key, str) or not isinstance(marker, str | None):
        raise exceptions.InvalidParameterValue(err="Repeated query parameters are not allowed")
    if sort_key not in sortable:
        raise exceptions.InvalidParameterValue(
            err=f'The sort_key value "{exceptions.shorten(sort_key)}" is an invalid field for '
            "sorting"
        )
    return query.Page(limit=limit, marker=marker, sort_key=sort_key, sort_dir=sort_dir)


def links(prefix: str, collection: str, uuid: str) -> list[dict[str, str]]:
    return [
        {"href": f"{prefix}/v1/{collection}/{uuid}", "rel": "self"},
        {"href": f"{prefix}/{collection}/{uuid}", "rel": "bookmark"},
    ]


def collection(
    req: falcon.Request,
    name: str,
    items: Sequence[Any],
    render: Callable[[Any], dict[str, Any]],
    pg: query.Page,
    *,
    detail: bool,
    every_project: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {name: [render(item) for item in items]}
    if items and len(items) == pg.limit:
        path = f"{req.prefix}/v1/{name}{'/detail' if detail else ''}"
        args: dict[str, Any] = {ALL_PROJECTS: "true"} if every_project else {}
        qs = urllib.parse.urlencode(
            args
            | {
                "sort_key": pg.sort_key,
                "sort_dir": pg.sort_dir,
                "limit": pg.limit,
                "marker": items[-1].uuid,
            }
        )
        body["next"] = f"{path}?{qs}"
    return body


def json_body(req: falcon.Request, *, argument: str) -> Any:
    """The request's JSON body (read once; later calls get the same, or what a resource
    stored as the body in req.context["json_body"]). Size limits and media type were
    checked by middleware."""
    if "json_body" in req.context:
        return req.context["json_body"]
    raw = req.bounded_stream.read()
    if not raw:
        raise exceptions.InvalidParameterValue(err=f'Missing argument: "{argument}"')
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        raise exceptions.InvalidParameterValue(err="Request is not in valid JSON format") from None
    req.context["json_body"] = body
    return body


def send(
    resp: falcon.Response, body: Any, *, status: int = 200, location: str | None = None
) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body)  # UTF-8, not ASCII with escapes: a tenth of json's time
    if location:
        resp.location = location


def created(
    req: falcon.Request, resp: falcon.Response, collection: str, uuid: str, body: Any
) -> None:
    """201 with the new item and its Location."""
    send(resp, body, status=201, location=f"{req.prefix}/v1/{collection}/{uuid}")


def apply_patch(
    document: Mapping[str, Any],
    req: falcon.Request,
    *,
    internal: frozenset[str],
    mandatory: frozenset[str],
    defaults: Mapping[str, Any],
) -> dict[str, Any]:
    """Apply a JSON Patch body to `document` with Magnum's rules on what may change."""
    data = json_body(req, argument="patch")
    if not isinstance(data, list) or not data:
        raise errors.ValidationFailed(
            ["Invalid input for argument patch: expected a non-empty JSON array of operations"]
        )
    ops = [schemas.validate(schemas.PatchOp, op).model_dump() for op in data]
    for op in ops:
        _check_op(op, document, internal=internal, mandatory=mandatory)
    doc = dict(document)
    plain = []
    for op in ops:  # `remove` of a top-level field resets it to its default, as in Magnum
        if op["op"] == "remove" and op["path"].count("/") == 1:
            name = op["path"][1:]
            if name not in doc:
                raise exceptions.PatchError(
                    patch=json.dumps(data), reason=f"can't remove a non-existent object '{name}'"
                )
            plain.append({"op": "replace", "path": op["path"], "value": defaults.get(name)})
        elif op["op"] == "remove":
            plain.append({"op": "remove", "path": op["path"]})
        else:
            plain.append({"op": op["op"], "path": op["path"], "value": op["value"]})
    try:
        result = jsonpatch.apply_patch(doc, plain)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise exceptions.PatchError(patch=json.dumps(data), reason=str(exc)) from None
    assert isinstance(result, dict)
    return result


def _check_op(
    op: Mapping[str, Any],
    document: Mapping[str, Any],
    *,
    internal: frozenset[str],
    mandatory: frozenset[str],
) -> None:
    """Magnum's rules on which paths an operation may touch."""
    path, name = op["path"], op["path"].split("/")[1]
    shown = exceptions.shorten(path)
    if path in internal or f"/{name}" in internal:
        raise exceptions.InvalidParameterValue(
            err=f"'{shown}' is an internal attribute and can not be updated"
        )
    if op["op"] == "remove":
        if path in mandatory:
            raise exceptions.InvalidParameterValue(
                err=f"'{shown}' is a mandatory attribute and can not be removed"
            )
        return
    if op["value"] is None:
        raise exceptions.InvalidParameterValue(err="'add' and 'replace' operations needs value")
    if op["op"] == "add" and path.count("/") == 1:
        if name not in document:
            raise exceptions.InvalidParameterValue(
                err=f"Adding a new attribute {shown} to the root of the resource is not allowed."
            )
        if document[name] is not None:
            raise exceptions.InvalidParameterValue(
                err=f"The attribute {shown} has existed, please use 'replace' operation instead."
            )


class Listing(abc.ABC):
    """GET /v1/<collection> (brief items) and /v1/<collection>/detail for a resource shown
    through a view (magnum.api.v1.views): the view names the collection, the policy prefix,
    the fields and the columns; subclasses provide `rows`, the page the caller may see."""

    api: Any
    view: views.View

    @abc.abstractmethod
    def rows(self, session: Any, ctx: context.RequestContext, pg: query.Page) -> Sequence[Any]:
        """The page of rows, `pg` in row attributes (sort key and columns)."""

    def extras(
        self, session: Any, rows: Sequence[Any], *, detail: bool
    ) -> Callable[[Any], dict[str, Any]] | None:
        """What an item shows beyond its row (read in the listing's session); None: nothing."""
        return None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._list(req, resp, detail=False)

    def on_get_detail(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._list(req, resp, detail=True)

    def _list(self, req: falcon.Request, resp: falcon.Response, *, detail: bool) -> None:
        """Every project's rows for callers all_projects lets read them, which the
        `*_all_projects` rule (e.g. cluster:get_all_all_projects) decides instead of the
        plain one."""
        view = self.view
        rule = f"{view.policy}:{'detail' if detail else 'get_all'}"
        caller = all_projects(self.api, req, f"{rule}_all_projects")
        if not caller.all_projects:
            self.api.policy.authorize(rule, caller)
        asked = page(
            req,
            max_limit=self.api.max_limit,
            sortable=sort_keys(view.full),
            allowed=PAGE_ARGS | {ALL_PROJECTS},
        )
        pg = dataclasses.replace(asked, sort_key=view.attr(asked.sort_key))
        version = microversions.negotiated(req)
        if not detail:  # fetch only what a brief item shows
            pg = dataclasses.replace(pg, columns=view.brief_columns(version))
        with self.api.db.reader() as session:
            items = self.rows(session, caller, pg)
            extra = self.extras(session, items, detail=detail)
        prefix, brief = req.prefix, not detail

        def render(row: Any) -> dict[str, Any]:
            body = view.render(row, prefix, brief=brief, version=version)
            if extra is not None:
                body.update(extra(row))
            return body

        body = collection(
            req,
            view.collection,
            items,
            render,
            asked,
            detail=detail,
            every_project=caller.all_projects,
        )
        send(resp, body)
