# SPDX-License-Identifier: Apache-2.0
"""/v1/bays against the Mitaka contract (spec §3, §4.1)."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import pytest

from tests.functional import _api
from tests.functional.conftest import Service

HOST = "http://falconframework.org"
BRIEF = {
    "uuid",
    "name",
    "baymodel_id",
    "node_count",
    "master_count",
    "bay_create_timeout",
    "status",
    "stack_id",
    "links",
}
FULL = BRIEF | {
    "health_status",
    "health_status_reason",
    "status_reason",
    "discovery_url",
    "api_address",
    "node_addresses",
    "master_addresses",
    "created_at",
    "updated_at",
}


# Written in the background by the conductor's health checks once a bay is settled.
VOLATILE = {"health_status", "health_status_reason", "updated_at"}


def _stable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in VOLATILE}


def _complete(body: dict[str, Any] | None) -> bool:
    return body is not None and body["status"] == "CREATE_COMPLETE"


def _cluster(svc: Service, project: str = "p1", **fields: Any) -> dict[str, Any]:
    res = svc.post("/v1/bays", {"baymodel_id": "m1"} | fields, project=project)
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json
    return body


def _settled_cluster(svc: Service, **fields: Any) -> dict[str, Any]:
    created = _cluster(svc, **fields)
    cluster = svc.wait_cluster(created["uuid"], _complete)
    assert cluster is not None
    return cluster


def test_create_fields_and_defaults(svc: Service, cluster_template: dict[str, Any]) -> None:
    supplied = str(uuidlib.uuid4())
    res = svc.post("/v1/bays", {"baymodel_id": "m1", "uuid": supplied})
    assert res.status_code == 201, res.text
    cluster = res.json
    assert set(cluster) == FULL
    assert cluster["uuid"] != supplied and _api.UUID.match(
        cluster["uuid"]
    )  # client uuid is ignored
    assert res.headers["location"] == f"{HOST}/v1/bays/{cluster['uuid']}"
    assert cluster["links"] == [
        {"href": f"{HOST}/v1/bays/{cluster['uuid']}", "rel": "self"},
        {"href": f"{HOST}/bays/{cluster['uuid']}", "rel": "bookmark"},
    ]
    assert {k: cluster[k] for k in ("name", "baymodel_id", "node_count", "master_count")} == {
        "name": None,
        "baymodel_id": cluster_template["uuid"],  # given by name, stored and shown as the uuid
        "node_count": 1,
        "master_count": 1,
    }
    assert cluster["bay_create_timeout"] == 0
    assert cluster["status"] == "CREATE_IN_PROGRESS"
    assert _api.ISO.match(cluster["created_at"])
    assert cluster["updated_at"] is None
    done = svc.wait_cluster(cluster["uuid"], _complete)
    assert done is not None
    assert set(done) == FULL
    assert done["created_at"] == cluster["created_at"]
    assert _api.ISO.match(done["updated_at"])


def test_create_with_fields(svc: Service, cluster_template: dict[str, Any]) -> None:
    cluster = _cluster(
        svc,
        baymodel_id=cluster_template["uuid"],
        name="Named.bay_1-x",
        node_count=2,
        master_count=1,
        bay_create_timeout=15,
        discovery_url="https://discovery.example/abc",
    )
    assert {
        k: cluster[k] for k in ("name", "node_count", "bay_create_timeout", "discovery_url")
    } == {
        "name": "Named.bay_1-x",
        "node_count": 2,
        "bay_create_timeout": 15,
        "discovery_url": "https://discovery.example/abc",
    }


def test_brief_and_detail(svc: Service, cluster_template: dict[str, Any]) -> None:
    cluster = _settled_cluster(svc, name="b1")
    assert svc.get("/v1/bays").json == {"bays": [{k: cluster[k] for k in BRIEF}]}
    detail = svc.get("/v1/bays/detail").json
    assert set(detail) == {"bays"} and [_stable(b) for b in detail["bays"]] == [_stable(cluster)]
    assert set(detail["bays"][0]) == FULL
    assert _stable(svc.get("/v1/bays/b1").json) == _stable(cluster)
    assert _stable(svc.get(f"/bays/{cluster['uuid']}").json) == _stable(
        cluster
    )  # the bookmark path


def test_lookup_404_409_and_upper_case_uuid(svc: Service, cluster_template: dict[str, Any]) -> None:
    a = _cluster(svc, name="twin")
    _cluster(svc, name="twin")
    detail = "Multiple bays exist with same name. Please use the bay uuid instead."
    _api.error(svc.get("/v1/bays/twin"), 409, detail)
    _api.error(svc.delete("/v1/bays/twin"), 409, detail)
    ops = [{"op": "replace", "path": "/node_count", "value": 2}]
    _api.error(svc.patch("/v1/bays/twin", ops), 409, detail)
    assert svc.get(f"/v1/bays/{a['uuid']}").json["uuid"] == a["uuid"]
    upper = a["uuid"].upper()
    _api.error(svc.get(f"/v1/bays/{upper}"), 404, f"Bay {upper} could not be found.")
    missing = str(uuidlib.uuid4())
    _api.error(svc.get(f"/v1/bays/{missing}"), 404, f"Bay {missing} could not be found.")
    _api.error(svc.delete(f"/v1/bays/{missing}"), 404, f"Bay {missing} could not be found.")


def test_project_scoping(svc: Service, cluster_template: dict[str, Any]) -> None:
    cluster = _cluster(svc, name="mine")
    for ident in (cluster["uuid"], "mine"):
        missing = f"Bay {ident} could not be found."
        _api.error(svc.get(f"/v1/bays/{ident}", project="p2"), 404, missing)
        ops = [{"op": "replace", "path": "/node_count", "value": 2}]
        _api.error(svc.patch(f"/v1/bays/{ident}", ops, project="p2"), 404, missing)
        _api.error(svc.delete(f"/v1/bays/{ident}", project="p2"), 404, missing)
    assert svc.get("/v1/bays", project="p2").json == {"bays": []}
    assert svc.get("/v1/bays/detail", project="p2").json == {"bays": []}
    res = svc.get(f"/v1/bays?marker={cluster['uuid']}", project="p2")
    _api.error(res, 404, f"Bay {cluster['uuid']} could not be found.")
    assert svc.get(f"/v1/bays/{cluster['uuid']}").json["uuid"] == cluster["uuid"]


def test_pagination_on_nullable_name_and_id(svc: Service, cluster_template: dict[str, Any]) -> None:
    names = ["c", None, "a", "b", None, "a"]
    made = [_cluster(svc, **({"name": n} if n else {}))["uuid"] for n in names]
    ranked = sorted(range(len(names)), key=lambda i: (names[i] is not None, names[i] or "", i))
    for sort_dir in ("asc", "desc"):
        by_name = [made[i] for i in (reversed(ranked) if sort_dir == "desc" else ranked)]
        by_id = list(reversed(made)) if sort_dir == "desc" else made
        for key, expected in (("name", by_name), ("id", by_id)):
            for detail in ("", "/detail"):
                for limit in (1, 4):
                    url = f"/v1/bays{detail}?sort_key={key}&sort_dir={sort_dir}&limit={limit}"
                    got = [b["uuid"] for b in _api.walk(svc, url, "bays")]
                    assert got == expected, (url, got)
    res = svc.get("/v1/bays/detail?limit=2")
    assert res.json["next"].startswith(f"{HOST}/v1/bays/detail?")
    assert set(res.json["bays"][0]) == FULL


def test_patch_node_count(svc: Service, cluster_template: dict[str, Any]) -> None:
    cluster = _settled_cluster(svc, name="b1")
    res = svc.patch("/v1/bays/b1", [{"op": "replace", "path": "/node_count", "value": 3}])
    assert res.status_code == 200, res.text
    assert set(res.json) == FULL
    assert res.json["node_count"] == 3
    done = svc.wait_cluster("b1", lambda b: b is not None and b["status"] == "UPDATE_COMPLETE")
    assert done is not None and done["node_count"] == 3
    # removing node_count resets it to its default, 1
    res = svc.patch("/v1/bays/b1", [{"op": "remove", "path": "/node_count"}])
    assert res.status_code == 200, res.text
    assert res.json["node_count"] == 1
    assert res.json["uuid"] == cluster["uuid"]


PATCH_REFUSALS: list[tuple[dict[str, Any], str]] = [
    (
        {"op": "replace", "path": "/name", "value": "other"},
        "cannot change bay property(ies) name.",
    ),
    (
        {"op": "replace", "path": "/master_count", "value": 3},
        "cannot change bay property(ies) master_count.",
    ),
    (
        {"op": "replace", "path": "/bay_create_timeout", "value": 9},
        "cannot change bay property(ies) bay_create_timeout.",
    ),
    (
        {"op": "replace", "path": "/node_count", "value": 0},
        "Invalid input for field/attribute node_count. Value: '0'. "
        "Value should be greater or equal to 1",
    ),
    (
        {"op": "replace", "path": "/node_count", "value": "2"},
        "Invalid input for field/attribute node_count. Value: '2'. Value should be integer",
    ),
    (
        {"op": "remove", "path": "/baymodel_id"},
        "'/baymodel_id' is a mandatory attribute and can not be removed",
    ),
    (
        {"op": "replace", "path": "/uuid", "value": "x"},
        "'/uuid' is an internal attribute and can not be updated",
    ),
    (
        {"op": "replace", "path": "/api_address", "value": "x"},
        "'/api_address' is an internal attribute and can not be updated",
    ),
    (
        {"op": "replace", "path": "/stack_id", "value": "x"},
        "'/stack_id' is an internal attribute and can not be updated",
    ),
    (
        {"op": "add", "path": "/foo", "value": "x"},
        "Adding a new attribute /foo to the root of the resource is not allowed.",
    ),
    (
        {"op": "add", "path": "/node_count", "value": 5},
        "The attribute /node_count has existed, please use 'replace' operation instead.",
    ),
]


def test_patch_refusals(
    svc: Service, cluster_template: dict[str, Any], subtests: pytest.Subtests
) -> None:
    cluster = _settled_cluster(svc, name="b1")
    for op, detail in PATCH_REFUSALS:
        with subtests.test(msg=f"{op['op']} {op['path']} {op.get('value')}"):
            _api.error(svc.patch(f"/v1/bays/{cluster['uuid']}", [op]), 400, detail)
            assert _stable(svc.get(f"/v1/bays/{cluster['uuid']}").json) == _stable(cluster)


def test_patch_of_several_immutable_fields_names_them_all(
    svc: Service, cluster_template: dict[str, Any]
) -> None:
    cluster = _settled_cluster(svc, name="b1")
    ops = [
        {"op": "replace", "path": "/node_count", "value": 2},
        {"op": "replace", "path": "/name", "value": "b2"},
        {"op": "replace", "path": "/master_count", "value": 2},
    ]
    res = svc.patch("/v1/bays/b1", ops)
    _api.error(res, 400, "cannot change bay property(ies) master_count, name.")
    assert _stable(svc.get("/v1/bays/b1").json) == _stable(cluster)


def test_delete(svc: Service, cluster_template: dict[str, Any]) -> None:
    cluster = _settled_cluster(svc, name="b1")
    res = svc.delete("/v1/bays/b1")
    assert res.status_code == 204 and res.text == ""
    assert svc.wait_cluster(cluster["uuid"], lambda b: b is None) is None
    assert svc.get("/v1/bays").json == {"bays": []}
    _api.error(svc.get("/v1/bays/b1"), 404, "Bay b1 could not be found.")
