# SPDX-License-Identifier: Apache-2.0
"""Malformed requests: each is refused with a 4xx naming the field and the problem, in the
error envelope, and writes nothing (spec §3.3, §3.5, §3.7, §4.1, §4.2)."""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

import pytest

from magnum.common import exceptions
from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service

BOOLS = "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
NOT_JSON_OBJECT = "Invalid input for argument {arg}: expected a JSON object"


def _field(name: str, value: Any, reason: str) -> str:
    """The message naming a bad value (shown cut to 255 characters, then an ellipsis)."""
    shown = exceptions.shorten(value)
    return f"Invalid input for field/attribute {name}. Value: '{shown}'. {reason}"


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in BAYMODEL.items() if k != key}


BAYMODEL_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("name-int", BAYMODEL | {"name": 5}, _field("name", 5, "Value should be string")),
    (
        "name-long",
        BAYMODEL | {"name": "n" * 256},
        _field("name", "n" * 256, "Value should have a maximum character requirement of 255"),
    ),
    (
        "name-empty",
        BAYMODEL | {"name": ""},
        _field("name", "", "Value should have a minimum character requirement of 1"),
    ),
    (
        "name-nul",
        BAYMODEL | {"name": "a\x00b"},
        _field("name", "a\x00b", "Value should not contain NUL characters"),
    ),
    (
        "image-long",
        BAYMODEL | {"image_id": "i" * 256},
        _field("image_id", "i" * 256, "Value should have a maximum character requirement of 255"),
    ),
    (
        "labels-list",
        BAYMODEL | {"labels": ["a"]},
        _field("labels", ["a"], "Value should be an object with string values"),
    ),
    (
        "labels-int-value",
        BAYMODEL | {"labels": {"a": 1}},
        _field("labels", {"a": 1}, "Value should be string"),
    ),
    (
        "labels-long-value",
        BAYMODEL | {"labels": {"a": "v" * 256}},
        _field(
            "labels", {"a": "v" * 256}, "Value should have a maximum character requirement of 255"
        ),
    ),
    (
        "public-maybe",
        BAYMODEL | {"public": "maybe"},
        _field("public", "maybe", f"Unrecognized value 'maybe', acceptable values are: {BOOLS}"),
    ),
    ("public-int", BAYMODEL | {"public": 2}, _field("public", 2, "Value should be boolean")),
    (
        "tls-maybe",
        BAYMODEL | {"tls_disabled": "sometimes"},
        _field("tls_disabled", "sometimes", "Unrecognized value 'sometimes'"),
    ),
    (
        "no-image",
        _without("image_id"),
        _field("image_id", None, "Mandatory field missing."),
    ),
    (
        "no-keypair",
        _without("keypair_id"),
        _field("keypair_id", None, "Mandatory field missing."),
    ),
    ("no-coe", _without("coe"), "Requested COE type Unset is not supported."),
    ("null-coe", BAYMODEL | {"coe": None}, "Requested COE type Unset is not supported."),
    (
        "bad-coe",
        BAYMODEL | {"coe": "k8s"},
        _field("coe", "k8s", "Value should be one of: kubernetes, swarm, mesos"),
    ),
    (
        "network-driver",
        BAYMODEL | {"network_driver": "weave"},
        "Network driver type weave is not supported, expecting a docker/flannel/unspecified "
        "network driver.",
    ),
    (
        "network-driver-k8s",
        BAYMODEL | {"coe": "kubernetes", "network_driver": "docker"},
        "Network driver type docker is not supported, expecting a flannel/unspecified network "
        "driver.",
    ),
    (
        "volume-driver",
        BAYMODEL | {"volume_driver": "cinder"},
        "Volume driver type cinder is not supported, expecting a rexray/unspecified volume driver.",
    ),
    (
        "dns",
        BAYMODEL | {"dns_nameserver": "1.2.3"},
        _field("dns_nameserver", "1.2.3", "Value should be IPv4 format"),
    ),
    (
        "port-low",
        BAYMODEL | {"apiserver_port": 80},
        _field("apiserver_port", 80, "Value should be greater or equal to 1024"),
    ),
    (
        "port-high",
        BAYMODEL | {"apiserver_port": 70000},
        _field("apiserver_port", 70000, "Value should be lower or equal to 65535"),
    ),
    (
        "port-string",
        BAYMODEL | {"apiserver_port": "8443"},
        _field("apiserver_port", "8443", "Value should be integer"),
    ),
    (
        "volume-zero",
        BAYMODEL | {"docker_volume_size": 0},
        _field("docker_volume_size", 0, "Value should be greater or equal to 1"),
    ),
    (
        "volume-huge",
        BAYMODEL | {"docker_volume_size": 10**30},
        _field("docker_volume_size", 10**30, "Value should be lower or equal to 2147483647"),
    ),
    (
        "volume-float",
        BAYMODEL | {"docker_volume_size": 1.5},
        _field("docker_volume_size", 1.5, "Value should be integer"),
    ),
    (
        "uuid",
        BAYMODEL | {"uuid": "not-a-uuid"},
        _field("uuid", "not-a-uuid", "Expected a uuid but received not-a-uuid."),
    ),
    (
        "uuid-upper",
        BAYMODEL | {"uuid": "5D12F6FD-A196-4BF0-AE4C-1F639A523A52"},
        "Expected a uuid but received 5D12F6FD-A196-4BF0-AE4C-1F639A523A52.",
    ),
    ("unknown", BAYMODEL | {"foo": 1}, "Unknown attribute for argument baymodel: foo"),
    (
        "unknowns",
        BAYMODEL | {"foo": 1, "bar": 2},
        "Unknown attributes for argument baymodel: bar, foo",
    ),
    (
        "links",
        BAYMODEL | {"links": []},
        _field("links", [], "Cannot set read only field."),
    ),
    (
        "created_at",
        BAYMODEL | {"created_at": "2016-01-01T00:00:00+00:00"},
        _field("created_at", "2016-01-01T00:00:00+00:00", "Cannot set read only field."),
    ),
]


