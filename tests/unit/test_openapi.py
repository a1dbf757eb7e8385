# SPDX-License-Identifier: Apache-2.0
"""/v1/openapi.json is generated from the route table and tells the truth: it is valid
OpenAPI 3.1, it has every served route and operation, and every answer recorded by the
golden replay of /v1/bays and /v1/baymodels validates against what it declares."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from magnum.api import microversions, openapi, routes
from magnum.api.v1 import common, containers, views
from tests.openapi_check import Described

GOLDEN = pathlib.Path(__file__).parents[1] / "functional" / "golden" / "bays_v1.json"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    document: dict[str, Any] = openapi.document(routes.TABLE)
    return document


def test_the_document_is_valid_openapi_31(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert [str(e) for e in OpenAPIV31SpecValidator(doc).iter_errors()] == []
    assert doc["info"]["version"] == microversions.fmt(microversions.MAX_VERSION)
    json.dumps(doc)  # nothing but JSON in it


def test_every_route_and_operation_of_the_table_is_described(doc: dict[str, Any]) -> None:
    expected = {
        (route.path, op.method.lower())
        for route in routes.TABLE
        for op in route.operations
        if (route.gate & op.gate).served()
    }
    described = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert described == expected
    assert {
        "/v1/certificates",
        "/v1/certificates/{ident}",
        "/v1/bays/{ident}/events",
        "/v1/clusters/{ident}/events",
        "/v1/containers/{ident}/{action}",
    } <= set(doc["paths"])


def test_every_success_declares_its_body(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            success = [code for code in op["responses"] if code.startswith("2")]
            assert success, (path, method)
            for code in success:  # several when microversions answer differently
                declared = op["responses"][code]
                assert ("content" in declared) == (code != "204"), (path, method, code)
            if path.startswith("/v1"):
                assert "406" in op["responses"], (path, method)


def _param(op: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in op["parameters"] if p["name"] == name)
    return found


def test_sort_keys_are_the_sortable_fields(doc: dict[str, Any]) -> None:
    for collection, sortable in (
        ("bays", common.sort_keys(views.BAY.full)),
        ("baymodels", common.sort_keys(views.BAYMODEL.full)),
        ("containers", containers.SORTABLE),
    ):
        for path in (f"/v1/{collection}", f"/v1/{collection}/detail"):
            sort_key = _param(doc["paths"][path]["get"], "sort_key")
            assert sort_key["schema"] == {"enum": sorted(sortable)}, path
    assert "trust_id" not in common.sort_keys(views.BAY.full)  # internal columns never are


def test_container_actions_are_tied_to_their_method(doc: dict[str, Any]) -> None:
    item = doc["paths"]["/v1/containers/{ident}/{action}"]
    put = _param(item["put"], "action")["schema"]["enum"]
    get = _param(item["get"], "action")["schema"]["enum"]
    assert put == ["execute", "pause", "reboot", "start", "stop", "unpause"]
    assert get == ["logs"]
    assert {p["name"] for p in item["put"]["parameters"]} == {"action", "command"}


def test_events_are_described(doc: dict[str, Any]) -> None:
    for path in ("/v1/bays/{ident}/events", "/v1/clusters/{ident}/events"):
        op = doc["paths"][path]["get"]
        names = [p["name"] for p in op["parameters"] if p["in"] == "query"]
        assert names == ["limit", "marker", "since"]
        assert _param(op, "since")["schema"] == {"type": "string", "format": "date-time"}
        assert {"200", "400", "404"} <= set(op["responses"])
    event = doc["components"]["schemas"]["Event"]
    assert list(event["properties"]) == [
        "uuid",
        "created_at",
        "kind",
        "status",
        "error_code",
        "message",
        "operation_uuid",
        "request_id",
        "user_id",
        "project_id",
        "conductor",
    ]
    assert event["additionalProperties"] is False


def test_views_are_described_field_for_field(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name, view in (("Bay", views.BAY), ("BayModel", views.BAYMODEL)):
        assert list(schemas[name]["properties"]) == [
            *view.full,
            "links",
            "created_at",
            "updated_at",
        ]
        assert list(schemas[f"{name}Brief"]["properties"]) == [*view.brief, "links"]
    assert schemas["Bay"]["properties"]["node_addresses"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert "CREATE_COMPLETE" in schemas["Bay"]["properties"]["status"]["enum"]


def test_mitaka_routes_say_1_11_removed_them(doc: dict[str, Any]) -> None:
    assert doc["paths"]["/v1/bays/{ident}"]["get"]["x-microversions"] == {
        "since": "1.1",
        "until": "1.11",
    }
    assert "x-microversions" not in doc["paths"]["/v1/containers"]["get"]
    assert "x-microversions" not in doc["paths"]["/v1/clusters/{ident}/events"]["get"]


def test_recorded_answers_are_what_the_document_says(doc: dict[str, Any]) -> None:
    described = Described(doc)
    checked = 0
    for step in json.loads(GOLDEN.read_text()):
        request = step["request"]
        if described.operation(request["method"], request["path"]) is None:
            continue  # an unknown path or method: 404 and 405 are Falcon's
        described.check(request["method"], request["path"], step["status"], step["body"])
        checked += 1
    assert checked > 100


def test_the_check_catches_an_untruth(doc: dict[str, Any]) -> None:
    described = Described(doc)
    with pytest.raises(AssertionError, match="answered 418"):
        described.check("GET", "/v1/bays", 418, "")
    with pytest.raises(AssertionError, match="Additional properties"):
        described.check("GET", "/v1/bays", 200, json.dumps({"bays": [], "extra": 1}))
    with pytest.raises(AssertionError, match="'state' is a required property"):
        described.check("GET", "/v1/mservices", 200, json.dumps({"mservices": [{"id": 1}]}))
    with pytest.raises(AssertionError, match="a body where none is declared"):
        described.check("DELETE", "/v1/bays/b1", 204, "{}")


def test_operations_of_some_versions_declare_the_version_header(doc: dict[str, Any]) -> None:
    # nodegroups exist from 1.9 on: a request needs the header, and its values reach them
    header = _param(doc["paths"]["/v1/clusters/{ident}/nodegroups"]["get"], "OpenStack-API-Version")
    assert header["in"] == "header" and header["required"] is True
    assert header["schema"]["enum"] == [
        *(f"container-infra 1.{m}" for m in range(9, 15)),
        "container-infra latest",
    ]
    # bays exist until 1.11: no header (1.1) reaches them, and "latest" never does
    header = _param(doc["paths"]["/v1/bays"]["get"], "OpenStack-API-Version")
    assert header["required"] is False
    assert header["schema"]["enum"] == [f"container-infra 1.{m}" for m in range(1, 11)]
    # what every version serves needs no header
    names = {p["name"] for p in doc["paths"]["/v1/clusters"]["get"].get("parameters", [])}
    assert "OpenStack-API-Version" not in names
