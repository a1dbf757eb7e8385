# SPDX-License-Identifier: Apache-2.0
"""/v1/quotas (1.6) on the three databases: create, show (a record, or the default without
one), update with a plain object, delete, list with integer-id pages; every bad input with
its status and text; who may do what (admin sets and lists, a project's readers read their
own); the records are what cluster creates are held to; the microversion gate; every
answer as /v1/openapi.json says."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest

from tests.functional import _api
from tests.functional.conftest import Service
from tests.openapi_check import Described

LATEST = {"OpenStack-API-Version": "container-infra latest"}
ADMIN = LATEST | {"X-Roles": "admin"}
READER = LATEST | {"X-Roles": "reader"}
MEMBER = LATEST | {"X-Roles": "member"}
NO_ROLE = LATEST | {"X-Roles": ""}
TIMES = ("created_at", "updated_at")


class Quotas:
    """The service, asking at the latest microversion as an admin of p1 unless told, each
    answer checked against the OpenAPI document."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.described = Described(json.loads(svc.get("/v1/openapi.json").text))

    def __call__(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> falcon.testing.Result:
        res = self.svc.request(method, path, headers=headers or ADMIN, **kw)
        self.described.check(method, path, res.status_code, res.text)
        return res

    def create(self, project: str, resource: str = "Cluster", limit: int = 3) -> dict[str, Any]:
        res = self(
            "POST",
            "/v1/quotas",
            json={"project_id": project, "resource": resource, "hard_limit": limit},
        )
        assert res.status_code == 201, res.text
        body: dict[str, Any] = res.json
        return body


@pytest.fixture
def q(svc: Service) -> Quotas:
    return Quotas(svc)


def _bay(
    svc: Service, name: str, model: dict[str, Any], project: str = "p1"
) -> falcon.testing.Result:
    return svc.post("/v1/bays", {"name": name, "baymodel_id": model["uuid"]}, project=project)


def test_create_show_update_delete(q: Quotas) -> None:
    res = q("POST", "/v1/quotas", json={"project_id": "p2", "resource": "Cluster", "hard_limit": 3})
    assert res.status_code == 201, res.text
    made = res.json
    assert set(made) == {"id", "project_id", "resource", "hard_limit", *TIMES}
    assert isinstance(made["id"], int)
    assert (made["project_id"], made["resource"], made["hard_limit"]) == ("p2", "Cluster", 3)
    assert _api.ISO.match(made["created_at"]) and made["updated_at"] is None
    assert res.headers["location"].endswith("/v1/quotas/p2/Cluster")

    assert q("GET", "/v1/quotas/p2/Cluster").json == made

    res = q("PATCH", "/v1/quotas/p2/Cluster", json={"hard_limit": 5})
    assert res.status_code == 202, res.text
    assert res.json["hard_limit"] == 5 and res.json["id"] == made["id"]
    assert _api.ISO.match(res.json["updated_at"])
    # what the clients send: the path's project and resource too
    body = {"project_id": "p2", "resource": "Cluster", "hard_limit": 0}
    res = q("PATCH", "/v1/quotas/p2/Cluster", json=body)
    assert res.status_code == 202, res.text
    assert q("GET", "/v1/quotas/p2/Cluster").json["hard_limit"] == 0

    res = q("DELETE", "/v1/quotas/p2/Cluster")
    assert res.status_code == 204 and res.text == ""
    shown = q("GET", "/v1/quotas/p2/Cluster")
    assert shown.status_code == 200
    assert shown.json == {"project_id": "p2", "resource": "Cluster", "hard_limit": 20}
    gone = "Quota of project p2 for resource Cluster could not be found."
    _api.error(q("DELETE", "/v1/quotas/p2/Cluster"), 404, gone)
    _api.error(q("PATCH", "/v1/quotas/p2/Cluster", json={"hard_limit": 1}), 404, gone)
    # and it may be set again
    assert q.create("p2", limit=4)["hard_limit"] == 4


def test_create_takes_magnums_defaults(q: Quotas) -> None:
    res = q("POST", "/v1/quotas", json={"project_id": "p2"})
    assert res.status_code == 201, res.text
    assert (res.json["resource"], res.json["hard_limit"]) == ("Cluster", 1)
    # null means the default too
    res = q("POST", "/v1/quotas", json={"project_id": "p3", "resource": None, "hard_limit": None})
    assert res.status_code == 201, res.text
    assert (res.json["resource"], res.json["hard_limit"]) == ("Cluster", 1)


def test_node_quotas_are_records_of_their_own(q: Quotas) -> None:
    """Our extra resource: Node (masters and workers of all the project's clusters)."""
    q.create("p2", "Cluster", 2)
    node = q.create("p2", "Node", 9)
    assert node["resource"] == "Node"
    assert q("GET", "/v1/quotas/p2/Node").json == node
    assert q("GET", "/v1/quotas/p2/Cluster").json["hard_limit"] == 2
    assert q("PATCH", "/v1/quotas/p2/Node", json={"hard_limit": 8}).json["hard_limit"] == 8
    assert q("DELETE", "/v1/quotas/p2/Node").status_code == 204
    assert q("GET", "/v1/quotas/p2/Node").json == {
        "project_id": "p2",
        "resource": "Node",
        "hard_limit": 100,
    }
    assert q("GET", "/v1/quotas/p2/Cluster").json["hard_limit"] == 2


def test_the_default_shown_is_the_configured_one(service_factory: Callable[..., Service]) -> None:
    q = Quotas(service_factory(quotas={"max_clusters_per_project": 7, "max_nodes_per_project": 11}))
    assert q("GET", "/v1/quotas/p5/Cluster").json == {
        "project_id": "p5",
        "resource": "Cluster",
        "hard_limit": 7,
    }
    assert q("GET", "/v1/quotas/p5/Node").json["hard_limit"] == 11


def test_duplicate_is_409(q: Quotas) -> None:
    q.create("p2", limit=3)
    res = q("POST", "/v1/quotas", json={"project_id": "p2", "resource": "Cluster", "hard_limit": 9})
    _api.error(res, 409, "Quota for project p2 already exists for resource Cluster.")
    assert q("GET", "/v1/quotas/p2/Cluster").json["hard_limit"] == 3
    assert q.create("p2", "Node", 9)["resource"] == "Node"  # another resource is another record


BAD_BODIES = [
    ({"resource": "Cluster", "hard_limit": 1}, "Must provide a valid project ID."),
    ({"project_id": None, "hard_limit": 1}, "Must provide a valid project ID."),
    (
        {"project_id": "p2", "hard_limit": -1},
        "Invalid input for field/attribute hard_limit. Value: '-1'. "
        "Value should be greater or equal to 0",
    ),
    (
        {"project_id": "p2", "hard_limit": 2**31},
        "Invalid input for field/attribute hard_limit. Value: '2147483648'. "
        "Value should be lower or equal to 2147483647",
    ),
    (
        {"project_id": "p2", "hard_limit": "3"},
        "Invalid input for field/attribute hard_limit. Value: '3'. Value should be integer",
    ),
    (
        {"project_id": "p2", "resource": "Pod"},
        "Invalid input for field/attribute resource. Value: 'Pod'. "
        "Value should be one of: Cluster, Node",
    ),
    (
        {"project_id": 7},
        "Invalid input for field/attribute project_id. Value: '7'. Value should be string",
    ),
    (
        {"project_id": ""},
        "Invalid input for field/attribute project_id. Value: ''. "
        "Value should have a minimum character requirement of 1",
    ),
    (
        {"project_id": "p" * 256},
        f"Invalid input for field/attribute project_id. Value: '{'p' * 255}\u2026'. "
        "Value should have a maximum character requirement of 255",
    ),
    (
        {"project_id": "a/b"},
        "Invalid input for field/attribute project_id. Value: 'a/b'. "
        "Value should not contain '/' nor start with '.'",
    ),
    (
        {"project_id": ".."},
        "Invalid input for field/attribute project_id. Value: '..'. "
        "Value should not contain '/' nor start with '.'",
    ),
    (
        {"project_id": "a\x01b"},
        "Invalid input for field/attribute project_id. Value: 'a\x01b'. "
        "Value should not contain control characters",
    ),
    ({"project_id": "p2", "size": 1}, "Unknown attribute for argument quota: size"),
    (
        {"project_id": "p2", "id": 4},
        "Invalid input for field/attribute id. Value: '4'. Cannot set read only field.",
    ),
    (["p2", "Cluster", 1], "Invalid input for argument quota: expected a JSON object"),
]


@pytest.mark.parametrize(("body", "detail"), BAD_BODIES)
def test_bad_creates_are_400_and_write_nothing(q: Quotas, body: Any, detail: str) -> None:
    _api.error(q("POST", "/v1/quotas", json=body), 400, detail)
    assert q("GET", "/v1/quotas?all_tenants=true").json == {"quotas": []}


def test_bad_create_bodies_that_are_not_json(q: Quotas) -> None:
    bad = q("POST", "/v1/quotas", body=b"{", headers=ADMIN | {"Content-Type": "application/json"})
    _api.error(bad, 400, "Request is not in valid JSON format")
    empty = q("POST", "/v1/quotas", body=b"", headers=ADMIN)
    _api.error(empty, 400, 'Missing argument: "quota"')
    text = q("POST", "/v1/quotas", body=b"x", headers=ADMIN | {"Content-Type": "text/plain"})
    _api.error(text, 415, "Unknown mimetype: text/plain")
    _api.error(q("POST", "/v1/quotas?x=1", json={"project_id": "p2"}), 400, 'Unknown argument: "x"')


BAD_PATCHES = [
    ({}, "Invalid input for field/attribute hard_limit. Value: 'None'. Mandatory field missing."),
    (
        {"hard_limit": -2},
        "Invalid input for field/attribute hard_limit. Value: '-2'. "
        "Value should be greater or equal to 0",
    ),
    (
        [{"op": "replace", "path": "/hard_limit", "value": 2}],
        "Invalid input for argument quota: expected a JSON object",
    ),
    (
        {"hard_limit": 2, "resource": "Node"},
        "Invalid input for field/attribute resource. Value: 'Node'. "
        "A quota's resource cannot be changed: it is 'Cluster'",
    ),
    (
        {"hard_limit": 2, "project_id": "p3"},
        "Invalid input for field/attribute project_id. Value: 'p3'. "
        "A quota's project_id cannot be changed: it is 'p2'",
    ),
    ({"hard_limit": 2, "extra": True}, "Unknown attribute for argument quota: extra"),
]


@pytest.mark.parametrize(("body", "detail"), BAD_PATCHES)
def test_bad_updates_are_400_and_change_nothing(q: Quotas, body: Any, detail: str) -> None:
    made = q.create("p2", limit=3)
    _api.error(q("PATCH", "/v1/quotas/p2/Cluster", json=body), 400, detail)
    assert q("GET", "/v1/quotas/p2/Cluster").json == made


def test_bad_paths(q: Quotas) -> None:
    unknown = (
        "Invalid input for field/attribute resource. Value: 'Pod'. "
        "Value should be one of: Cluster, Node"
    )
    bodies: tuple[tuple[str, Any], ...] = (
        ("GET", None),
        ("PATCH", {"hard_limit": 1}),
        ("DELETE", None),
    )
    for method, body in bodies:
        _api.error(q(method, "/v1/quotas/p2/Pod", json=body), 400, unknown)
    long = "p" * 256
    res = q("GET", f"/v1/quotas/{long}/Cluster")
    _api.error(res, 400, contains=("Value should have a maximum character requirement of 255",))
    _api.error(q("GET", "/v1/quotas/p2/Cluster?x=1"), 400, 'Unknown argument: "x"')
    # no such route, no such method (not in the document either)
    assert q.svc.get("/v1/quotas/p2", headers=ADMIN).status_code == 404
    put = q.svc.request("PUT", "/v1/quotas/p2/Cluster", json={"hard_limit": 1}, headers=ADMIN)
    assert put.status_code == 405


def test_a_project_that_has_clusters_gets_its_record(svc: Service, q: Quotas) -> None:
    """A cluster create makes the project's Cluster row (its lock) with no limit of its own:
    it is not listed, not shown, and a create over it is no duplicate."""
    model = _api.make_cluster_template(svc)
    assert _bay(svc, "b1", model).status_code == 201
    assert q("GET", "/v1/quotas").json == {"quotas": []}
    assert q("GET", "/v1/quotas/p1/Cluster").json == {
        "project_id": "p1",
        "resource": "Cluster",
        "hard_limit": 20,
    }
    made = q.create("p1", limit=5)
    assert made["hard_limit"] == 5 and made["updated_at"] is None
    assert q("GET", "/v1/quotas").json == {"quotas": [made]}
    assert q("DELETE", "/v1/quotas/p1/Cluster").status_code == 204
    assert q("GET", "/v1/quotas").json == {"quotas": []}
    assert _bay(svc, "b2", model).status_code == 201  # the lock still works


def test_records_are_what_creates_are_held_to(svc: Service, q: Quotas) -> None:
    model = _api.make_cluster_template(svc)
    q.create("p1", "Cluster", 1)
    assert _bay(svc, "b1", model).status_code == 201
    _api.error(
        _bay(svc, "b2", model),
        403,
        "Resource limit exceeded: You have reached the maximum clusters per project, 1. "
        "Delete clusters before creating new ones.",
    )
    assert q("PATCH", "/v1/quotas/p1/Cluster", json={"hard_limit": 2}).status_code == 202
    assert _bay(svc, "b2", model).status_code == 201
    # nodes: b1 and b2 have 2 each
    assert q("PATCH", "/v1/quotas/p1/Cluster", json={"hard_limit": 10}).status_code == 202
    q.create("p1", "Node", 5)
    _api.error(
        _bay(svc, "b3", model),
        403,
        contains=("This would make 6 nodes in the project; its quota is 5 nodes (4 in use).",),
    )
    # another project is not held to p1's records
    other = _api.make_cluster_template(svc, project="p2")
    for name in ("c1", "c2", "c3"):
        assert _bay(svc, name, other, project="p2").status_code == 201
    assert q("DELETE", "/v1/quotas/p1/Cluster").status_code == 204
    assert q("DELETE", "/v1/quotas/p1/Node").status_code == 204
    assert _bay(svc, "b3", model).status_code == 201


def _project_of(item: dict[str, Any]) -> str:
    return str(item["project_id"])


def test_list_pages_and_scoping(q: Quotas) -> None:
    made = [q.create(f"p{i}", "Cluster", i) for i in range(1, 6)]
    made.append(q.create("p1", "Node", 50))
    # an admin sees its own project's records, and every project's with all_tenants
    own = q("GET", "/v1/quotas").json["quotas"]
    assert [(r["project_id"], r["resource"]) for r in own] == [("p1", "Cluster"), ("p1", "Node")]
    assert q("GET", "/v1/quotas?all_tenants=false").json["quotas"] == own
    every = q("GET", "/v1/quotas?all_tenants=True").json["quotas"]
    assert every == sorted(made, key=lambda r: r["id"])

    pages = []
    res = q("GET", "/v1/quotas?all_tenants=1&limit=2")
    while True:
        assert res.status_code == 200, res.text
        pages.append(res.json["quotas"])
        if "next" not in res.json:
            break
        assert "all_tenants=True" in res.json["next"]
        res = q("GET", _api.path(res.json["next"]))
    assert [len(p) for p in pages] == [2, 2, 2, 0]
    assert [r for p in pages for r in p] == every

    desc = q("GET", "/v1/quotas?all_tenants=yes&sort_key=hard_limit&sort_dir=desc&limit=3")
    assert [r["hard_limit"] for r in desc.json["quotas"]] == [50, 5, 4]
    after = q("GET", _api.path(desc.json["next"])).json["quotas"]
    assert [r["hard_limit"] for r in after] == [3, 2, 1]
    by_project = q("GET", "/v1/quotas?all_tenants=on&sort_key=project_id").json["quotas"]
    assert [_project_of(r) for r in by_project] == ["p1", "p1", "p2", "p3", "p4", "p5"]
    marker = made[2]["id"]
    tail = q("GET", f"/v1/quotas?all_tenants=t&marker={marker}").json["quotas"]
    assert [r["id"] for r in tail] == [r["id"] for r in every if r["id"] > marker]


BAD_LISTS = [
    (
        "marker=abc",
        400,
        "Invalid input for field/attribute marker. Value: 'abc'. unable to convert to int",
    ),
    ("marker=999999", 404, "Quota 999999 could not be found."),
    # beyond any id column (SQLite refused the bound value: a 500 the fuzzer found)
    ("marker=3951440757544916090880", 404, "Quota 3951440757544916090880 could not be found."),
    ("marker=-9223372036854775809", 404, "Quota -9223372036854775809 could not be found."),
    ("limit=0", 400, "Limit must be positive"),
    (
        "limit=x",
        400,
        "Invalid input for field/attribute limit. Value: 'x'. unable to convert to int",
    ),
    ("sort_key=updated_at", 400, 'The sort_key value "updated_at" is an invalid field for sorting'),
    ("sort_dir=up", 400, "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'"),
    ("limit=1&limit=2", 400, "Repeated query parameters are not allowed"),
    ("project_id=p2", 400, 'Unknown argument: "project_id"'),
    (
        "all_tenants=maybe",
        400,
        "Invalid input for field/attribute all_tenants. Value: 'maybe'. Unrecognized value "
        "'maybe', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', "
        "'true', 'y', 'yes'",
    ),
]


@pytest.mark.parametrize(("query", "status", "detail"), BAD_LISTS)
def test_bad_lists(q: Quotas, query: str, status: int, detail: str) -> None:
    _api.error(q("GET", f"/v1/quotas?{query}"), status, detail)


def test_a_marker_of_another_project_is_not_found(q: Quotas) -> None:
    other = q.create("p2")
    _api.error(
        q("GET", f"/v1/quotas?marker={other['id']}"),
        404,
        f"Quota {other['id']} could not be found.",
    )


def test_personas(q: Quotas) -> None:
    """Admins set and list; a project's readers and members read their own quota only;
    a caller with no role does nothing. The target project's roles count, not the caller's
    elsewhere."""
    q.create("p1", limit=4)
    q.create("p2", limit=6)
    for who in (READER, MEMBER):
        own = q("GET", "/v1/quotas/p1/Cluster", headers=who)
        assert own.status_code == 200 and own.json["hard_limit"] == 4
        assert q("GET", "/v1/quotas/p9/Cluster", headers=who, project="p9").json["hard_limit"] == 20
        _api.error(q("GET", "/v1/quotas/p2/Cluster", headers=who), 403, "Not authorized.")
        _api.error(q("GET", "/v1/quotas/p2/Node", headers=who), 403, "Not authorized.")
        writes: tuple[tuple[str, str, str, Any], ...] = (
            ("quota:get_all", "GET", "/v1/quotas", None),
            ("quota:get_all", "GET", "/v1/quotas?all_tenants=true", None),
            ("quota:create", "POST", "/v1/quotas", {"project_id": "p1"}),
            ("quota:update", "PATCH", "/v1/quotas/p1/Cluster", {"hard_limit": 99}),
            ("quota:delete", "DELETE", "/v1/quotas/p1/Cluster", None),
        )
        for rule, method, path, body in writes:
            _api.error(
                q(method, path, headers=who, json=body),
                403,
                f"Policy doesn't allow {rule} to be performed.",
            )
    _api.error(
        q("GET", "/v1/quotas/p1/Cluster", headers=NO_ROLE),
        403,
        "Policy doesn't allow quota:get to be performed.",
    )
    # nothing changed
    assert [r["hard_limit"] for r in q("GET", "/v1/quotas?all_tenants=1").json["quotas"]] == [4, 6]
    # an admin of another project reads and changes any project's
    assert q("GET", "/v1/quotas/p1/Cluster", project="p3").json["hard_limit"] == 4
    assert q("GET", "/v1/quotas", project="p3").json == {"quotas": []}
    assert len(q("GET", "/v1/quotas?all_tenants=1", project="p3").json["quotas"]) == 2
    patched = q("PATCH", "/v1/quotas/p2/Cluster", json={"hard_limit": 7}, project="p3")
    assert patched.status_code == 202 and patched.json["hard_limit"] == 7
    # noauth's caller without X-Roles is admin and member
    assert q("GET", "/v1/quotas/p2/Cluster", headers=LATEST).json["hard_limit"] == 7


@pytest.mark.parametrize("version", ["1.1", "1.5"])
def test_before_1_6_quotas_are_not_acceptable(q: Quotas, version: str) -> None:
    old = ADMIN | {"OpenStack-API-Version": f"container-infra {version}"}
    for method, path, kw in (
        ("GET", "/v1/quotas", {}),
        ("POST", "/v1/quotas", {"json": {"project_id": "p2"}}),
        ("GET", "/v1/quotas/p2/Cluster", {}),
        ("PATCH", "/v1/quotas/p2/Cluster", {"json": {"hard_limit": 1}}),
        ("DELETE", "/v1/quotas/p2/Cluster", {}),
    ):
        template = "/v1/quotas" if path == "/v1/quotas" else "/v1/quotas/{project_id}/{resource}"
        _api.error(
            q.svc.request(method, path, headers=old, **kw),
            406,
            f"Version {version} was requested but the requested API {method} {template} is "
            "not supported for this version.",
        )
    assert q("GET", "/v1/quotas?all_tenants=1").json == {"quotas": []}
    document = q.svc.get("/v1", headers=old).json
    assert "quotas" not in document


def test_from_1_6_quotas_are_served_and_listed(q: Quotas) -> None:
    at = ADMIN | {"OpenStack-API-Version": "container-infra 1.6"}
    assert q("GET", "/v1/quotas", headers=at).status_code == 200
    assert "quotas" in q.svc.get("/v1", headers=at).json