def test_bad_baymodel_bodies(svc: Service, subtests: pytest.Subtests) -> None:
    for case, body, detail in BAYMODEL_CASES:
        with subtests.test(msg=case):
            _api.error(svc.post("/v1/baymodels", body), 400, contains=(detail,))
            assert svc.get("/v1/baymodels/detail").json == {"baymodels": []}


def test_every_bad_field_is_reported(svc: Service) -> None:
    body = BAYMODEL | {"name": 5, "apiserver_port": 1, "public": "maybe"}
    elements = _api.error(svc.post("/v1/baymodels", body), 400)
    fields = sorted(el["title"].rsplit(" ", 1)[1] for el in elements)
    assert fields == ["apiserver_port", "name", "public"]


BAY_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "count-string",
        {"node_count": "3"},
        _field("node_count", "3", "Value should be integer"),
    ),
    ("count-bool", {"node_count": True}, _field("node_count", True, "Value should be integer")),
    (
        "count-zero",
        {"node_count": 0},
        _field("node_count", 0, "Value should be greater or equal to 1"),
    ),
    (
        "count-huge",
        {"node_count": 10**12},
        _field("node_count", 10**12, "Value should be lower or equal to 2147483647"),
    ),
    (
        "masters-negative",
        {"master_count": -1},
        _field("master_count", -1, "Value should be greater or equal to 1"),
    ),
    (
        "timeout-negative",
        {"bay_create_timeout": -1},
        _field("bay_create_timeout", -1, "Value should be greater or equal to 0"),
    ),
    ("name-int", {"name": 5}, _field("name", 5, "Value should be string")),
    (
        "name-pattern",
        {"name": "1bay"},
        _field("name", "1bay", "Value should match the pattern ^[a-zA-Z][a-zA-Z0-9_.-]*$"),
    ),
    (
        "name-space",
        {"name": "my bay"},
        _field("name", "my bay", "Value should match the pattern ^[a-zA-Z][a-zA-Z0-9_.-]*$"),
    ),
    (
        "name-long",
        {"name": "b" * 256},
        _field("name", "b" * 256, "Value should have a maximum character requirement of 255"),
    ),
    (
        "uuid",
        {"uuid": "1234"},
        _field("uuid", "1234", "Expected a uuid but received 1234."),
    ),
    (
        "status",
        {"status": "BOGUS"},
        _field("status", "BOGUS", "Value should be one of: CREATE_IN_PROGRESS"),
    ),
    (
        "reason-nul",
        {"status_reason": "a\x00"},
        _field("status_reason", "a\x00", "Value should not contain NUL characters"),
    ),
    ("unknown", {"foo": "x"}, "Unknown attribute for argument bay: foo"),
    (
        "api_address",
        {"api_address": "x"},
        _field("api_address", "x", "Cannot set read only field."),
    ),
    ("stack_id", {"stack_id": "x"}, _field("stack_id", "x", "Cannot set read only field.")),
    (
        "node_addresses",
        {"node_addresses": []},
        _field("node_addresses", [], "Cannot set read only field."),
    ),
    ("links", {"links": []}, _field("links", [], "Cannot set read only field.")),
]


