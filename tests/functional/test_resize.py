# SPDX-License-Identifier: Apache-2.0
"""POST /v1/clusters/{ident}/actions/resize (1.7) with the fake drivers, on the three
databases: the default worker group or a named one grows and shrinks, the named nodes go
first, and every refusal comes with its status and text before anything is recorded."""

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


def _events(svc: Service, uuid: str) -> list[dict[str, Any]]:
    """The cluster's timeline, oldest first, without the periodic health checks."""
    res = svc.get(f"/v1/clusters/{uuid}/events", params={"limit": "200"})
    assert res.status_code == 200, res.text
    return [e for e in reversed(res.json["events"]) if e["kind"] != "health"]


def test_resize_the_default_worker_group(svc: Service) -> None:
    c = ng.cluster(svc)
    res = ng.resize(svc, c["uuid"], node_count=3)
    assert res.status_code == 202, res.text
    assert res.json == {"uuid": c["uuid"]}
    assert svc.get(f"/v1/bays/{c['uuid']}").json["status"] == "UPDATE_IN_PROGRESS"
    grown = ng.wait(svc, c["uuid"])
    assert grown["node_count"] == 3 and len(grown["node_addresses"]) == 3
    assert set(ng.nodes(svc, c["uuid"])) == {"master-0", "node-0", "node-1", "node-2"}
    worker = ng.show(svc, c["uuid"], "default-worker")
    assert worker["status"] == "UPDATE_COMPLETE" and worker["node_count"] == 3
    shrunk = ng.resize(svc, c["uuid"], node_count=1)
    assert shrunk.status_code == 202, shrunk.text
    assert ng.wait(svc, c["uuid"])["node_addresses"] == c["node_addresses"]
    assert set(ng.nodes(svc, c["uuid"])) == {"master-0", "node-0"}  # the highest went
    requested = [
        e["message"] for e in _events(svc, c["uuid"]) if e["kind"] == "operation.requested"
    ]
    assert requested[1:] == [
        "update requested (node_count=3, nodegroup=default-worker, nodegroup_action=update)",
        "update requested (node_count=1, nodegroup=default-worker, nodegroup_action=update)",
    ]


def test_the_named_nodes_go_first(svc: Service) -> None:
    c = ng.cluster(svc, nodes=4)
    worker = ng.show(svc, c["uuid"], "default-worker")
    names = ["node-0", "node-1", "node-2", "node-3"]
    by_name = dict(zip(names, worker["node_addresses"], strict=True))
    res = ng.resize(svc, c["uuid"], node_count=2, nodes_to_remove=["node-1"])
    assert res.status_code == 202, res.text
    ng.wait(svc, c["uuid"])
    # node-1 as asked, then the highest index for the second one
    assert set(ng.nodes(svc, c["uuid"])) == {"master-0", "node-0", "node-2"}
    # by address, and the lowest free name is taken when the group grows again
    res = ng.resize(svc, c["uuid"], node_count=1, nodes_to_remove=[by_name["node-2"]])
    assert res.status_code == 202, res.text
    ng.wait(svc, c["uuid"])
    assert set(ng.nodes(svc, c["uuid"])) == {"master-0", "node-0"}
    assert ng.resize(svc, c["uuid"], node_count=3).status_code == 202
    ng.wait(svc, c["uuid"])
    assert set(ng.nodes(svc, c["uuid"])) == {"master-0", "node-0", "node-1", "node-2"}
    requested = [
        e["message"] for e in _events(svc, c["uuid"]) if e["kind"] == "operation.requested"
    ]
    assert (
        "update requested (node_count=2, nodegroup=default-worker, nodegroup_action=update, "
        "nodes_to_remove=['node-1'])"
    ) in requested


def test_resize_a_nodegroup_of_its_own(svc: Service) -> None:
    c = ng.cluster(svc)
    group = ng.add(svc, c["uuid"], name="pool", node_count=1, max_node_count=3)
    res = ng.resize(svc, c["uuid"], node_count=3, nodegroup=group["uuid"])
    assert res.status_code == 202, res.text
    ng.wait(svc, c["uuid"])
    assert ng.show(svc, c["uuid"], "pool")["node_count"] == 3
    assert sorted(n for n, g in ng.nodes(svc, c["uuid"]).items() if g == "pool") == [
        "pool-0",
        "pool-1",
        "pool-2",
    ]
    progress = [e["message"] for e in _events(svc, c["uuid"]) if e["kind"] == "progress"]
    assert "Adding 2 nodes (nodegroup pool)" in progress
    res = ng.resize(svc, c["uuid"], node_count=1, nodegroup="pool", nodes_to_remove=["pool-0"])
    assert res.status_code == 202, res.text
    ng.wait(svc, c["uuid"])
    assert sorted(n for n, g in ng.nodes(svc, c["uuid"]).items() if g == "pool") == ["pool-1"]
    assert ng.show(svc, c["uuid"], "default-worker")["node_count"] == 1  # untouched


