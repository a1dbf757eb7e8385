# SPDX-License-Identifier: Apache-2.0
"""Holds answers to the OpenAPI document: the status is one the operation declares and the
body validates against the schema declared for that status."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import referencing
import referencing.jsonschema
from openapi_schema_validator import OAS31Validator

_URI = "urn:magnum:openapi"


class Described:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        resource = referencing.jsonschema.DRAFT202012.create_resource(doc)
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            _URI, resource
        )
        # literal paths first, so /v1/bays/detail is not read as /v1/bays/{ident}
        templates = sorted(doc["paths"], key=lambda p: (p.count("{"), p))
        self.templates = [
            (re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(t)) + "$"), t)
            for t in templates
        ]

    def template(self, path: str) -> str | None:
        bare = urllib.parse.urlsplit(path).path
        if len(bare) > 1:
            bare = bare.rstrip("/")
        if bare.endswith(".json") and bare[:-5] in ("", "/v1"):
            bare = bare[:-5] or "/"
        if bare != "/" and bare.split("/")[1] != "v1":  # Magnum's un-versioned bookmarks
            bare = f"/v1{bare}"
        return next((t for pattern, t in self.templates if pattern.match(bare)), None)

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        template = self.template(path)
        if template is None:
            return None
        op: dict[str, Any] | None = self.doc["paths"][template].get(method.lower())
        return op

    def check(self, method: str, path: str, status: int, text: str) -> None:
        """Raise AssertionError when the answer is not what the document says
        `method path` answers. (Formats are not checked: the golden recording's uuids read
        <uuid-N>.)"""
        op = self.operation(method, path)
        assert op is not None, f"{method} {path} is not in the document"
        responses = op["responses"]
        assert str(status) in responses, (
            f"{method} {path} answered {status}; the document declares {sorted(responses)}"
        )
        content = responses[str(status)].get("content")
        if content is None:
            assert text == "", f"{method} {path} {status}: a body where none is declared: {text}"
            return
        schema = content["application/json"]["schema"]
        absolute = json.loads(json.dumps(schema).replace('"#/components/', f'"{_URI}#/components/'))
        validator = OAS31Validator(absolute, registry=self.registry)
        errors = sorted(validator.iter_errors(json.loads(text)), key=lambda e: list(e.path))
        assert not errors, f"{method} {path} {status}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors
        )