def test_bad_bay_bodies(
    svc: Service, cluster_template: dict[str, Any], subtests: pytest.Subtests
) -> None:
    for case, fields, detail in BAY_CASES:
        with subtests.test(msg=case):
            res = svc.post("/v1/bays", {"baymodel_id": cluster_template["uuid"]} | fields)
            _api.error(res, 400, contains=(detail,))
            assert svc.get("/v1/bays/detail").json == {"bays": []}


def test_bay_baymodel_id_missing_or_unknown(svc: Service, cluster_template: dict[str, Any]) -> None:
    res = svc.post("/v1/bays", {"name": "b"})
    _api.error(res, 400, _field("baymodel_id", None, "Mandatory field missing."))
    missing = str(uuidlib.uuid4())
    for ident in ("nope", missing):
        res = svc.post("/v1/bays", {"baymodel_id": ident})
        _api.error(res, 400, f"Baymodel {ident} could not be found.")
    assert svc.get("/v1/bays").json == {"bays": []}


# --- bodies that are not what they should be ---------------------------------------------------
def _raw(svc: Service, path: str, body: str | bytes, content_type: str | None) -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    method = "PATCH" if path.startswith("/v1/baymodels/") else "POST"
    return svc.request(method, path, body=body, headers=headers)


RAW_CASES: list[tuple[str, str | bytes, str | None, int, str]] = [
    ("bad-json", "{bad", "application/json", 400, "Request is not in valid JSON format"),
    ("truncated", '{"name": "x"', "application/json", 400, "Request is not in valid JSON format"),
    ("not-utf8", b"\xff\xfe{}", "application/json", 400, "Request is not in valid JSON format"),
    (
        "deep",
        "[" * 100000 + "]" * 100000,
        "application/json",
        400,
        "Request is not in valid JSON format",
    ),
    ("list", "[1, 2]", "application/json", 400, NOT_JSON_OBJECT),
    ("string", '"baymodel"', "application/json", 400, NOT_JSON_OBJECT),
    ("null", "null", "application/json", 400, NOT_JSON_OBJECT),
    ("number", "5", "application/json", 400, NOT_JSON_OBJECT),
    ("empty", "", "application/json", 400, 'Missing argument: "{arg}"'),
    ("text", json.dumps(BAYMODEL), "text/plain", 415, "Unknown mimetype: text/plain"),
    ("form", "a=b", "application/x-www-form-urlencoded", 415, "Unknown mimetype: "),
    ("no-type", json.dumps(BAYMODEL), None, 415, "Unknown mimetype: (none)"),
]


def test_malformed_bodies(svc: Service, subtests: pytest.Subtests) -> None:
    existing = _api.make_cluster_template(svc)
    for case, body, content_type, status, detail in RAW_CASES:
        for path, arg in (("/v1/baymodels", "baymodel"), ("/v1/bays", "bay")):
            with subtests.test(msg=f"{case} {path}"):
                res = _raw(svc, path, body, content_type)
                _api.error(res, status, contains=(detail.format(arg=arg),))
                assert svc.get("/v1/baymodels/detail").json == {"baymodels": [existing]}
                assert svc.get("/v1/bays").json == {"bays": []}


def test_json_with_charset_is_json(svc: Service) -> None:
    res = _raw(svc, "/v1/baymodels", json.dumps(BAYMODEL), "application/json; charset=UTF-8")
    assert res.status_code == 201, res.text


