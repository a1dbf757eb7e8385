# SPDX-License-Identifier: Apache-2.0
"""/v1/openapi.json names each operation (operationId) and links a create's answer to the
operations that take the new item's uuid, so that a client, or a stateful fuzzer, can go
from a POST to the GET, PATCH, DELETE and actions on what it made; and the body schemas say
what the API accepts (`null` for any optional field, never for `coe`)."""

from __future__ import annotations

from typing import Any

import pytest

from magnum.api import openapi, routes, schemas


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    document: dict[str, Any] = openapi.document(routes.TABLE)
    return document


def _operations(doc: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    }


def _links(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    op = doc["paths"][path][method.lower()]
    # the links hang on the operation's own success answer, the first declared
    success = next(r for code, r in op["responses"].items() if code.startswith("2"))
    links: dict[str, Any] = success.get("links", {})
    return links


def test_every_operation_has_a_unique_operation_id(doc: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for item in doc["paths"].values()
        for method, op in item.items()
        if method != "parameters"
    ]
    assert len(ids) == len(set(ids))
    assert openapi.operation_id("/v1/bays/{ident}/events", "GET") == "getV1BaysIdentEvents"


def test_a_create_links_to_every_operation_on_the_new_item(doc: dict[str, Any]) -> None:
    operations = _operations(doc)
    for collection in (
        "/v1/baymodels",
        "/v1/bays",
        "/v1/clustertemplates",
        "/v1/clusters",
        "/v1/containers",
    ):
        targets = {
            operations[link["operationId"]][:2]
            for link in _links(doc, "POST", collection).values()
            if link.get("parameters") == {"ident": "$response.body#/uuid"}
        }
        expected = {
            (method.upper(), path)
            for path, item in doc["paths"].items()
            if path.startswith(f"{collection}/{{ident}}")
            for method in item
            if method != "parameters"
        }
        assert expected <= targets, (collection, expected - targets)


def test_creates_link_to_what_uses_the_new_item(doc: dict[str, Any]) -> None:
    operations = _operations(doc)

    def uses(method: str, path: str) -> set[tuple[str, str, str]]:
        return {
            (*operations[link["operationId"]][:2], field)
            for link in _links(doc, method, path).values()
            if isinstance(link.get("requestBody"), dict)
            for field in link["requestBody"]
        }

    assert ("POST", "/v1/bays", "baymodel_id") in uses("POST", "/v1/baymodels")
    assert {
        ("POST", "/v1/containers", "bay_uuid"),
        ("POST", "/v1/certificates", "bay_uuid"),
    } <= uses("POST", "/v1/bays")
    bay_links = {operations[v["operationId"]][1] for v in _links(doc, "POST", "/v1/bays").values()}
    assert {"/v1/certificates/{ident}", "/v1/clusters/{ident}/events"} <= bay_links


def test_a_new_item_is_renamed_through_its_link(doc: dict[str, Any]) -> None:
    # what the stateful fuzzer sends: a PATCH a client would make, not a guess
    rename = [{"op": "replace", "path": "/name", "value": "renamed"}]
    for collection in ("/v1/baymodels", "/v1/clustertemplates", "/v1/containers"):
        assert _links(doc, "POST", collection)["PatchItem"]["requestBody"] == rename
    assert "requestBody" not in _links(doc, "POST", "/v1/bays")["PatchItem"]  # name is fixed


def test_every_link_names_an_operation_and_its_parameters(doc: dict[str, Any]) -> None:
    operations = _operations(doc)
    for _, path, op in operations.values():
        for code, response in op["responses"].items():
            for name, link in response.get("links", {}).items():
                assert link["operationId"] in operations, (path, code, name)
                _, target, described = operations[link["operationId"]]
                params = {p["name"] for p in doc["paths"][target].get("parameters", [])}
                params |= {p["name"] for p in described.get("parameters", [])}
                assert set(link.get("parameters", {})) <= params, (path, name)


def test_optional_body_fields_accept_null_as_the_api_does() -> None:
    props = schemas.BayModelBody.model_json_schema()["properties"]
    for name in ("server_type", "labels", "public", "tls_disabled", "registry_enabled"):
        assert {"type": "null"} in props[name]["anyOf"], (name, props[name])
        schemas.validate(
            schemas.BayModelBody, {"image_id": "i", "keypair_id": "k", "coe": "swarm", name: None}
        )
    assert props["coe"]["enum"] == ["kubernetes", "swarm", "mesos"]
    assert "anyOf" not in props["coe"] and props["coe"]["type"] == "string"
    required = props["image_id"]
    assert "anyOf" not in required and required["type"] == "string"
