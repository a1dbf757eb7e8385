# SPDX-License-Identifier: Apache-2.0
"""OpenAPI 3.1 description of API v1, generated from the schemas that validate requests."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from magnum.api import schemas, versions

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
_PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "marker", "in": "query", "schema": {"type": "string", "format": "uuid"}},
    {"name": "sort_key", "in": "query", "schema": {"type": "string"}},
    {"name": "sort_dir", "in": "query", "schema": {"enum": ["asc", "desc"]}},
]
_IDENT = [
    {
        "name": "ident",
        "in": "path",
        "required": True,
        "description": "UUID or name",
        "schema": {"type": "string"},
    }
]


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Errors")}}},
        }
        for c in codes
    }


def _ok(code: int, description: str) -> dict[str, Any]:
    return {str(code): {"description": description}}


def _crud(name: str, body: str, tag: str) -> dict[str, Any]:
    json_body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=body)}}},
    }
    patch_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": _REF.format(model="PatchOp")}}
            }
        },
    }
    return {
        f"/v1/{name}": {
            "get": {
                "tags": [tag],
                "parameters": _PAGE_PARAMS,
                "responses": _ok(200, "brief list") | _errors(400, 403, 404),
            },
            "post": {
                "tags": [tag],
                "requestBody": json_body,
                "responses": _ok(201, "created") | _errors(400, 403, 409, 413, 415),
            },
        },
        f"/v1/{name}/detail": {
            "get": {
                "tags": [tag],
                "parameters": _PAGE_PARAMS,
                "responses": _ok(200, "full list") | _errors(400, 403, 404),
            },
        },
        f"/v1/{name}/{{ident}}": {
            "parameters": _IDENT,
            "get": {"tags": [tag], "responses": _ok(200, "one") | _errors(403, 404, 409)},
            "patch": {
                "tags": [tag],
                "requestBody": patch_body,
                "responses": _ok(200, "updated") | _errors(400, 403, 404, 409),
            },
            "delete": {"tags": [tag], "responses": _ok(204, "deleted") | _errors(400, 403, 404)},
        },
    }


def _cluster_images() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "contentMediaType": "application/x-tar"}}
    loaded = {
        "type": "object",
        "required": ["bay_uuid", "images", "nodes"],
        "properties": {
            "bay_uuid": {"type": "string", "format": "uuid"},
            "images": {"type": "array", "items": {"type": "string"}},
            "nodes": {"type": "integer", "minimum": 1},
            "links": {"type": "array"},
        },
    }
    return {
        "parameters": _IDENT,
        "post": {
            "tags": ["bays"],
            "summary": "Load an image archive into every node of the bay",
            "description": "The body is what `docker save repo:tag` writes (plain or gzip, "
            "bzip2, xz compressed), at most [api] max_image_size bytes. The bay must be "
            "CREATE_COMPLETE or UPDATE_COMPLETE. Answers once every node has loaded it.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-tar": binary,
                    "application/octet-stream": binary,
                    "application/gzip": binary,
                },
            },
            "responses": {
                "201": {
                    "description": "loaded into every node",
                    "content": {"application/json": {"schema": loaded}},
                }
            }
            | _errors(400, 403, 404, 409, 413, 415, 500),
        },
    }


def _containers() -> dict[str, Any]:
    """The container actions (Magnum Mitaka): PUT answers JSON null, logs and execute
    {"output": ...}; /v1/containers/{action}/{ident} is accepted too."""
    output = {
        "description": "the output",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["output"],
                    "properties": {"output": {"type": "string"}},
                }
            }
        },
    }
    action = {
        "name": "action",
        "in": "path",
        "required": True,
        "schema": {"enum": ["start", "stop", "reboot", "pause", "unpause", "execute", "logs"]},
        "description": "execute takes ?command=...; logs is a GET, the others PUT",
    }
    return {
        "/v1/containers/{ident}/{action}": {
            "parameters": [*_IDENT, action],
            "put": {
                "tags": ["containers"],
                "parameters": [
                    {"name": "command", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "done: JSON null, or {output} for execute",
                        "content": {"application/json": {"schema": {}}},
                    }
                }
                | _errors(400, 403, 404, 405, 409, 500),
            },
            "get": {
                "tags": ["containers"],
                "responses": {"200": output} | _errors(403, 404, 405, 409, 500),
            },
        }
    }


def document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (m, "validation")
            for m in (
                schemas.BayModelBody,
                schemas.BayBody,
                schemas.ContainerBody,
                schemas.PatchOp,
            )
        ],
        ref_template=_REF,
    )
    components = dict(defs.get("$defs", {}))
    components["Errors"] = _ERROR
    paths = {
        **_crud("baymodels", "BayModelBody", "baymodels"),
        **_crud("bays", "BayBody", "bays"),
        "/v1/bays/{ident}/images": _cluster_images(),
        **_crud("containers", "ContainerBody", "containers"),
        **_containers(),
        "/v1/mservices": {
            "get": {"tags": ["mservices"], "responses": _ok(200, "services") | _errors(403)}
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Magnum container infrastructure API",
            "version": versions.fmt(versions.MAX_VERSION),
        },
        "paths": paths,
        "components": {"schemas": components},
    }