def test_patch_body_shapes(svc: Service) -> None:
    existing = _api.make_cluster_template(svc)
    path = f"/v1/baymodels/{existing['uuid']}"
    for body, content_type, status, detail in (
        ("{bad", "application/json", 400, "Request is not in valid JSON format"),
        ("", "application/json", 400, 'Missing argument: "patch"'),
        ("[]", "application/json", 400, "expected a non-empty JSON array of operations"),
        ('{"op": "remove"}', "application/json", 400, "expected a non-empty JSON array"),
        ('"x"', "application/json", 400, "expected a non-empty JSON array of operations"),
        ("[1]", "application/json", 400, "Invalid input for argument patch: expected a JSON"),
        ("[]", "text/plain", 415, "Unknown mimetype: text/plain"),
    ):
        _api.error(_raw(svc, path, body, content_type), status, contains=(detail,))
    assert svc.get(path).json == existing


def test_huge_body_is_413(service_factory: Callable[..., Service]) -> None:
    svc = service_factory(api={"max_body_size": 1024})
    body = BAYMODEL | {"labels": {f"k{i}": "v" * 200 for i in range(10)}}
    res = svc.post("/v1/baymodels", body)
    _api.error(res, 413, "Request body is larger than 1024 bytes.")
    assert res.headers["x-openstack-magnum-api-maximum-version"] == "1.14"
    existing = _api.make_cluster_template(svc)
    big_patch = [{"op": "replace", "path": "/name", "value": "n" * 2000}]
    res = svc.patch(f"/v1/baymodels/{existing['uuid']}", big_patch)
    _api.error(res, 413, "Request body is larger than 1024 bytes.")
    assert svc.get("/v1/baymodels/detail").json == {"baymodels": [existing]}


# --- query strings ---------------------------------------------------------------------------
BAD_QUERIES: list[tuple[str, int, str]] = [
    ("foo=1", 400, 'Unknown argument: "foo"'),
    ("limit=1&foo=1", 400, 'Unknown argument: "foo"'),
    ("sort_key=nope", 400, 'The sort_key value "nope" is an invalid field for sorting'),
    ("sort_key=labels", 400, 'The sort_key value "labels" is an invalid field for sorting'),
    ("sort_key=project_id", 400, 'The sort_key value "project_id" is an invalid field for sorting'),
    (
        "sort_key=lease_owner",
        400,
        'The sort_key value "lease_owner" is an invalid field for sorting',
    ),
    ("sort_key=", 400, 'The sort_key value "" is an invalid field for sorting'),
    (
        "sort_dir=up",
        400,
        "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'",
    ),
    (
        "sort_dir=ASC",
        400,
        "Invalid sort direction: ASC. Acceptable values are 'asc' or 'desc'",
    ),
    ("limit=0", 400, "Limit must be positive"),
    ("limit=-3", 400, "Limit must be positive"),
    ("limit=abc", 400, "Invalid input for field/attribute limit. Value: 'abc'."),
    ("limit=1.5", 400, "Invalid input for field/attribute limit. Value: '1.5'."),
    ("limit=", 400, "Invalid input for field/attribute limit. Value: ''."),
    ("marker=abc", 400, "Expected a uuid but received abc."),
    (
        "marker=5D12F6FD-A196-4BF0-AE4C-1F639A523A52",
        400,
        "Expected a uuid but received 5D12F6FD-A196-4BF0-AE4C-1F639A523A52.",
    ),
    (
        "marker=5d12f6fd-a196-4bf0-ae4c-1f639a523a52",
        404,
        "could not be found.",
    ),
    ("sort_key=name&sort_key=id", 400, "Repeated query parameters are not allowed"),
]


def test_bad_list_queries(svc: Service, subtests: pytest.Subtests) -> None:
    for query, status, detail in BAD_QUERIES:
        for collection in ("baymodels", "bays"):
            for suffix in ("", "/detail"):
                url = f"/v1/{collection}{suffix}?{query}"
                with subtests.test(msg=url):
                    _api.error(svc.get(url), status, contains=(detail,))


