# SPDX-License-Identifier: Apache-2.0
"""The API casts to the conductor over the real RabbitMQ broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import RABBIT
from tests.functional.conftest import BAYMODEL, Service

pytestmark = pytest.mark.rabbit


def test_bay_lifecycle_over_rabbitmq(service_factory: Callable[..., Service]) -> None:
    svc = service_factory(
        DEFAULT={"transport_url": RABBIT},
        conductor={"topic": f"magnum-test-{uuid.uuid4().hex[:8]}", "sync_interval": 3600.0},
    )
    assert svc.conductor.ops is not None
    assert svc.post("/v1/baymodels", BAYMODEL).status_code == 201
    res = svc.post("/v1/bays", {"name": "r1", "baymodel_id": "m1"})
    assert res.status_code == 201

    def done(body: dict[str, Any] | None) -> bool:
        return body is not None and body["status"] == "CREATE_COMPLETE"

    # sync_interval is an hour: only the RPC cast can have started this operation.
    assert svc.wait_cluster("r1", done) is not None
    assert svc.delete("/v1/bays/r1").status_code == 204
    assert svc.wait_cluster(res.json["uuid"], lambda b: b is None) is None
