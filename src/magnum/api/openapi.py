# SPDX-License-Identifier: Apache-2.0
"""OpenAPI 3.1 description of API v1, generated from the route table (magnum.api.routes).

Request schemas are the pydantic models that validate the bodies. Success response schemas
are built from what the resources render: a view's field tuples (magnum.api.v1.views),
each field typed by the row attribute it shows (the `Mapped[...]` annotations of
magnum.db.models), narrowed to an enumeration where the value is one.
"""

from __future__ import annotations

import dataclasses
import http
import json
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import falcon
import pydantic
from pydantic.json_schema import models_json_schema

from magnum.api import microversions, routing
from magnum.api.v1 import common, views
from magnum.api.v1 import quotas as quotas_api
from magnum.db import models
from magnum.objects import fields
from magnum.objects import quotas as quota_records

_REF = "#/components/schemas/{model}"
_ERROR = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "request_id": {"type": "string"},
                    "code": {"type": "string"},
                    "status": {"type": "integer"},
                    "title": {"type": "string"},
                    "detail": {"type": "string"},
                    "links": {"type": "array"},
                },
            },
        }
    },
}


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Component:
    """A named schema of components/schemas, built when the document is. A schema given
    to the route table may hold Components and pydantic models anywhere: both become
    `$ref`s."""

    name: str
    build: Callable[[], Any]


# --- building blocks --------------------------------------------------------------------------
STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
URL: dict[str, Any] = {"type": "string", "format": "uri"}
DATETIME: dict[str, Any] = {"type": "string", "format": "date-time"}
# A boolean query parameter: the words magnum.api.schemas.parse_bool reads.
BOOLEAN_TEXT: dict[str, Any] = {
    "type": "string",
    "enum": ["0", "1", "f", "false", "n", "no", "off", "on", "t", "true", "y", "yes"],
}
BINARY: dict[str, Any] = {"type": "string", "contentMediaType": "application/octet-stream"}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def enum(values: Iterable[str], *, null: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": sorted(values)}
    return nullable(schema) if null else schema


def obj(properties: Mapping[str, Any], *, optional: Iterable[str] = ()) -> dict[str, Any]:
    """An object with exactly these keys, all of them present but `optional`."""
    absent = set(optional)
    return {
        "type": "object",
        "required": [k for k in properties if k not in absent],
        "properties": dict(properties),
        "additionalProperties": False,
    }


LINKS = Component(
    "Links",
    lambda: {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["href", "rel"],
            "properties": {"href": URL, "rel": STRING, "type": STRING},
            "additionalProperties": False,
        },
    },
)


def _row_schema(annotation: Any) -> Any:
    """The JSON Schema of a `Mapped[X]` attribute as the API renders it."""
    (python_type,) = typing.get_args(annotation)
    return pydantic.TypeAdapter(python_type).json_schema()


def record(
    name: str,
    row: type[models.Base],
    shown: Iterable[str],
    *,
    columns: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    links: bool = True,
    timestamps: bool = False,
    optional: Iterable[str] = (),
) -> Component:
    """The object a resource renders from `row`: the `shown` fields (API names; `columns`
    maps them to row attributes where they differ), typed by the row's annotations unless
    `overrides` says better; `links`, and `created_at`/`updated_at` when `timestamps`."""
    shown = tuple(shown)
    columns = columns or {}
    overrides = overrides or {}

    def build() -> dict[str, Any]:
        hints = typing.get_type_hints(row)
        properties: dict[str, Any] = {}
        for field in shown:
            if field in overrides:
                properties[field] = overrides[field]
            elif field == "uuid":
                properties[field] = UUID
            else:
                properties[field] = _row_schema(hints[columns.get(field, field)])
        if links:
            properties["links"] = LINKS
        if timestamps:
            properties["created_at"] = DATETIME
            properties["updated_at"] = nullable(DATETIME)
        return obj(properties, optional=optional)

    return Component(name, build)