def test_unknown_arguments_everywhere(svc: Service, cluster_template: dict[str, Any]) -> None:
    item = f"/v1/baymodels/{cluster_template['uuid']}"
    ops = [{"op": "replace", "path": "/name", "value": "x"}]
    for res in (
        svc.get(f"{item}?foo=1"),
        svc.patch(f"{item}?foo=1", ops),
        svc.delete(f"{item}?foo=1"),
        svc.post("/v1/baymodels?foo=1", BAYMODEL),
        svc.post("/v1/bays?foo=1", {"baymodel_id": cluster_template["uuid"]}),
        svc.get("/v1/bays/nothing?foo=1"),
        svc.get("/v1/openapi.json?foo=1"),
    ):
        _api.error(res, 400, 'Unknown argument: "foo"')
    assert svc.get(item).json == cluster_template
    assert svc.get("/v1/baymodels").json["baymodels"] == [
        {
            k: cluster_template[k]
            for k in ("uuid", "name", "image_id", "apiserver_port", "coe", "links")
        }
    ]
    assert svc.get("/v1/bays").json == {"bays": []}


def test_nul_in_ident_is_not_found(svc: Service, cluster_template: dict[str, Any]) -> None:
    for collection, kind in (("baymodels", "Baymodel"), ("bays", "Bay")):
        _api.error(svc.get(f"/v1/{collection}/m%001"), 404, f"{kind} m\x001 could not be found.")


def test_policy_denials(svc: Service) -> None:
    member = {"X-Roles": "member"}
    res = svc.get("/v1/mservices", headers=member)
    _api.error(res, 403, "Policy doesn't allow magnum-service:get_all to be performed.")
    res = svc.get("/v1/mservices", headers={"X-Roles": ""})
    _api.error(res, 403, "Policy doesn't allow magnum-service:get_all to be performed.")


# --- identity headers (noauth) -------------------------------------------------------------
IDENTITY = ("X-Project-Id", "X-User-Id", "X-Project-Name", "X-User-Name")
BAD_IDENTITY = [
    ("p" * 256, "is longer than 255 characters"),
    ("", "is empty"),
    ("p\x00", "holds a control character"),
    ("p\x01q", "holds a control character"),
    ("p\x7f", "holds a control character"),
    ("p\tq", "holds a control character"),
]


def test_identity_headers_are_checked_at_the_edge(svc: Service, subtests: pytest.Subtests) -> None:
    """The same 400 on every database, before anything reads or stores the value (a 256
    character project id was a 500 on PostgreSQL, a 201 on SQLite)."""
    for header in IDENTITY:
        for value, problem in BAD_IDENTITY:
            with subtests.test(header=header, value=value[:8]):
                expected = f"Invalid {header} header: it {problem}."
                res = svc.post("/v1/baymodels", BAYMODEL, headers={header: value})
                _api.error(res, 400, expected)
                _api.error(svc.get("/v1/bays", headers={header: value}), 400, expected)
    for value, problem in [
        ("member,\x01", "it holds a control character."),
        ("member," + "r" * 256, "a role is longer than 255 characters."),
        ("r," * 2049, "it is longer than 4096 characters."),
    ]:
        with subtests.test(header="X-Roles", value=value[:8]):
            res = svc.post("/v1/baymodels", BAYMODEL, headers={"X-Roles": value})
            _api.error(res, 400, f"Invalid X-Roles header: {problem}")
    assert _api.names(svc, "baymodels") == []


def test_identity_headers_at_the_limit_are_stored(svc: Service) -> None:
    project, user = "p" * 255, "u" * 255
    headers = {"X-User-Id": user, "X-Project-Name": "n" * 255, "X-User-Name": "m" * 255}
    res = svc.post("/v1/baymodels", BAYMODEL, project=project, headers=headers)
    assert res.status_code == 201, res.text
    listed = svc.get("/v1/baymodels", project=project, headers={"X-User-Id": user})
    assert [m["name"] for m in listed.json["baymodels"]] == ["m1"]
    assert _api.names(svc, "baymodels") == []
    # UTF-8 (as clients send it; WSGI hands it over as latin-1) counts in characters
    accented = ("é" * 255).encode().decode("latin-1")
    user_header = {"X-User-Id": "u"}
    assert svc.get("/v1/bays", project=accented, headers=user_header).status_code == 200
    too_long = ("é" * 256).encode().decode("latin-1")
    res = svc.get("/v1/bays", project=too_long, headers=user_header)
    _api.error(res, 400, "Invalid X-Project-Id header: it is longer than 255 characters.")
