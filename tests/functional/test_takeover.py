# SPDX-License-Identifier: Apache-2.0
"""A conductor adopts operations whose owner vanished, and a stale owner cannot write."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from magnum.common import utils
from magnum.db import models
from tests.functional.conftest import BAYMODEL, Service


def test_orphaned_create_is_adopted(service_factory: Callable[..., Service]) -> None:
    svc = service_factory()
    model = svc.post("/v1/baymodels", BAYMODEL).json
    uuid = utils.new_uuid()
    with svc.db.session() as session:  # a bay left behind by a conductor that died mid-create
        session.add(
            models.Bay(
                uuid=uuid,
                project_id="p1",
                baymodel_id=model["uuid"],
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
    bay = svc.wait_bay(uuid, lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    assert bay is not None and len(bay["node_addresses"]) == 2
    with svc.db.session() as session:
        row = session.scalar(sa.select(models.Bay).where(models.Bay.uuid == uuid))
        assert row is not None and row.lease_owner is None and row.operation is None


def test_operation_past_its_deadline_fails(service_factory: Callable[..., Service]) -> None:
    svc = service_factory()
    model = svc.post("/v1/baymodels", BAYMODEL).json
    uuid = utils.new_uuid()
    with svc.db.session() as session:
        session.add(
            models.Bay(
                uuid=uuid,
                project_id="p1",
                baymodel_id=model["uuid"],
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

    bay = svc.wait_bay(uuid, failed)
    assert bay is not None and "timed out" in bay["status_reason"]