def test_zero_nodes_only_from_1_10(svc: Service) -> None:
    c = ng.cluster(svc)
    res = ng.resize(svc, c["uuid"], headers=ng.at("1.9"), node_count=0)
    _api.error(
        res, 400, "Resizing a nodegroup to zero is not supported in the provided microversion."
    )
    assert ng.wait(svc, c["uuid"], "CREATE_COMPLETE")["node_count"] == 1
    res = ng.resize(svc, c["uuid"], headers=ng.at("1.10"), node_count=0)
    assert res.status_code == 202, res.text
    assert ng.wait(svc, c["uuid"])["node_addresses"] == []
    assert set(ng.nodes(svc, c["uuid"])) == {"master-0"}


def test_the_action_exists_from_1_7(svc: Service) -> None:
    c = ng.cluster(svc)
    for version in ("1.1", "1.6"):
        res = ng.resize(svc, c["uuid"], headers=ng.at(version), node_count=2)
        _api.error(
            res,
            406,
            f"Version {version} was requested but the requested API POST "
            "/v1/clusters/{ident}/actions/resize is not supported for this version.",
        )
    assert ng.wait(svc, c["uuid"], "CREATE_COMPLETE")["node_count"] == 1
    assert ng.resize(svc, c["uuid"], headers=ng.at("1.7"), node_count=2).status_code == 202
    assert ng.wait(svc, c["uuid"])["node_count"] == 2


BAD_BODIES: list[tuple[Any, int, str]] = [
    (
        {},
        400,
        "Invalid input for field/attribute node_count. Value: 'None'. Mandatory field missing.",
    ),
    (
        {"node_count": -1},
        400,
        "Invalid input for field/attribute node_count. Value: '-1'. Value should be greater or "
        "equal to 0",
    ),
    (
        {"node_count": "2"},
        400,
        "Invalid input for field/attribute node_count. Value: '2'. Value should be integer",
    ),
    ({"node_count": 2, "foo": 1}, 400, "Unknown attribute for argument cluster_resize_req: foo"),
    (
        {"node_count": 2, "nodes_to_remove": "node-0"},
        400,
        "Invalid input for field/attribute nodes_to_remove. Value: 'node-0'. Value should be a "
        "list",
    ),
    (
        {"node_count": 2, "nodegroup": "default-master"},
        400,
        "Resizing a master nodegroup is not supported.",
    ),
    ({"node_count": 2, "nodegroup": "nope"}, 404, "Nodegroup nope could not be found."),
    (
        {"node_count": 1, "nodes_to_remove": ["node-9"]},
        400,
        "Node node-9 is not a node of nodegroup default-worker.",
    ),
    (
        {"node_count": 1, "nodes_to_remove": ["master-0"]},
        400,
        "Node master-0 is not a node of nodegroup default-worker.",
    ),
    (
        {"node_count": 1, "nodes_to_remove": ["node-0", "node-1"]},
        400,
        "nodes_to_remove names 2 nodes, but resizing default-worker from 2 to 1 nodes removes 1.",
    ),
    (
        {"node_count": 3, "nodes_to_remove": ["node-0"]},
        400,
        "nodes_to_remove names 1 nodes, but resizing default-worker from 2 to 3 nodes removes 0.",
    ),
    (
        {"node_count": 5},
        400,
        "Resizing default-worker outside the allowed range: min_node_count = 1, max_node_count = 4",
    ),
    (
        {"node_count": 0},
        400,
        "Resizing default-worker outside the allowed range: min_node_count = 1, max_node_count = 4",
    ),
]


