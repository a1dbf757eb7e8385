# SPDX-License-Identifier: Apache-2.0
"""Version discovery, microversion headers, routing and the error envelope (spec §2, §3.2, §3.7)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional import _api
from tests.functional.conftest import Service

HOST = "http://falconframework.org"
LEGACY = "X-OpenStack-Magnum-API-Version"
NEW = "OpenStack-API-Version"
RANGE_HEADERS = {
    "x-openstack-magnum-api-minimum-version": "1.1",
    "x-openstack-magnum-api-maximum-version": "1.14",
}


def _has_range(res: Any) -> None:
    for name, value in RANGE_HEADERS.items():
        assert res.headers.get(name) == value, (name, dict(res.headers))


def test_root_document(svc: Service) -> None:
    res = svc.get("/")
    assert res.status_code == 200
    body = res.json
    assert body["name"] == "OpenStack Magnum API"
    assert body["description"] == (
        "Magnum is an OpenStack project which aims to provide container management."
    )
    v1 = {"id": "v1", "links": [{"href": f"{HOST}/v1/", "rel": "self"}]}
    assert [{k: v[k] for k in ("id", "links")} for v in body["versions"]] == [v1]
    assert {k: body["default_version"][k] for k in ("id", "links")} == v1
    # the root carries no version headers, but still a request id
    assert LEGACY.lower() not in res.headers
    assert "x-openstack-magnum-api-minimum-version" not in res.headers
    assert res.headers["x-openstack-request-id"].startswith("req-")


@pytest.mark.parametrize("url", ["/v1", "/v1/", "/v1.json"])
def test_v1_document(svc: Service, url: str) -> None:
    res = svc.get(url)
    assert res.status_code == 200, res.text
    body = res.json
    assert body["id"] == "v1"
    assert body["media_types"] == [
        {"base": "application/json", "type": "application/vnd.openstack.magnum.v1+json"}
    ]
    assert {"href": f"{HOST}/v1/", "rel": "self"} in body["links"]
    assert any(link["rel"] == "describedby" for link in body["links"])
    # every collection of the route table at 1.1: Mitaka's (containers, pods, rcs and
    # services too; its x509keypairs are not served) and Newton's clusters and
    # clustertemplates
    collections = (
        "baymodels",
        "bays",
        "certificates",
        "clusters",
        "clustertemplates",
        "containers",
        "mservices",
        "pods",
        "rcs",
        "services",
    )
    assert list(body) == ["id", "media_types", "links", *collections]
    for name in collections:
        assert body[name] == [
            {"href": f"{HOST}/v1/{name}/", "rel": "self"},
            {"href": f"{HOST}/{name}/", "rel": "bookmark"},
        ]
    _has_range(res)
    assert res.headers[LEGACY.lower()] == "1.1"


def test_every_response_has_a_fresh_request_id(svc: Service) -> None:
    ids = {svc.get(p).headers["x-openstack-request-id"] for p in ("/", "/v1", "/v1/bays", "/x")}
    assert len(ids) == 4
    assert all(_api.UUID.match(i.removeprefix("req-")) for i in ids), ids


ACCEPTED: list[tuple[dict[str, str], str]] = [
    ({}, "1.1"),
    ({LEGACY: "1.1"}, "1.1"),
    ({LEGACY: "1.7"}, "1.7"),
    ({LEGACY: "latest"}, "1.14"),
    ({LEGACY: "LATEST"}, "1.14"),
    ({NEW: "container-infra 1.1"}, "1.1"),
    ({NEW: "container-infra 1.13"}, "1.13"),
    ({NEW: "container-infra latest"}, "1.14"),
    ({NEW: "container-infrastructure-management 1.1"}, "1.1"),
    ({NEW: "container-infrastructure 1.14"}, "1.14"),
]


def test_accepted_versions_are_echoed(svc: Service, subtests: pytest.Subtests) -> None:
    for headers, version in ACCEPTED:
        with subtests.test(msg=str(headers)):
            res = svc.get("/v1/clustertemplates", headers=headers)
            assert res.status_code == 200, res.text
            assert res.json == {"clustertemplates": []}
            _has_range(res)
            assert res.headers[LEGACY.lower()] == version
            assert res.headers[NEW.lower()] == f"container-infra {version}"
            assert res.headers["openstack-api-minimum-version"] == "container-infra 1.1"
            assert res.headers["openstack-api-maximum-version"] == "container-infra 1.14"


UNACCEPTABLE: list[tuple[dict[str, str], str]] = [
    ({LEGACY: "abc"}, f"Invalid value for {LEGACY} header"),
    ({LEGACY: "1"}, f"Invalid value for {LEGACY} header"),
    ({LEGACY: "1.1.1"}, f"Invalid value for {LEGACY} header"),
    (
        {LEGACY: "2.0"},
        "Mutually exclusive versions requested. Version 2.0 requested but not supported by "
        "this service. The supported version range is: [1.1, 1.14].",
    ),
    (
        {LEGACY: "1.15"},
        "Version 1.15 was requested but the minor version is not supported by this service. "
        "The supported version range is: [1.1, 1.14].",
    ),
    (
        {LEGACY: "1.0"},
        "Version 1.0 was requested but the minor version is not supported by this service. "
        "The supported version range is: [1.1, 1.14].",
    ),
    ({NEW: "compute 1.1"}, f"Invalid service type for {NEW} header"),
    ({NEW: "1.1"}, f"Invalid service type for {NEW} header"),
    ({NEW: "container-infra x.y"}, f"Invalid value for {NEW} header"),
    (
        {NEW: "container-infra 1.99"},
        "Version 1.99 was requested but the minor version is not supported by this service. "
        "The supported version range is: [1.1, 1.14].",
    ),
]


def test_unacceptable_versions(svc: Service, subtests: pytest.Subtests) -> None:
    for headers, detail in UNACCEPTABLE:
        for url in ("/v1", "/v1/bays", "/v1/baymodels/x"):
            with subtests.test(msg=f"{url} {headers}"):
                res = svc.get(url, headers=headers)
                _api.error(res, 406, detail)
                _has_range(res)  # the range is announced even on the failed check...
                assert LEGACY.lower() not in res.headers  # ...but nothing is echoed
                assert NEW.lower() not in res.headers


def test_new_style_header_wins_over_legacy(svc: Service) -> None:
    res = svc.get("/v1/bays", headers={NEW: "container-infra 1.1", LEGACY: "7.7"})
    assert res.status_code == 200, res.text


def test_version_check_applies_to_bookmark_paths(svc: Service) -> None:
    res = svc.get("/bays", headers={LEGACY: "1.17"})
    _api.error(res, 406, contains=("Version 1.17 was requested",))


def test_bookmark_paths_route_to_v1(svc: Service) -> None:
    created = _api.make_cluster_template(svc)
    bookmark = next(link["href"] for link in created["links"] if link["rel"] == "bookmark")
    assert bookmark == f"{HOST}/baymodels/{created['uuid']}"
    res = svc.get(_api.path(bookmark))
    assert res.status_code == 200, res.text
    assert res.json == svc.get(f"/v1/baymodels/{created['uuid']}").json | {
        "links": res.json["links"]
    }
    assert res.json["uuid"] == created["uuid"]
    listed = svc.get("/baymodels/detail")
    assert [m["uuid"] for m in listed.json["baymodels"]] == [created["uuid"]]


def test_trailing_slash_is_ignored(svc: Service) -> None:
    first = _api.make_cluster_template(svc, name="a")
    _api.make_cluster_template(svc, name="b")
    res = svc.get("/v1/baymodels/?limit=1")
    assert res.status_code == 200, res.text
    assert [m["uuid"] for m in res.json["baymodels"]] == [first["uuid"]]
    assert res.json["next"].startswith(f"{HOST}/v1/baymodels?")
    assert svc.get(f"/v1/baymodels/{first['uuid']}/").json["uuid"] == first["uuid"]


def test_unknown_url_is_404_in_error_shape(svc: Service, subtests: pytest.Subtests) -> None:
    for url in ("/v1/nothing", "/nothing/here", "/v1/bays/x/y/z", "/v2/bays"):
        with subtests.test(msg=url):
            elements = _api.error(svc.get(url), 404, code="")
            assert elements[0]["title"] == "Not Found"
            assert elements[0]["detail"] == ""


def test_detail_below_an_item_is_404(svc: Service) -> None:
    created = _api.make_cluster_template(svc)
    _api.error(svc.get(f"/v1/baymodels/{created['uuid']}/detail"), 404, code="")


def test_wrong_method_is_405(svc: Service, subtests: pytest.Subtests) -> None:
    for method, url in (
        ("PUT", "/v1/bays"),
        ("DELETE", "/v1/baymodels"),
        ("PUT", "/v1/baymodels/x"),
        ("POST", "/v1/bays/x"),
        ("POST", "/v1/mservices"),
        ("DELETE", "/v1/bays/detail"),
        ("POST", "/bays/x"),
    ):
        with subtests.test(msg=f"{method} {url}"):
            res = svc.request(method, url)
            elements = _api.error(res, 405, code="")
            assert elements[0]["title"] == "Method Not Allowed"
            assert method not in res.headers["allow"]


def test_links_and_timestamps(svc: Service) -> None:
    created = _api.make_cluster_template(svc)
    uuid = created["uuid"]
    assert created["links"] == [
        {"href": f"{HOST}/v1/baymodels/{uuid}", "rel": "self"},
        {"href": f"{HOST}/baymodels/{uuid}", "rel": "bookmark"},
    ]
    assert _api.ISO.match(created["created_at"]), created["created_at"]
    assert created["updated_at"] is None
    res = svc.patch(f"/v1/baymodels/{uuid}", [{"op": "replace", "path": "/name", "value": "n"}])
    assert res.status_code == 200, res.text
    assert _api.ISO.match(res.json["updated_at"]), res.json["updated_at"]
    assert res.json["created_at"] == created["created_at"]
    assert res.json["updated_at"] >= res.json["created_at"]


def test_errors_carry_json_content_type_even_for_415(svc: Service) -> None:
    res = svc.request(
        "POST", "/v1/baymodels", body="{}", headers={"Content-Type": "application/xml"}
    )
    _api.error(res, 415, "Unknown mimetype: application/xml")
    _has_range(res)


def test_mservices_lists_the_conductor(svc: Service) -> None:
    res = _api.poll(
        lambda: svc.get("/v1/mservices", headers={"X-Roles": "admin"}),
        lambda r: r.status_code != 200 or bool(r.json["mservices"]),
    )
    assert res.status_code == 200, res.text
    assert set(res.json) == {"mservices"}
    services = res.json["mservices"]
    assert services, res.json
    conductor = next(s for s in services if s["binary"] == "magnum-conductor")
    assert set(conductor) == {
        "id",
        "host",
        "binary",
        "state",
        "report_count",
        "disabled",
        "disabled_reason",
        "created_at",
        "updated_at",
    }
    assert isinstance(conductor["id"], int)
    assert conductor["disabled"] is False
    assert conductor["host"] == "test"
    assert conductor["state"] == "up"
    assert _api.ISO.match(conductor["created_at"])


def test_mservices_needs_admin(svc: Service) -> None:
    res = svc.get("/v1/mservices", headers={"X-Roles": "member"})
    _api.error(res, 403, "Policy doesn't allow magnum-service:get_all to be performed.")


def test_mservices_takes_no_paging(svc: Service) -> None:
    res = svc.get("/v1/mservices?limit=1", headers={"X-Roles": "admin"})
    _api.error(res, 400, 'Unknown argument: "limit"')


# --- /v1/openapi.json --------------------------------------------------------------------------
def test_openapi_document_is_valid_openapi_31(svc: Service) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator  # noqa: PLC0415

    res = svc.get("/v1/openapi.json")
    assert res.status_code == 200, res.text
    doc = res.json
    assert doc["openapi"].startswith("3.1")
    errors = [str(e) for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []
    assert set(doc["paths"]) >= {
        "/v1/baymodels",
        "/v1/baymodels/detail",
        "/v1/baymodels/{ident}",
        "/v1/bays",
        "/v1/bays/detail",
        "/v1/bays/{ident}",
        "/v1/bays/{ident}/events",
        "/v1/clusters/{ident}/events",
        "/v1/certificates",
        "/v1/certificates/{ident}",
        "/v1/mservices",
    }
    # needs no token-like context either, like / and /v1
    assert svc.get("/openapi.json").json == doc


def _schema(svc: Service, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = svc.get("/v1/openapi.json").json["components"]["schemas"][name]
    return schema


def test_openapi_baymodel_required_matches_the_api(svc: Service) -> None:
    schema = _schema(svc, "BayModelBody")
    required = set(schema["required"])
    assert required == {"image_id", "keypair_id", "coe"}
    minimal = {"image_id": "img", "keypair_id": "kp", "coe": "swarm"}
    for name in sorted(required):  # each required property is enforced...
        body = {k: v for k, v in minimal.items() if k != name}
        _api.error(
            svc.post("/v1/baymodels", body), 400, contains=(name if name != "coe" else "COE",)
        )
    assert svc.get("/v1/baymodels").json == {"baymodels": []}
    res = svc.post("/v1/baymodels", minimal)  # ...and nothing else is
    assert res.status_code == 201, res.text
    # every documented property is accepted, and no other
    assert set(schema["properties"]) == set(res.json) - {"links", "created_at", "updated_at"}
    assert schema.get("additionalProperties") is False


def test_openapi_bay_required_matches_the_api(svc: Service) -> None:
    schema = _schema(svc, "BayBody")
    assert schema["required"] == ["baymodel_id"]
    _api.error(svc.post("/v1/bays", {}), 400, contains=("baymodel_id", "Mandatory field missing"))
    _api.make_cluster_template(svc)
    res = svc.post("/v1/bays", {"baymodel_id": "m1"})
    assert res.status_code == 201, res.text
    assert set(schema["properties"]) <= set(res.json) | {"uuid"}
    assert schema.get("additionalProperties") is False