_LABELS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
}
_CLUSTER_FIELDS = {
    "status": enum(fields.ClusterStatus),
    "health_status": enum(fields.HealthStatus, null=True),
    # computed (magnum.api.v1.views.CLUSTER.computed) or shown only by some resources
    "cluster_id": nullable(STRING),
    "merge_labels": {"type": "boolean"},
    "health_status_reason": nullable({"type": "object"}),
    "labels": _LABELS,
    "labels_overridden": _LABELS,
    "labels_added": _LABELS,
    "labels_skipped": _LABELS,
    "faults": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
}
_BAY_FIELDS = {
    "status": enum(fields.ClusterStatus),
    "health_status": enum(fields.HealthStatus, null=True),
}
_TEMPLATE_FIELDS = {"coe": enum(fields.COE, null=True)}
# collection -> (component name, row model, narrower field schemas)
_VIEWS: dict[str, tuple[str, type[models.Base], Mapping[str, Any]]] = {
    "bays": ("Bay", models.Cluster, _BAY_FIELDS),
    "clusters": ("Cluster", models.Cluster, _CLUSTER_FIELDS),
    "baymodels": ("BayModel", models.ClusterTemplate, _TEMPLATE_FIELDS),
    "clustertemplates": ("ClusterTemplate", models.ClusterTemplate, _TEMPLATE_FIELDS),
}
_VIEW_COMPONENTS: dict[tuple[str, bool], Component] = {}


def view(v: views.View, *, brief: bool = False) -> Component:
    """What `v.render(row, prefix, brief=brief)` returns."""
    key = (v.collection, brief)
    if key not in _VIEW_COMPONENTS:
        name, row, narrower = _VIEWS[v.collection]
        shown = v.brief_fields if brief else v.full_fields
        extra = () if brief else v.extra_fields
        _VIEW_COMPONENTS[key] = record(
            f"{name}Brief" if brief else name,
            row,
            (*shown, *extra),
            columns=v.columns,
            overrides=narrower,
            timestamps=not brief,
            # fields of some versions only, or of some answers only, may be absent
            optional=(*(f for f in shown if not shown.gate(f).everywhere()), *extra),
        )
    return _VIEW_COMPONENTS[key]


def page(key: str, item: Any) -> dict[str, Any]:
    """A collection: `{key: [item, ...]}` and, when the page is full, a `next` link."""
    return obj({key: {"type": "array", "items": item}, "next": URL}, optional=("next",))


def query(name: str, schema: Mapping[str, Any], description: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "schema": dict(schema)}
    if description:
        param["description"] = description
    return param


def path_param(name: str, schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": dict(schema),
    }


LIMIT = query("limit", {"type": "integer", "minimum": 1}, "at most [api] max_limit")
MARKER = query("marker", UUID, "the uuid of the last item of the previous page")


def page_params(sortable: Iterable[str]) -> tuple[dict[str, Any], ...]:
    return (
        LIMIT,
        MARKER,
        query("sort_key", enum(sortable)),
        query("sort_dir", enum(("asc", "desc"))),
    )


ALL_PROJECTS = query(
    common.ALL_PROJECTS,
    BOOLEAN_TEXT,
    "true: every project's, when the policy's *_all_projects rule lets the caller (403 otherwise)",
)


def listing_params(v: views.View) -> tuple[dict[str, Any], ...]:
    """The query of a common.Listing over `v`."""
    return (*page_params(common.sort_keys(v.full)), ALL_PROJECTS)


# Path parameters by name, for every route whose template names them.
PATH_PARAMS = {
    "ident": path_param("ident", STRING, "UUID or name"),
    "action": path_param("action", STRING, "the action"),
    "bay_ident": path_param("bay_ident", STRING, "the bay's UUID or name"),
    "nodegroup": path_param("nodegroup", STRING, "the nodegroup's UUID, name or id"),
    "project_id": path_param(
        "project_id",
        {"type": "string", "minLength": 1, "maxLength": 255, "pattern": quotas_api.PROJECT_PATTERN},
        "the project",
    ),
    "resource": path_param("resource", enum(quota_records.RESOURCES), "what is limited"),
}


