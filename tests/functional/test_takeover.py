# SPDX-License-Identifier: Apache-2.0
"""A conductor adopts operations whose owner vanished, and a stale owner cannot write."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from magnum.common import utils
from magnum.conductor.handlers import task as task_mod
from magnum.db import models
from tests.functional.conftest import BAYMODEL, Service


def test_orphaned_create_is_adopted(service_factory: Callable[..., Service]) -> None:
    svc = service_factory()
    model = svc.post("/v1/baymodels", BAYMODEL).json
    uuid = utils.new_uuid()
    with svc.db.session() as session:  # a bay left behind by a conductor that died mid-create
        session.add(
            models.Cluster(
                uuid=uuid,
                project_id="p1",
                cluster_template_id=model["uuid"],
                node_count=2,
                master_count=1,
                status="CREATE_IN_PROGRESS",
                operation="create",
                lease_owner="dead:1:x",
                lease_expires_at=utils.utcnow() - datetime.timedelta(seconds=1),
                operation_deadline=utils.utcnow() + datetime.timedelta(minutes=5),
                node_addresses=[],
                master_addresses=[],
                driver_state={},
            )
        )
    cluster = svc.wait_cluster(uuid, lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    assert cluster is not None and len(cluster["node_addresses"]) == 2
    with svc.db.session() as session:
        row = session.scalar(sa.select(models.Cluster).where(models.Cluster.uuid == uuid))
        assert row is not None and row.lease_owner is None and row.operation is None


def test_operation_past_its_deadline_fails(service_factory: Callable[..., Service]) -> None:
    svc = service_factory()
    model = svc.post("/v1/baymodels", BAYMODEL).json
    uuid = utils.new_uuid()
    with svc.db.session() as session:
        session.add(
            models.Cluster(
                uuid=uuid,
                project_id="p1",
                cluster_template_id=model["uuid"],
                node_count=1,
                master_count=1,
                status="CREATE_IN_PROGRESS",
                operation="create",
                operation_deadline=utils.utcnow() - datetime.timedelta(seconds=1),
                node_addresses=[],
                master_addresses=[],
                driver_state={},
            )
        )

    def failed(body: dict[str, Any] | None) -> bool:
        return body is not None and body["status"] == "CREATE_FAILED"

    cluster = svc.wait_cluster(uuid, failed)
    assert cluster is not None and "timed out" in cluster["status_reason"]


def test_operation_recorded_as_the_previous_one_settles_runs_at_once(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scale requested in the instant after a create settled, while the conductor still
    counts the bay as its own (so the cast is ignored), is run by that conductor at once
    rather than waiting for the scan for unowned operations (disabled here)."""
    svc = service_factory(conductor={"sync_interval": 3600.0})
    svc.post("/v1/baymodels", BAYMODEL)
    original = task_mod.Task.finish
    patched: list[int] = []

    def finish_then_patch(self: task_mod.Task, status: Any, reason: str, **values: Any) -> None:
        original(self, status, reason, **values)
        if self.op == "create":
            svc.conductor.ops.heartbeat()  # renews in the gap: the lease is gone until re-taken
            res = svc.patch(
                f"/v1/bays/{self.cluster.uuid}",
                [{"op": "replace", "path": "/node_count", "value": 3}],
            )
            patched.append(res.status_code)

    monkeypatch.setattr(task_mod.Task, "finish", finish_then_patch)
    uuid = svc.post("/v1/bays", {"baymodel_id": "m1"}).json["uuid"]

    def scaled(body: dict[str, Any] | None) -> bool:
        return body is not None and body["status"] == "UPDATE_COMPLETE"

    cluster = svc.wait_cluster(uuid, scaled, timeout=10)
    assert patched == [200]
    assert cluster is not None and len(cluster["node_addresses"]) == 3
