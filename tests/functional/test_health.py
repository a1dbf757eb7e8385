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
    service_factory: Callable[..., Service], baymodel: dict[str, Any]
) -> None:
    svc = service_factory(conductor={"health_interval": 0.1})
    uuid = svc.post("/v1/bays", {"name": "h", "baymodel_id": "m1", "node_count": 2}).json["uuid"]
    bay = svc.wait_bay(uuid, _health("HEALTHY"))
    assert bay is not None and bay["status"] == "CREATE_COMPLETE"
    assert bay["health_status_reason"] == "3 nodes"

    node = pathlib.Path(svc.conf.state_path) / "fake" / uuid / "node-1"
    saved = node.read_text()
    node.unlink()  # the node vanished behind the service's back
    bay = svc.wait_bay(uuid, _health("UNHEALTHY"))
    assert bay is not None
    assert bay["health_status_reason"] == "1 of 3 nodes missing"
    assert bay["status_reason"] == "Unhealthy: 1 of 3 nodes missing"
    assert bay["status"] == "CREATE_COMPLETE"

    node.write_text(saved)
    bay = svc.wait_bay(uuid, _health("HEALTHY"))
    assert bay is not None and bay["status_reason"] == "Healthy again: 3 nodes"


def test_no_health_check_while_an_operation_runs(
    service_factory: Callable[..., Service], baymodel: dict[str, Any], tmp_path: pathlib.Path
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
    svc.wait_bay(uuid, lambda b: (tmp_path / "in").exists())
    svc.conductor.health.run()  # a check now would find an operation in flight: skipped
    bay = svc.get(f"/v1/bays/{uuid}").json
    assert bay["status"] == "CREATE_IN_PROGRESS" and bay["health_status"] is None
    (tmp_path / "gate").touch()
    assert svc.wait_bay(uuid, _health("HEALTHY")) is not None