def patch_body(paths: tuple[str, ...]) -> dict[str, Any]:
    """A JSON Patch body whose operations name only the paths a resource lets change."""
    return {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["op", "path"],
            "properties": {
                "op": {"enum": ["add", "replace", "remove"]},
                "path": {"enum": list(paths)},
                "value": {},
            },
        },
    }


# --- the document -----------------------------------------------------------------------------
class _Refs:
    """Turns Components and pydantic models inside schemas into `$ref`s and collects them."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Errors": _ERROR}
        self.models: dict[str, type[pydantic.BaseModel]] = {}
        self._built: dict[str, Component] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, type) and issubclass(value, pydantic.BaseModel):
            self.models.setdefault(value.__name__, value)
            if self.models[value.__name__] is not value:
                raise ValueError(f"two request models are named {value.__name__}")
            return {"$ref": _REF.format(model=value.__name__)}
        if isinstance(value, Component):
            if value.name not in self._built:
                self._built[value.name] = value
                self.components[value.name] = self.resolve(value.build())
            elif self._built[value.name] is not value:
                raise ValueError(f"two components are named {value.name}")
            return {"$ref": _REF.format(model=value.name)}
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value

    def finish(self) -> dict[str, Any]:
        _, defs = models_json_schema(
            [(m, "validation") for m in self.models.values()], ref_template=_REF
        )
        for name, schema in defs.get("$defs", {}).items():
            if name in self.components:
                raise ValueError(f"a request model and a component are both named {name}")
            self.components[name] = schema
        missing = set(self.models) - set(self.components)
        assert not missing, f"request models without a schema: {missing}"
        return self.components


def _errors(codes: Iterable[int]) -> dict[str, Any]:
    return {
        str(c): {
            "description": http.HTTPStatus(c).phrase,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Errors")}}},
        }
        for c in sorted(set(codes))
    }


def operation_id(path: str, method: str) -> str:
    """`getV1BaysIdentEvents` for GET /v1/bays/{ident}/events."""
    words = (re.sub(r"\W", "", part).title() for part in path.split("/") if part)
    return method.lower() + "".join(words)


def _answers_uuid(response: Any) -> bool:
    schema = response.build() if isinstance(response, Component) else response
    return isinstance(schema, Mapping) and "uuid" in schema.get("properties", {})


def _links(
    table: Iterable[routing.Route], route: routing.Route, op: routing.Operation
) -> list[routing.Link]:
    """What `op`'s success answer links to: those it declares and, for the POST creating one
    of a collection, every operation on the new item (its `uuid` is their {ident})."""
    links = list(op.links)
    if op.method == "POST" and route.collection and _answers_uuid(op.response):
        item = f"{route.path}/{{ident}}"
        for other in table:
            if other.path != item and not other.path.startswith(f"{item}/"):
                continue
            rest = "".join(p.strip("{}").title() for p in other.path[len(item) :].split("/"))
            for target in other.operations:
                links.append(
                    routing.Link(
                        name=f"{target.method.title()}{rest or 'Item'}",
                        path=other.path,
                        method=target.method,
                        parameters={"ident": "$response.body#/uuid"},
                        body=target.link_body,
                    )
                )
    return links


def version_header(gate: microversions.Gate) -> dict[str, Any]:
    """The `OpenStack-API-Version` values that reach an operation served only in some
    versions; required when the minimum (what no header asks for) is not one of them."""
    admitted = [v for v in microversions.SERVED if gate.admits(v)]
    values = [f"container-infra {microversions.fmt(v)}" for v in admitted]
    if gate.until is None:
        values.append("container-infra latest")
    return {
        "name": "OpenStack-API-Version",
        "in": "header",
        "required": not gate.admits(microversions.MIN_VERSION),
        "description": "the microversion; this operation exists in "
        f"{microversions.fmt(admitted[0])} to {microversions.fmt(admitted[-1])}",
        "schema": {"type": "string", "enum": values},
    }


def _operation(
    route: routing.Route, op: routing.Operation, gate: microversions.Gate, refs: _Refs
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": operation_id(route.path, op.method),
        "tags": [route.tag],
        "summary": op.summary,
    }
    if op.description:
        out["description"] = op.description
    params = list(op.params)
    if route.path.startswith("/v1") and not gate.everywhere():
        params.append(version_header(gate))
    if params:
        out["parameters"] = refs.resolve(tuple(params))
    codes = set(op.errors)
    if route.path.startswith("/v1"):
        codes.add(406)  # an unacceptable microversion header, on every /v1 request
    if op.request is not None:
        content = {"application/json": {"schema": refs.resolve(op.request)}}
        out["requestBody"] = {"required": True, "content": content}
        codes |= {413, 415}  # the body's size and media type (middleware.Bodies)
    elif op.media:
        content = {m: {"schema": BINARY} for m in op.media}
        out["requestBody"] = {"required": True, "content": content}
    ok: dict[str, Any] = {"description": http.HTTPStatus(op.status).phrase}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": refs.resolve(op.response)}}
    out["responses"] = {str(op.status): ok} | _errors(codes)
    for status, schema, when in op.also:
        other: dict[str, Any] = {"description": f"{http.HTTPStatus(status).phrase}: {when}"}
        if schema is not None:
            other["content"] = {"application/json": {"schema": refs.resolve(schema)}}
        out["responses"][str(status)] = other
    if gate != microversions.ALWAYS:
        out["x-microversions"] = gate.describe()
    return out


def _describe_links(table: tuple[routing.Route, ...], paths: dict[str, Any]) -> None:
    """Add each success answer's links, to the operations `paths` describes."""
    for route in table:
        for op in route.operations:
            described = paths.get(route.path, {}).get(op.method.lower())
            if described is None:
                continue
            links: dict[str, Any] = {}
            for link in _links(table, route, op):
                if link.method.lower() not in paths.get(link.path, {}):
                    continue  # not served at these versions
                entry: dict[str, Any] = {"operationId": operation_id(link.path, link.method)}
                if link.parameters:
                    entry["parameters"] = dict(link.parameters)
                if link.body is not None:
                    entry["requestBody"] = link.body
                links[link.name] = entry
            if links:
                described["responses"][str(op.status)]["links"] = links


