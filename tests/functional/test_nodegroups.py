# SPDX-License-Identifier: Apache-2.0
"""/v1/clusters/{ident}/nodegroups (1.9) with the fake drivers, on the three databases: a
nodegroup's create builds real (fake) nodes that join, its delete drains and removes them
and then the group; lists, shows and patches; every refusal with its status and text."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional import _api
from tests.functional import _nodegroups as ng
from tests.functional.conftest import Service
from tests.functional.test_api_personas import READER as READER_ROLE

V = ng.V
BRIEF = {"uuid", "name", "flavor_id", "node_count", "role", "is_default", "image_id"}
BRIEF |= {"status", "stack_id"}
FULL = {
    "id",
    "uuid",
    "name",
    "cluster_id",
    "project_id",
    "docker_volume_size",
    "labels",
    "labels_overridden",
    "labels_added",
    "labels_skipped",
    "flavor_id",
    "image_id",
    "node_addresses",
    "node_count",
    "role",
    "min_node_count",
    "max_node_count",
    "is_default",
    "stack_id",
    "status",
    "status_reason",
    "version",
    "merge_labels",
    "node_labels",
    "node_taints",
    "links",
    "created_at",
    "updated_at",
}


@pytest.fixture
def c1(svc: Service) -> dict[str, Any]:
    return ng.cluster(svc, env="dev")


def _path(cluster: dict[str, Any], rest: str = "") -> str:
    return f"/v1/clusters/{cluster['uuid']}/nodegroups{rest}"


# --- reads ------------------------------------------------------------------------------------
def test_every_cluster_lists_its_default_groups(svc: Service, c1: dict[str, Any]) -> None:
    res = svc.get(_path(c1), headers=V)
    assert res.status_code == 200, res.text
    items = res.json["nodegroups"]
    assert set(res.json) == {"nodegroups"}
    assert [(g["name"], g["role"], g["is_default"], g["node_count"]) for g in items] == [
        ("default-master", "master", True, 1),
        ("default-worker", "worker", True, 1),
    ]
    assert all(set(g) == BRIEF for g in items), items
    assert {g["status"] for g in items} == {"CREATE_COMPLETE"}
    masters = svc.get(_path(c1), headers=V, params={"role": "master"}).json["nodegroups"]
    assert [g["name"] for g in masters] == ["default-master"]
    assert svc.get(_path(c1), headers=V, params={"role": "infra"}).json["nodegroups"] == []


def test_show_by_name_uuid_and_id(svc: Service, c1: dict[str, Any]) -> None:
    worker = ng.show(svc, c1["uuid"], "default-worker")
    assert set(worker) == FULL
    assert worker["cluster_id"] == c1["uuid"] and worker["project_id"] == "p1"
    assert worker["node_addresses"] == c1["node_addresses"]
    assert worker["links"] == [
        {
            "href": f"http://falconframework.org/v1/clusters/{c1['uuid']}/nodegroups/"
            f"{worker['uuid']}",
            "rel": "self",
        },
        {
            "href": f"http://falconframework.org/clusters/{c1['uuid']}/nodegroups/{worker['uuid']}",
            "rel": "bookmark",
        },
    ]
    assert worker["node_labels"] == {} and worker["node_taints"] == []
    assert worker["merge_labels"] is False
    assert _api.ISO.match(worker["created_at"])
    assert ng.show(svc, c1["uuid"], worker["uuid"]) == worker
    assert ng.show(svc, c1["uuid"], str(worker["id"])) == worker
    assert ng.show(svc, c1["name"], "default-worker")["uuid"] == worker["uuid"]
    for ident in ("nope", "Default-Worker", "99999", "00000000-0000-4000-8000-000000000000"):
        res = svc.get(_path(c1, f"/{ident}"), headers=V)
        _api.error(res, 404, f"Nodegroup {ident} could not be found.")


def test_labels_differences_are_against_the_clusters(svc: Service, c1: dict[str, Any]) -> None:
    body = {"name": "ng1", "node_count": 0, "labels": {"env": "prod", "extra": "1"}}
    res = svc.post(_path(c1), body, headers=V)
    assert res.status_code == 202, res.text
    ng.wait(svc, c1["uuid"])
    shown = ng.show(svc, c1["uuid"], "ng1")
    assert shown["labels"] == {"env": "prod", "extra": "1"}
    assert shown["labels_overridden"] == {"env": "dev"}
    assert shown["labels_added"] == {"extra": "1"}
    assert shown["labels_skipped"] == {}
    body = {"name": "ng2", "node_count": 0, "labels": {"extra": "2"}}
    assert svc.post(_path(c1), body, headers=V).status_code == 202
    ng.wait(svc, c1["uuid"])
    shown = ng.show(svc, c1["uuid"], "ng2")
    assert shown["labels_skipped"] == {"env": "dev"} and shown["labels_overridden"] == {}


def test_versions_below_1_9_do_not_have_nodegroups(svc: Service, c1: dict[str, Any]) -> None:
    for version in ("1.1", "1.8"):
        headers = ng.at(version)
        for method, path in (
            ("GET", _path(c1)),
            ("POST", _path(c1)),
            ("GET", _path(c1, "/default-worker")),
            ("PATCH", _path(c1, "/default-worker")),
            ("DELETE", _path(c1, "/default-worker")),
        ):
            res = svc.request(method, path, headers=headers, json={"name": "x"})
            _api.error(res, 406, contains=("not supported for this version",))
    assert svc.get(_path(c1), headers=ng.at("1.9")).status_code == 200


# --- create and delete: real (fake) nodes -----------------------------------------------------
def test_create_builds_nodes_that_join_and_delete_removes_them(
    svc: Service, c1: dict[str, Any]
) -> None:
    body = {
        "name": "big",
        "node_count": 2,
        "flavor_id": "m1.large",
        "node_labels": {"tier": "batch", "node.kubernetes.io/pool": "big"},
        "node_taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
        "min_node_count": 1,
        "max_node_count": 4,
    }
    res = svc.post(_path(c1), body, headers=V)
    assert res.status_code == 202, res.text
    created = res.json
    assert set(created) == FULL
    assert created["status"] == "CREATE_IN_PROGRESS"
    assert created["node_count"] == 2 and created["is_default"] is False
    assert created["flavor_id"] == "m1.large" and created["image_id"] == "fedora-atomic"
    assert created["node_labels"] == body["node_labels"]
    assert created["node_taints"] == body["node_taints"]
    cluster = ng.wait(svc, c1["uuid"])
    assert cluster["node_count"] == 3  # the default worker and the group's two
    shown = ng.show(svc, c1["uuid"], "big")
    assert shown["status"] == "CREATE_COMPLETE" and shown["status_reason"] is None
    assert len(shown["node_addresses"]) == 2
    assert set(shown["node_addresses"]) <= set(cluster["node_addresses"])
    assert ng.nodes(svc, c1["uuid"]) == {
        "big-0": "big",
        "big-1": "big",
        "master-0": "default-master",
        "node-0": "default-worker",
    }
    timeline = svc.get(f"/v1/clusters/{c1['uuid']}/events", params={"limit": "100"}).json
    messages = [e["message"] for e in timeline["events"]]
    assert "update requested (node_count=2, nodegroup=big, nodegroup_action=create)" in messages
    assert "Adding 2 nodes (nodegroup big)" in messages
    assert "Joining 2 nodes (nodegroup big)" in messages

    res = svc.delete(_path(c1, "/big"), headers=V)
    assert res.status_code == 204, res.text
    assert ng.show(svc, c1["uuid"], "big")["status"] == "DELETE_IN_PROGRESS"
    cluster = ng.wait(svc, c1["uuid"])
    assert cluster["node_count"] == 1 and len(cluster["node_addresses"]) == 1
    _api.error(svc.get(_path(c1, "/big"), headers=V), 404, "Nodegroup big could not be found.")
    assert set(ng.nodes(svc, c1["uuid"])) == {"master-0", "node-0"}
    messages = [
        e["message"]
        for e in svc.get(f"/v1/clusters/{c1['uuid']}/events", params={"limit": "100"}).json[
            "events"
        ]
    ]
    assert "Draining 2 nodes (nodegroup big)" in messages
    assert "Nodegroup big has no nodes left" in messages
    # the name is free again
    assert svc.post(_path(c1), {"name": "big", "node_count": 1}, headers=V).status_code == 202
    ng.wait(svc, c1["uuid"])
    assert ng.show(svc, c1["uuid"], "big")["node_count"] == 1


def test_defaults_come_from_the_cluster(svc: Service, c1: dict[str, Any]) -> None:
    res = svc.post(_path(c1), {"name": "plain"}, headers=V)
    assert res.status_code == 202, res.text
    body = res.json
    assert body["node_count"] == 1 and body["role"] == "worker"
    assert body["min_node_count"] == 0 and body["max_node_count"] is None
    assert body["labels"] == {"env": "dev"}
    ng.wait(svc, c1["uuid"])
    merged = svc.post(
        _path(c1), {"name": "m", "labels": {"a": "b"}, "merge_labels": True}, headers=V
    )
    assert merged.status_code == 202, merged.text
    assert merged.json["labels"] == {"env": "dev", "a": "b"}
    assert merged.json["merge_labels"] is False  # an input flag
    ng.wait(svc, c1["uuid"])


def test_a_failed_create_says_so_on_the_group(svc: Service) -> None:
    cluster = ng.cluster(svc, "small", fake_max_nodes="3")
    res = svc.post(f"/v1/clusters/{cluster['uuid']}/nodegroups", {"name": "x", "node_count": 2})
    assert res.status_code == 406  # no version header: 1.1
    res = svc.post(
        f"/v1/clusters/{cluster['uuid']}/nodegroups", {"name": "x", "node_count": 2}, headers=V
    )
    assert res.status_code == 202, res.text
    ng.wait(svc, cluster["uuid"], "UPDATE_FAILED")
    shown = ng.show(svc, cluster["uuid"], "x")
    assert shown["status"] == "CREATE_FAILED"
    assert shown["status_reason"] == "fake host holds 3 nodes at most"
    # it can be deleted (the cluster accepts an update after a failed one)
    assert svc.delete(f"/v1/clusters/{cluster['uuid']}/nodegroups/x", headers=V).status_code == 204
    ng.wait(svc, cluster["uuid"])
    assert set(ng.groups(svc, cluster["uuid"])) == {"default-master", "default-worker"}
    assert set(ng.nodes(svc, cluster["uuid"])) == {"master-0", "node-0"}


def _bad(name: str = "ng1", **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


BAD_CREATES: list[tuple[Any, int, str]] = [
    ({}, 400, "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."),
    (
        _bad(foo=1),
        400,
        "Unknown attribute for argument nodegroup: foo",
    ),
    (
        _bad(status="CREATE_COMPLETE"),
        400,
        "Invalid input for field/attribute status. Value: 'CREATE_COMPLETE'. Cannot set read "
        "only field.",
    ),
    (
        _bad(role="master"),
        400,
        "Creating master nodegroups is currently not supported.",
    ),
    (
        _bad(role="infra"),
        400,
        "Invalid input for field/attribute role. Value: 'infra'. Value should be one of: "
        "worker, master",
    ),
    (
        _bad(node_count=-1),
        400,
        "Invalid input for field/attribute node_count. Value: '-1'. Value should be greater "
        "or equal to 0",
    ),
    (
        _bad(docker_volume_size=0),
        400,
        "Invalid input for field/attribute docker_volume_size. Value: '0'. Value should be "
        "greater or equal to 1",
    ),
    (
        _bad("bad name"),
        400,
        "Invalid input for field/attribute name. Value: 'bad name'. Value should match the "
        "pattern ^[a-zA-Z][a-zA-Z0-9_.-]*$",
    ),
    (
        _bad("x" * 41),
        400,
        f"Invalid input for field/attribute name. Value: '{'x' * 41}'. Value should have a "
        "maximum character requirement of 40",
    ),
    (
        _bad(node_count=0),
        400,
        "Resizing a nodegroup to zero is not supported in the provided microversion.",
    ),
    (
        _bad("default-worker"),
        409,
        "A node group with name default-worker already exists in the cluster {cluster}.",
    ),
    (
        _bad("node"),
        409,
        "A node group with name node already exists in the cluster {cluster}.",
    ),
    (
        _bad(node_count=2, min_node_count=3),
        409,
        "min_node_count for ng1 is invalid (min_node_count (3) should be less or equal to "
        "node_count (2)).",
    ),
    (
        _bad(node_count=2, min_node_count=3, max_node_count=1),
        409,
        "max_node_count for ng1 is invalid (min_node_count (3) should be less or equal to "
        "max_node_count (1)).",
    ),
    (
        _bad(node_count=3, max_node_count=2),
        409,
        "max_node_count for ng1 is invalid (node_count (3) should be less or equal to "
        "max_node_count (2)).",
    ),
    (
        _bad(node_labels={"kubernetes.io/role": "x"}),
        409,
        "node_labels for ng1 is invalid (key 'kubernetes.io/role' is in the kubernetes.io or "
        "k8s.io namespace; only the kubelet.kubernetes.io and node.kubernetes.io prefixes and "
        "the labels a kubelet sets itself are allowed there).",
    ),
    (
        _bad(node_labels={"a": "-x"}),
        409,
        "node_labels for ng1 is invalid (the value of 'a' must be at most 63 characters, "
        "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric).",
    ),
    (
        _bad(node_taints=[{"key": "k", "effect": "Sometimes"}]),
        409,
        "node_taints for ng1 is invalid (taint 0: effect must be one of NoSchedule, "
        "PreferNoSchedule, NoExecute, not 'Sometimes').",
    ),
    (
        _bad(node_taints=[{"key": "k", "effect": "NoSchedule", "when": "now"}]),
        409,
        "node_taints for ng1 is invalid (taint 0 has unknown keys: when; a taint has key, value "
        "and effect).",
    ),
    (
        _bad(node_taints=[{"effect": "NoSchedule"}]),
        409,
        "node_taints for ng1 is invalid (taint 0 has no key).",
    ),
    (
        _bad(node_taints={"key": "k"}),
        400,
        "Invalid input for field/attribute node_taints. Value: '{'key': 'k'}'. Value should be "
        "a list",
    ),
]


@pytest.mark.parametrize(("body", "status", "detail"), BAD_CREATES)
def test_bad_creates_are_refused_and_write_nothing(
    svc: Service, c1: dict[str, Any], body: Any, status: int, detail: str
) -> None:
    res = svc.post(_path(c1), body, headers=ng.at("1.9"))
    _api.error(res, status, detail.replace("{cluster}", c1["uuid"]))
    assert set(ng.groups(svc, c1["uuid"])) == {"default-master", "default-worker"}
    assert ng.wait(svc, c1["uuid"], "CREATE_COMPLETE")["node_count"] == 1


def test_zero_nodes_from_1_10(svc: Service, c1: dict[str, Any]) -> None:
    res = svc.post(_path(c1), {"name": "empty", "node_count": 0}, headers=ng.at("1.10"))
    assert res.status_code == 202, res.text
    ng.wait(svc, c1["uuid"])
    assert ng.show(svc, c1["uuid"], "empty")["status"] == "CREATE_COMPLETE"
    assert set(ng.nodes(svc, c1["uuid"])) == {"master-0", "node-0"}


def test_a_cluster_without_api_address_or_busy_is_409(svc: Service, tmp_path: pathlib.Path) -> None:
    gate = tmp_path / "gate"
    _api.make_cluster_template(svc, name="gated", labels={"fake_gate": str(gate)})
    uuid = svc.post("/v1/bays", {"baymodel_id": "gated"}).json["uuid"]
    res = svc.post(f"/v1/clusters/{uuid}/nodegroups", {"name": "x"}, headers=V)
    _api.error(res, 409, "Cluster API address is not available yet")
    gate.touch()
    ng.wait(svc, uuid, "CREATE_COMPLETE")

    update_gate = tmp_path / "update-gate"
    busy = ng.cluster(svc, "busy", fake_update_gate=str(update_gate))
    path = f"/v1/clusters/{busy['uuid']}/nodegroups"
    assert svc.post(path, {"name": "x"}, headers=V).status_code == 202
    in_progress = 'Updating a cluster when status is "UPDATE_IN_PROGRESS" is not supported.'
    _api.error(svc.post(path, {"name": "y"}, headers=V), 409, in_progress)
    _api.error(svc.delete(f"{path}/x", headers=V), 409, in_progress)
    update_gate.touch()
    ng.wait(svc, busy["uuid"])
    assert set(ng.groups(svc, busy["uuid"])) == {"default-master", "default-worker", "x"}


def test_quotas_and_capacity_hold_creates(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = service_factory(quotas={"max_nodes_per_project": 3})
    c = ng.cluster(svc)
    res = svc.post(
        f"/v1/clusters/{c['uuid']}/nodegroups", {"name": "x", "node_count": 2}, headers=V
    )
    _api.error(
        res,
        400,
        "Resource limit exceeded: This would make 4 nodes in the project; its quota is 3 nodes "
        "(2 in use).",
    )
    assert set(ng.groups(svc, c["uuid"])) == {"default-master", "default-worker"}
    monkeypatch.setenv("MAGNUM_FAKE_CAPACITY", "2")
    res = svc.post(f"/v1/clusters/{c['uuid']}/nodegroups", {"name": "x"}, headers=V)
    _api.error(res, 400, contains=("The infrastructure holds 2 nodes in all",))
    assert ng.wait(svc, c["uuid"], "CREATE_COMPLETE")["node_count"] == 1


# --- patch ---------------------------------------------------------------------------------------
def _patch(svc: Service, cluster: dict[str, Any], name: str, *ops: dict[str, Any]) -> Any:
    return svc.patch(_path(cluster, f"/{name}"), list(ops), headers=V)


def test_patch_changes_bounds_labels_and_taints(svc: Service, c1: dict[str, Any]) -> None:
    taints = [{"key": "gpu", "effect": "NoExecute"}]
    res = _patch(
        svc,
        c1,
        "default-worker",
        {"op": "replace", "path": "/max_node_count", "value": 5},
        {"op": "replace", "path": "/min_node_count", "value": 1},
        {"op": "replace", "path": "/node_labels", "value": {"tier": "web"}},
        {"op": "replace", "path": "/node_taints", "value": taints},
    )
    assert res.status_code == 202, res.text
    assert set(res.json) == FULL
    assert (res.json["min_node_count"], res.json["max_node_count"]) == (1, 5)
    assert res.json["node_labels"] == {"tier": "web"} and res.json["node_taints"] == taints
    assert ng.show(svc, c1["uuid"], "default-worker") == res.json
    # a string holding the object, as Magnum reads it; a nested path; remove resets
    res = _patch(
        svc,
        c1,
        "default-worker",
        {"op": "replace", "path": "/node_labels", "value": "{'tier': 'db'}"},
        {"op": "add", "path": "/node_labels/zone", "value": "a"},
        {
            "op": "replace",
            "path": "/node_taints",
            "value": '[{"key": "k", "effect": "NoSchedule"}]',
        },
        {"op": "remove", "path": "/max_node_count"},
    )
    assert res.status_code == 202, res.text
    assert res.json["node_labels"] == {"tier": "db", "zone": "a"}
    assert res.json["node_taints"] == [{"key": "k", "effect": "NoSchedule"}]
    assert res.json["max_node_count"] is None
    assert ng.wait(svc, c1["uuid"], "CREATE_COMPLETE")["status"] == "CREATE_COMPLETE"


BAD_PATCHES: list[tuple[str, list[dict[str, Any]], int, str]] = [
    (
        "default-worker",
        [{"op": "replace", "path": "/node_count", "value": 3}],
        400,
        "'/node_count' is an internal attribute and can not be updated",
    ),
    (
        "default-worker",
        [{"op": "replace", "path": "/name", "value": "x"}],
        400,
        "'/name' is an internal attribute and can not be updated",
    ),
    (
        "default-worker",
        [{"op": "add", "path": "/foo", "value": "x"}],
        400,
        "Adding a new attribute /foo to the root of the resource is not allowed.",
    ),
    (
        "default-worker",
        [{"op": "replace", "path": "/min_node_count", "value": 2}],
        409,
        "min_node_count for default-worker is invalid (min_node_count (2) should be less or "
        "equal to node_count (1)).",
    ),
    (
        "default-worker",
        [{"op": "replace", "path": "/max_node_count", "value": 0}],
        409,
        "max_node_count for default-worker is invalid (node_count (1) should be less or equal "
        "to max_node_count (0)).",
    ),
    (
        "default-worker",
        [{"op": "replace", "path": "/min_node_count", "value": -1}],
        400,
        "Invalid input for field/attribute min_node_count. Value: '-1'. Value should be greater "
        "or equal to 0",
    ),
    (
        "default-master",
        [{"op": "replace", "path": "/node_labels", "value": {"a": "b"}}],
        409,
        "node_labels for default-master is invalid (node labels cannot be set on master "
        "nodegroups).",
    ),
    (
        "default-master",
        [
            {
                "op": "replace",
                "path": "/node_taints",
                "value": [{"key": "a", "effect": "NoSchedule"}],
            }
        ],
        409,
        "node_taints for default-master is invalid (node taints cannot be set on master "
        "nodegroups).",
    ),
    (
        "default-worker",
        [{"op": "replace", "path": "/node_taints", "value": "not a list"}],
        400,
        "Invalid input for field/attribute node_taints. Value: 'not a list'. Value should be a "
        "list",
    ),
    (  # a path that is not a string is judged by the patch schema, not looked up
        "default-worker",
        [{"op": "add", "path": {}, "value": None}],
        400,
        "Invalid input for field/attribute path. Value: '{}'. Value should be string",
    ),
]


@pytest.mark.parametrize(("name", "ops", "status", "detail"), BAD_PATCHES)
def test_bad_patches_change_nothing(
    svc: Service, c1: dict[str, Any], name: str, ops: list[dict[str, Any]], status: int, detail: str
) -> None:
    before = ng.show(svc, c1["uuid"], name)
    _api.error(_patch(svc, c1, name, *ops), status, detail)
    assert ng.show(svc, c1["uuid"], name) == before


def test_default_groups_cannot_be_deleted(svc: Service, c1: dict[str, Any]) -> None:
    for name in ("default-worker", "default-master"):
        res = svc.delete(_path(c1, f"/{name}"), headers=V)
        _api.error(res, 400, "Deleting a default nodegroup is not supported.")
    _api.error(svc.delete(_path(c1, "/x"), headers=V), 404, "Nodegroup x could not be found.")
    assert set(ng.groups(svc, c1["uuid"])) == {"default-master", "default-worker"}


# --- lists -----------------------------------------------------------------------------------
def test_list_pages_sorts_and_filters(svc: Service, c1: dict[str, Any]) -> None:
    for name in ("a3", "a1", "a2"):
        res = svc.post(_path(c1), {"name": name, "node_count": 0}, headers=V)
        assert res.status_code == 202, res.text
        ng.wait(svc, c1["uuid"])
    res = svc.get(_path(c1), headers=V, params={"limit": "2", "sort_key": "name"})
    assert [g["name"] for g in res.json["nodegroups"]] == ["a1", "a2"]
    assert res.json["next"].startswith(
        f"http://falconframework.org/v1/clusters/{c1['uuid']}/nodegroups?"
    )
    walked, url = [], f"{_path(c1)}?limit=2&sort_key=name"
    while url:  # the next links, followed at the version that made them
        page = svc.get(url, headers=V).json
        walked += page["nodegroups"]
        url = _api.path(page["next"]) if "next" in page else ""
    assert [g["name"] for g in walked] == ["a1", "a2", "a3", "default-master", "default-worker"]
    workers = svc.get(
        _path(c1),
        headers=V,
        params={"role": "worker", "limit": "1", "sort_key": "name", "sort_dir": "desc"},
    )
    assert [g["name"] for g in workers.json["nodegroups"]] == ["default-worker"]
    assert "role=worker" in workers.json["next"]
    for params, status, detail in (
        (
            {"sort_key": "labels"},
            400,
            'The sort_key value "labels" is an invalid field for sorting',
        ),
        ({"limit": "0"}, 400, "Limit must be positive"),
        ({"foo": "1"}, 400, 'Unknown argument: "foo"'),
        (
            {"marker": "00000000-0000-4000-8000-000000000000"},
            404,
            "Nodegroup 00000000-0000-4000-8000-000000000000 could not be found.",
        ),
    ):
        _api.error(svc.get(_path(c1), headers=V, params=params), status, detail)


def test_the_walk_helper_follows_versioned_links(svc: Service, c1: dict[str, Any]) -> None:
    """_api.walk sends no version header: a `next` link answers 406 at 1.1, so the page
    links of nodegroups are followed with one."""
    res = svc.get(_path(c1), headers=V, params={"limit": "1"})
    link = _api.path(res.json["next"])
    assert svc.get(link).status_code == 406
    assert svc.get(link, headers=V).json["nodegroups"][0]["name"] == "default-worker"


# --- who may ---------------------------------------------------------------------------------
def test_other_projects_see_nothing(svc: Service, c1: dict[str, Any]) -> None:
    missing = f"Cluster {c1['uuid']} could not be found."
    for method, path in (
        ("GET", _path(c1)),
        ("POST", _path(c1)),
        ("GET", _path(c1, "/default-worker")),
        ("PATCH", _path(c1, "/default-worker")),
        ("DELETE", _path(c1, "/default-worker")),
    ):
        body: Any = [{"op": "remove", "path": "/max_node_count"}] if method == "PATCH" else None
        if method == "POST":
            body = {"name": "x"}
        res = svc.request(method, path, headers=V, project="p2", json=body)
        _api.error(res, 404, missing)
    assert set(ng.groups(svc, c1["uuid"])) == {"default-master", "default-worker"}


def test_readers_read_and_change_nothing(svc: Service, c1: dict[str, Any]) -> None:
    headers = V | READER_ROLE
    assert svc.get(_path(c1), headers=headers).status_code == 200
    assert svc.get(_path(c1, "/default-worker"), headers=headers).status_code == 200
    for rule, method, path, body in (
        ("nodegroup:create", "POST", _path(c1), {"name": "x"}),
        (
            "nodegroup:update",
            "PATCH",
            _path(c1, "/default-worker"),
            [{"op": "replace", "path": "/max_node_count", "value": 3}],
        ),
        ("nodegroup:delete", "DELETE", _path(c1, "/default-worker"), None),
    ):
        res = svc.request(method, path, headers=headers, json=body)
        _api.error(res, 403, f"Policy doesn't allow {rule} to be performed.")
    assert ng.show(svc, c1["uuid"], "default-worker")["max_node_count"] is None
    assert set(ng.groups(svc, c1["uuid"])) == {"default-master", "default-worker"}


# --- the document ----------------------------------------------------------------------------
def test_every_nodegroup_and_resize_answer_is_what_the_document_says(svc: Service) -> None:
    from tests.functional.test_openapi_answers import Checked  # noqa: PLC0415

    api = Checked(svc)
    c = ng.cluster(svc)
    base = f"/v1/clusters/{c['uuid']}"
    api("GET", f"{base}/nodegroups", 200, headers=V)
    api("GET", f"{base}/nodegroups?limit=1&role=worker", 200, headers=V)
    api("GET", f"{base}/nodegroups/default-master", 200, headers=V)
    api("POST", f"{base}/nodegroups", 202, headers=V, json={"name": "ng1", "node_count": 1})
    ng.wait(svc, c["uuid"])
    api("GET", f"{base}/nodegroups/ng1", 200, headers=V)
    patch = [
        {"op": "replace", "path": "/node_taints", "value": [{"key": "k", "effect": "NoSchedule"}]}
    ]
    api("PATCH", f"{base}/nodegroups/ng1", 202, headers=V, json=patch)
    api(
        "POST", f"{base}/actions/resize", 202, headers=V, json={"node_count": 2, "nodegroup": "ng1"}
    )
    ng.wait(svc, c["uuid"])
    api("POST", f"{base}/actions/resize", 400, headers=V, json={"node_count": -1})
    api("POST", f"{base}/actions/resize", 406, headers=ng.at("1.6"), json={"node_count": 1})
    api("DELETE", f"{base}/nodegroups/ng1", 204, headers=V)
    ng.wait(svc, c["uuid"])
    api("DELETE", f"{base}/nodegroups/default-worker", 400, headers=V)
    api("GET", f"{base}/nodegroups/ng1", 404, headers=V)
    mine = {
        (method, template)
        for template, item in api.described.doc["paths"].items()
        for method in item
        if method != "parameters" and ("/nodegroups" in template or "/actions/resize" in template)
    }
    assert mine and mine - api.seen == set()
