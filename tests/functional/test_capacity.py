# SPDX-License-Identifier: Apache-2.0
"""Every path that changes a node count runs the checks of a create before anything is
recorded: the drivers' validate, the project's quotas and the host-wide budget."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from magnum.common import utils
from magnum.db import models
from tests.functional.conftest import BAYMODEL, Service


def _model(svc: Service, project: str = "p1") -> str:
    res = svc.post("/v1/baymodels", BAYMODEL, project=project)
    assert res.status_code == 201, res.text
    uuid: str = res.json["uuid"]
    return uuid


def _bay(svc: Service, model: str, nodes: int, project: str = "p1") -> Any:
    return svc.post("/v1/bays", {"baymodel_id": model, "node_count": nodes}, project=project)


def _settled(svc: Service, uuid: str) -> dict[str, Any]:
    body = svc.wait_cluster(uuid, lambda b: b is not None and "PROGRESS" not in b["status"])
    assert body is not None
    return body


def _recorded(svc: Service, uuid: str) -> tuple[int, int, int]:
    """(operation records, events but health checks, node_count) of a cluster."""
    with svc.db.session() as session:
        ops = session.scalar(
            sa.select(sa.func.count())
            .select_from(models.Operation)
            .where(models.Operation.cluster_uuid == uuid)
        )
        events = session.scalar(
            sa.select(sa.func.count())
            .select_from(models.ClusterEvent)
            .where(
                models.ClusterEvent.cluster_uuid == uuid,
                # a periodic health check may land at any time: not a request's doing
                models.ClusterEvent.kind != "health",
            )
        )
        count = session.scalar(
            sa.select(models.Cluster.node_count).where(models.Cluster.uuid == uuid)
        )
    assert ops is not None and events is not None and count is not None
    return ops, events, count


def _scale(svc: Service, uuid: str, count: int) -> Any:
    return svc.patch(f"/v1/bays/{uuid}", [{"op": "replace", "path": "/node_count", "value": count}])


def test_a_scale_beyond_what_the_drivers_hold_is_refused_before_anything_is_recorded(
    svc: Service,
) -> None:
    model = _model(svc)
    uuid = _bay(svc, model, 1).json["uuid"]
    assert _settled(svc, uuid)["status"] == "CREATE_COMPLETE"
    before = _recorded(svc, uuid)
    for count, detail in (
        (2147483647, "The fake host holds 1000 nodes at most."),
        (1000, "The fake host holds 1000 nodes at most."),
        (
            150,
            "Resource limit exceeded: This would make 151 nodes in the project; its quota "
            "is 100 nodes (2 in use).",
        ),
    ):
        res = _scale(svc, uuid, count)
        assert res.status_code == 400, res.text
        assert res.json["errors"][0]["detail"] == detail
        assert _recorded(svc, uuid) == before  # no operation, no event, the count unchanged
        body = svc.get(f"/v1/bays/{uuid}").json
        assert (body["status"], body["node_count"]) == ("CREATE_COMPLETE", 1)
    # a scale within bounds still works, and a shrink is never held to the quota
    assert _scale(svc, uuid, 3).status_code == 200
    assert _settled(svc, uuid)["node_count"] == 3


def test_a_scale_of_a_busy_cluster_is_409_before_any_count_check(
    svc: Service, tmp_path: Any
) -> None:
    res = svc.post("/v1/baymodels", BAYMODEL | {"labels": {"fake_gate": str(tmp_path / "g")}})
    uuid = _bay(svc, res.json["uuid"], 1).json["uuid"]
    res = _scale(svc, uuid, 2147483647)
    assert res.status_code == 409, res.text
    (tmp_path / "g").touch()
    _settled(svc, uuid)


@pytest.fixture
def limited(service_factory: Callable[..., Service]) -> Service:
    return service_factory(quotas={"max_clusters_per_project": 2, "max_nodes_per_project": 6})


def test_project_quotas_on_create(limited: Service) -> None:
    svc = limited
    model = _model(svc)
    assert _bay(svc, model, 2).status_code == 201  # 3 nodes
    res = _bay(svc, model, 3)  # 4 more: 7 > 6
    assert res.status_code == 403, res.text
    assert res.json["errors"][0]["detail"] == (
        "Resource limit exceeded: This would make 7 nodes in the project; its quota is 6 "
        "nodes (3 in use)."
    )
    assert _bay(svc, model, 1).status_code == 201
    res = _bay(svc, model, 1)  # a third cluster
    assert res.status_code == 403, res.text
    assert res.json["errors"][0]["detail"] == (
        "Resource limit exceeded: You have reached the maximum clusters per project, 2. "
        "Delete clusters before creating new ones."
    )
    assert len(svc.get("/v1/bays").json["bays"]) == 2  # nothing half-written
    # another project has quotas of its own
    other = _model(svc, "p2")
    assert _bay(svc, other, 1, project="p2").status_code == 201


def test_a_quota_record_overrides_the_default(limited: Service) -> None:
    svc = limited
    with svc.db.session() as session:
        session.add(models.Quota(project_id="p1", resource="Cluster", hard_limit=1))
    model = _model(svc)
    assert _bay(svc, model, 1).status_code == 201
    res = _bay(svc, model, 1)
    assert res.status_code == 403
    assert "maximum clusters per project, 1." in res.json["errors"][0]["detail"]


def test_concurrent_creates_never_pass_the_quota(limited: Service) -> None:
    svc = limited
    model = _model(svc)
    statuses: list[int] = []
    start = threading.Barrier(4)

    def create() -> None:
        start.wait()
        statuses.append(_bay(svc, model, 1).status_code)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 201, 403, 403]
    assert len(svc.get("/v1/bays").json["bays"]) == 2


def test_the_host_wide_budget(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGNUM_FAKE_CAPACITY", "5")  # the fake infrastructure holds 5 nodes
    model = _model(svc)
    assert _bay(svc, model, 3).status_code == 201  # 4 nodes
    res = _bay(svc, _model(svc, "p2"), 1, project="p2")  # 2 more, another project: 6 > 5
    assert res.status_code == 400, res.text
    assert res.json["errors"][0]["detail"] == (
        "The infrastructure holds 5 nodes in all, 4 are in use or being built; 2 more do not fit."
    )
    uuid = svc.get("/v1/bays").json["bays"][0]["uuid"]
    _settled(svc, uuid)
    res = _scale(svc, uuid, 5)
    assert res.status_code == 400 and "1 more" not in res.text
    assert _scale(svc, uuid, 4).status_code == 200  # exactly the budget


def test_the_conductor_checks_counts_it_did_not_get_from_the_api(svc: Service) -> None:
    """A count recorded by anything else (an older release, a hand edit) fails the update
    with the drivers' reason instead of building that many nodes."""
    model = _model(svc)
    uuid = _bay(svc, model, 1).json["uuid"]
    _settled(svc, uuid)
    with svc.db.session() as session:
        session.execute(
            sa.update(models.Cluster)
            .where(models.Cluster.uuid == uuid)
            .values(
                node_count=2147483647,
                status="UPDATE_IN_PROGRESS",
                operation="update",
                operation_deadline=utils.utcnow().replace(year=2100),
            )
        )
    body = _settled(svc, uuid)
    assert body["status"] == "UPDATE_FAILED", body
    assert body["status_reason"] == "The fake host holds 1000 nodes at most."