@pytest.mark.parametrize(("body", "status", "detail"), BAD_BODIES)
def test_bad_resizes_record_nothing(svc: Service, body: Any, status: int, detail: str) -> None:
    c = ng.cluster(svc, nodes=2)
    bounds = [
        {"op": "replace", "path": "/min_node_count", "value": 1},
        {"op": "replace", "path": "/max_node_count", "value": 4},
    ]
    res = svc.patch(f"/v1/clusters/{c['uuid']}/nodegroups/default-worker", bounds, headers=V)
    assert res.status_code == 202, res.text
    before = _events(svc, c["uuid"])
    _api.error(ng.resize(svc, c["uuid"], **body), status, detail)
    after = ng.wait(svc, c["uuid"], "CREATE_COMPLETE")
    assert after["node_count"] == 2
    assert _events(svc, c["uuid"]) == before


def test_a_busy_cluster_is_409(svc: Service, tmp_path: pathlib.Path) -> None:
    gate = tmp_path / "gate"
    _api.make_cluster_template(svc, name="gated", labels={"fake_gate": str(gate)})
    uuid = svc.post("/v1/bays", {"baymodel_id": "gated"}).json["uuid"]
    res = ng.resize(svc, uuid, node_count=2)
    _api.error(res, 409, 'Updating a cluster when status is "CREATE_IN_PROGRESS" is not supported.')
    gate.touch()
    ng.wait(svc, uuid, "CREATE_COMPLETE")
    update_gate = tmp_path / "update-gate"
    busy = ng.cluster(svc, "busy", fake_update_gate=str(update_gate))
    assert ng.resize(svc, busy["uuid"], node_count=2).status_code == 202
    res = ng.resize(svc, busy["uuid"], node_count=3)
    _api.error(res, 409, 'Updating a cluster when status is "UPDATE_IN_PROGRESS" is not supported.')
    update_gate.touch()
    assert ng.wait(svc, busy["uuid"])["node_count"] == 2


def test_quotas_and_capacity_are_400_before_anything_is_recorded(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = service_factory(quotas={"max_nodes_per_project": 3})
    c = ng.cluster(svc)
    before = _events(svc, c["uuid"])
    _api.error(
        ng.resize(svc, c["uuid"], node_count=3),
        400,
        "Resource limit exceeded: This would make 4 nodes in the project; its quota is 3 nodes "
        "(2 in use).",
    )
    monkeypatch.setenv("MAGNUM_FAKE_CAPACITY", "2")
    res = ng.resize(svc, c["uuid"], node_count=2)
    _api.error(res, 400, contains=("The infrastructure holds 2 nodes in all",))
    assert ng.wait(svc, c["uuid"], "CREATE_COMPLETE")["node_count"] == 1
    assert _events(svc, c["uuid"]) == before
    assert ng.resize(svc, c["uuid"], node_count=0, headers=ng.at("1.10")).status_code == 202


def test_a_failed_resize_says_so_on_the_group_and_can_be_retried(svc: Service) -> None:
    c = ng.cluster(svc, fake_max_nodes="3")
    assert ng.resize(svc, c["uuid"], node_count=5).status_code == 202
    ng.wait(svc, c["uuid"], "UPDATE_FAILED")
    worker = ng.show(svc, c["uuid"], "default-worker")
    assert worker["status"] == "UPDATE_FAILED"
    assert worker["status_reason"] == "fake host holds 3 nodes at most"
    assert ng.resize(svc, c["uuid"], node_count=2).status_code == 202
    ng.wait(svc, c["uuid"])
    assert ng.show(svc, c["uuid"], "default-worker")["status"] == "UPDATE_COMPLETE"
    assert set(ng.nodes(svc, c["uuid"])) == {"master-0", "node-0", "node-1"}


def test_other_projects_and_readers_are_refused(svc: Service) -> None:
    c = ng.cluster(svc)
    res = svc.post(
        f"/v1/clusters/{c['uuid']}/actions/resize", {"node_count": 2}, headers=V, project="p2"
    )
    _api.error(res, 404, f"Cluster {c['uuid']} could not be found.")
    res = ng.resize(svc, c["uuid"], headers=V | READER_ROLE, node_count=2)
    _api.error(res, 403, "Policy doesn't allow cluster:resize to be performed.")
    assert ng.wait(svc, c["uuid"], "CREATE_COMPLETE")["node_count"] == 1
    res = ng.resize(svc, c["name"], headers=V | {"X-Roles": "member"}, node_count=2)
    assert res.status_code == 202, res.text
    assert ng.wait(svc, c["uuid"])["node_count"] == 2