def document(
    table: Iterable[routing.Route], served: tuple[microversions.Version, ...] = microversions.SERVED
) -> dict[str, Any]:
    table = tuple(table)
    refs = _Refs()
    paths: dict[str, Any] = {}
    for route in table:
        if not route.gate.served(served):
            continue
        item: dict[str, Any] = {}
        if route.path_params:
            item["parameters"] = [PATH_PARAMS[name] for name in route.path_params]
        for op in route.operations:
            gate = route.gate & op.gate
            if gate.served(served):
                item[op.method.lower()] = _operation(route, op, gate, refs)
        if route.path in paths:
            raise ValueError(f"two routes for {route.path}")
        paths[route.path] = item
    _describe_links(table, paths)
    history = "; ".join(
        f"{microversions.fmt(m.version)}: {m.adds}"
        for m in microversions.HISTORY
        if m.version in served
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Magnum container infrastructure API",
            "version": microversions.fmt(max(served)),
            "description": f"Microversions {microversions.fmt(min(served))} to "
            f"{microversions.fmt(max(served))} (header `OpenStack-API-Version: "
            f"container-infra <version>`; none asks for the minimum). {history}.",
        },
        "paths": paths,
        "components": {"schemas": refs.finish()},
    }


class Document:
    """GET /v1/openapi.json: the document, generated once."""

    def __init__(self, table: Iterable[routing.Route]) -> None:
        self._body = json.dumps(document(table))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = self._body
