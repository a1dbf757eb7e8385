# SPDX-License-Identifier: Apache-2.0
"""Periodic health checks report a lost node in health_status and status_reason."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

from tests.functional.conftest import Service


def _health(expected: str) -> Callable[[dict[str, Any] | None], bool]:
    return lambda body: body is not None and body["health_status"] == expected


def test_lost_node_makes_the_bay_unhealthy_and_recovery_is_seen(
    service_factory: Callable[..., Service], cluster_template: dict[str, Any]
) -> None:
    svc = service_factory(conductor={"health_interval": 0.1})
    uuid = svc.post("/v1/bays", {"name": "h", "baymodel_id": "m1", "node_count": 2}).json["uuid"]
    cluster = svc.wait_cluster(uuid, _health("HEALTHY"))
    assert cluster is not None and cluster["status"] == "CREATE_COMPLETE"
    assert cluster["health_status_reason"] == "3 nodes"

    node = pathlib.Path(svc.conf.state_path) / "fake" / uuid / "node-1"
    saved = node.read_text()
    node.unlink()  # the node vanished behind the service's back
    cluster = svc.wait_cluster(uuid, _health("UNHEALTHY"))
    assert cluster is not None
    assert cluster["health_status_reason"] == "1 of 3 nodes missing"
    assert cluster["status_reason"] == "Unhealthy: 1 of 3 nodes missing"
    assert cluster["status"] == "CREATE_COMPLETE"

    node.write_text(saved)
    cluster = svc.wait_cluster(uuid, _health("HEALTHY"))
    assert cluster is not None and cluster["status_reason"] == "Healthy again: 3 nodes"


def test_no_health_check_while_an_operation_runs(
    service_factory: Callable[..., Service],
    cluster_template: dict[str, Any],
    tmp_path: pathlib.Path,
) -> None:
    svc = service_factory(conductor={"health_interval": 0.1})
    gated = {
        "name": "g",
        "image_id": "fedora-atomic",
        "keypair_id": "k",
        "coe": "swarm",
        "labels": {"fake_gate": str(tmp_path / "gate"), "fake_entered": str(tmp_path / "in")},
    }
    assert svc.post("/v1/baymodels", gated).status_code == 201
    uuid = svc.post("/v1/bays", {"baymodel_id": "g"}).json["uuid"]
    svc.wait_cluster(uuid, lambda b: (tmp_path / "in").exists())
    svc.conductor.health.run()  # a check now would find an operation in flight: skipped
    cluster = svc.get(f"/v1/bays/{uuid}").json
    assert cluster["status"] == "CREATE_IN_PROGRESS" and cluster["health_status"] is None
    (tmp_path / "gate").touch()
    assert svc.wait_cluster(uuid, _health("HEALTHY")) is not None
