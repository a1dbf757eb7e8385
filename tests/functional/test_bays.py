# SPDX-License-Identifier: Apache-2.0
"""Bay lifecycle through the API with the conductor and test-double drivers."""

from __future__ import annotations

import pathlib
from typing import Any

from tests.functional.conftest import BAYMODEL, Service


def _settled(body: dict[str, Any] | None) -> bool:
    return body is not None and not body["status"].endswith("IN_PROGRESS")


def test_create_scale_delete(svc: Service, cluster_template: dict[str, Any]) -> None:
    res = svc.post("/v1/bays", {"name": "b1", "baymodel_id": "m1", "node_count": 2})
    assert res.status_code == 201, res.text
    assert res.headers["location"].endswith(f"/v1/bays/{res.json['uuid']}")
    assert res.json["status"] == "CREATE_IN_PROGRESS"
    assert res.json["baymodel_id"] == cluster_template["uuid"]

    cluster = svc.wait_cluster("b1", _settled)
    assert cluster is not None
    assert cluster["status"] == "CREATE_COMPLETE", cluster
    assert cluster["status_reason"] == "Bay CREATE completed: 1 master, 2 nodes"
    assert cluster["master_addresses"] == ["10.0.0.2"]
    assert len(cluster["node_addresses"]) == 2
    assert cluster["api_address"] == "tcp://10.0.0.2:2376"

    res = svc.patch("/v1/bays/b1", [{"op": "replace", "path": "/node_count", "value": 4}])
    assert res.status_code == 200, res.text
    assert res.json["node_count"] == 4
    assert res.json["status"] == "UPDATE_IN_PROGRESS"
    cluster = svc.wait_cluster("b1", _settled)
    assert cluster is not None and cluster["status"] == "UPDATE_COMPLETE", cluster
    assert len(cluster["node_addresses"]) == 4

    res = svc.patch("/v1/bays/b1", [{"op": "replace", "path": "/node_count", "value": 1}])
    assert res.status_code == 200
    cluster = svc.wait_cluster("b1", _settled)
    assert cluster is not None and len(cluster["node_addresses"]) == 1

    assert svc.delete("/v1/bays/b1").status_code == 204
    assert svc.wait_cluster(cluster["uuid"], lambda b: b is None) is None
    state = pathlib.Path(svc.conf.state_path) / "fake" / cluster["uuid"]
    assert not state.exists()


def test_failed_create_removes_what_was_built(svc: Service) -> None:
    model = BAYMODEL | {"name": "failing", "labels": {"fake_fail": "bootstrap"}}
    assert svc.post("/v1/baymodels", model).status_code == 201
    res = svc.post("/v1/bays", {"baymodel_id": "failing"})
    assert res.status_code == 201
    cluster = svc.wait_cluster(res.json["uuid"], _settled)
    assert cluster is not None
    assert cluster["status"] == "CREATE_FAILED"
    assert cluster["status_reason"] == "fake bootstrap failed as asked"
    assert not (pathlib.Path(svc.conf.state_path) / "fake" / cluster["uuid"]).exists()
    # a failed bay can still be deleted
    assert svc.delete(f"/v1/bays/{cluster['uuid']}").status_code == 204
    assert svc.wait_cluster(cluster["uuid"], lambda b: b is None) is None


def test_driver_validation_refuses_before_anything_is_built(svc: Service) -> None:
    res = svc.post("/v1/baymodels", BAYMODEL | {"name": "big", "flavor_id": "too-big"})
    assert res.status_code == 400
    assert res.json["errors"][0]["detail"] == "Flavor too-big does not fit this host."
    assert svc.get("/v1/baymodels").json["baymodels"] == []


def test_bay_of_a_coe_without_enabled_driver_is_refused(svc: Service) -> None:
    model = BAYMODEL | {"name": "k8s", "coe": "kubernetes", "network_driver": "flannel"}
    assert svc.post("/v1/baymodels", model).status_code == 201
    res = svc.post("/v1/bays", {"name": "k", "baymodel_id": "k8s"})
    assert res.status_code == 400
    assert res.json["errors"][0]["detail"] == "Bay type (vm, None, kubernetes) not enabled."
    assert svc.get("/v1/bays").json["bays"] == []


def test_delete_during_create_takes_over(svc: Service, tmp_path: pathlib.Path) -> None:
    gate, entered = tmp_path / "gate", tmp_path / "entered"
    model = BAYMODEL | {
        "name": "gated",
        "labels": {"fake_gate": str(gate), "fake_entered": str(entered)},
    }
    assert svc.post("/v1/baymodels", model).status_code == 201
    uuid = svc.post("/v1/bays", {"baymodel_id": "gated"}).json["uuid"]
    svc.wait_cluster(
        uuid, lambda b: b is not None and b["status_reason"] == "waiting at the fake gate"
    )
    assert svc.delete(f"/v1/bays/{uuid}").status_code == 204
    assert svc.wait_cluster(uuid, lambda b: b is None) is None
    assert not (pathlib.Path(svc.conf.state_path) / "fake" / uuid).exists()


def test_update_refused_while_in_progress(svc: Service, tmp_path: pathlib.Path) -> None:
    gate = tmp_path / "gate"
    model = BAYMODEL | {"name": "gated", "labels": {"fake_gate": str(gate)}}
    assert svc.post("/v1/baymodels", model).status_code == 201
    uuid = svc.post("/v1/bays", {"baymodel_id": "gated"}).json["uuid"]
    res = svc.patch(f"/v1/bays/{uuid}", [{"op": "replace", "path": "/node_count", "value": 3}])
    assert res.status_code == 409
    assert "CREATE_IN_PROGRESS" in res.json["errors"][0]["detail"]
    gate.touch()
    cluster = svc.wait_cluster(uuid, _settled)
    assert cluster is not None and cluster["status"] == "CREATE_COMPLETE"
    assert cluster["node_count"] == 1


def test_failed_scale_can_be_retried(svc: Service) -> None:
    model = BAYMODEL | {"name": "small-host", "labels": {"fake_max_nodes": "3"}}
    assert svc.post("/v1/baymodels", model).status_code == 201
    uuid = svc.post("/v1/bays", {"baymodel_id": "small-host"}).json["uuid"]
    assert svc.wait_cluster(uuid, _settled)["status"] == "CREATE_COMPLETE"  # type: ignore[index]
    svc.patch(f"/v1/bays/{uuid}", [{"op": "replace", "path": "/node_count", "value": 5}])
    cluster = svc.wait_cluster(uuid, _settled)
    assert cluster is not None and cluster["status"] == "UPDATE_FAILED"
    assert cluster["status_reason"] == "fake host holds 3 nodes at most"
    res = svc.patch(f"/v1/bays/{uuid}", [{"op": "replace", "path": "/node_count", "value": 2}])
    assert res.status_code == 200, res.text
    cluster = svc.wait_cluster(uuid, _settled)
    assert cluster is not None and cluster["status"] == "UPDATE_COMPLETE"
    assert len(cluster["node_addresses"]) == 2
