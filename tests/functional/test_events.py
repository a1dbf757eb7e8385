# SPDX-License-Identifier: Apache-2.0
"""A cluster's timeline: every request, start, progress step and settle is an event with
who asked and which conductor ran it; /v1/bays and /v1/clusters serve it, newest first."""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Callable
from typing import Any

from magnum.common import utils
from magnum.db import models
from tests.functional.conftest import BAYMODEL, Service

UNKNOWN = "6f0e8a53-7b39-4a3e-8d4a-3f5c2f0b9d11"


def _events(svc: Service, path: str, **kw: Any) -> list[dict[str, Any]]:
    res = svc.get(path, **kw)
    assert res.status_code == 200, res.text
    events: list[dict[str, Any]] = res.json["events"]
    return events


def _settled(svc: Service, uuid: str, status: str) -> dict[str, Any]:
    body = svc.wait_cluster(uuid, lambda b: b is not None and b["status"] == status)
    assert body is not None
    return body


def _bay(svc: Service, labels: dict[str, str] | None = None) -> tuple[str, str]:
    model = svc.post("/v1/baymodels", BAYMODEL | {"labels": labels or {}})
    assert model.status_code == 201, model.text
    res = svc.post("/v1/bays", {"baymodel_id": model.json["uuid"], "node_count": 1})
    assert res.status_code == 201, res.text
    return res.json["uuid"], res.headers["X-OpenStack-Request-Id"]


def test_create_scale_delete_are_told_with_the_callers_request_id(
    service_factory: Callable[..., Service],
) -> None:
    svc = service_factory(conductor={"health_interval": 0})  # no health event meanwhile
    uuid, create_req = _bay(svc)
    _settled(svc, uuid, "CREATE_COMPLETE")
    patch = [{"op": "replace", "path": "/node_count", "value": 2}]
    res = svc.patch(f"/v1/bays/{uuid}", patch)
    assert res.status_code == 200, res.text
    scale_req = res.headers["X-OpenStack-Request-Id"]
    _settled(svc, uuid, "UPDATE_COMPLETE")

    events = _events(svc, f"/v1/bays/{uuid}/events")
    assert events == sorted(events, key=lambda e: e["created_at"], reverse=True)
    oldest_first = list(reversed(events))
    kinds = [(e["kind"], e["request_id"]) for e in oldest_first]
    assert kinds[0] == ("operation.requested", create_req)
    assert ("operation.started", create_req) in kinds
    assert ("operation.requested", scale_req) in kinds
    settles = [e for e in oldest_first if e["kind"] == "transition"]
    assert [(e["status"], e["request_id"]) for e in settles] == [
        ("CREATE_COMPLETE", create_req),
        ("UPDATE_COMPLETE", scale_req),
    ]
    requested = [e for e in oldest_first if e["kind"] == "operation.requested"]
    assert requested[1]["message"] == "update requested (node_count=2)"
    # every event of an operation names it, its caller and (once running) the conductor
    for event in oldest_first:
        assert event["operation_uuid"] is not None and event["project_id"] == "p1"
        assert event["user_id"] == "p1-user"
        if event["kind"] != "operation.requested":
            assert event["conductor"].startswith("test:")  # host:pid:nonce
    assert any(e["kind"] == "progress" for e in oldest_first)

    # the same timeline through the clusters vocabulary
    assert _events(svc, f"/v1/clusters/{uuid}/events") == events

    res = svc.delete(f"/v1/bays/{uuid}")
    assert res.status_code == 204
    delete_req = res.headers["X-OpenStack-Request-Id"]
    svc.wait_cluster(uuid, lambda b: b is None)
    after = _events(svc, f"/v1/bays/{uuid}/events")  # kept after the delete, by uuid
    assert (after[0]["kind"], after[0]["status"], after[0]["request_id"]) == (
        "transition",
        "DELETE_COMPLETE",
        delete_req,
    )
    assert after[len(after) - len(events) :] == events
    # not to another project, and never by name once gone
    assert svc.get(f"/v1/bays/{uuid}/events", project="p2").status_code == 404


def test_a_failed_create_shows_its_error_code(svc: Service) -> None:
    uuid, _ = _bay(svc, {"fake_fail": "create_nodes"})
    body = _settled(svc, uuid, "CREATE_FAILED")
    newest = _events(svc, f"/v1/bays/{uuid}/events")[0]
    assert newest["kind"] == "transition" and newest["status"] == "CREATE_FAILED"
    assert newest["error_code"] == "NodeStartFailed"
    assert newest["message"] == body["status_reason"] == "fake create_nodes failed as asked"


def test_pages_and_since(service_factory: Callable[..., Service]) -> None:
    svc = service_factory(conductor={"health_interval": 0})  # no health event meanwhile
    uuid, _ = _bay(svc)
    _settled(svc, uuid, "CREATE_COMPLETE")
    everything = _events(svc, f"/v1/bays/{uuid}/events")
    assert len(everything) >= 4
    res = svc.get(f"/v1/bays/{uuid}/events", params={"limit": "2"})
    assert res.status_code == 200 and len(res.json["events"]) == 2
    seen = list(res.json["events"])
    while "next" in res.json:
        url = urllib.parse.urlsplit(res.json["next"])
        assert url.path == f"/v1/bays/{uuid}/events"
        res = svc.get(url.path, query_string=url.query)
        assert res.status_code == 200, res.text
        seen += res.json["events"]
    assert seen == everything
    oldest = everything[-1]["created_at"]
    newest = everything[0]["created_at"]
    assert _events(svc, f"/v1/bays/{uuid}/events", params={"since": oldest}) == everything
    later = _events(svc, f"/v1/bays/{uuid}/events", params={"since": newest})
    assert later and all(e["created_at"] >= newest for e in later)


def test_bad_requests(svc: Service) -> None:
    uuid, _ = _bay(svc)
    cases = [
        (f"/v1/bays/{UNKNOWN}/events", {}, 404, f"Bay {UNKNOWN} could not be found."),
        (f"/v1/clusters/{UNKNOWN}/events", {}, 404, f"Cluster {UNKNOWN} could not be found."),
        ("/v1/bays/nope/events", {}, 404, "Bay nope could not be found."),
        (f"/v1/bays/{uuid}/events", {"since": "yesterday"}, 400, "Invalid since: 'yesterday'"),
        (f"/v1/bays/{uuid}/events", {"marker": "x"}, 400, "Expected a uuid but received x."),
        (f"/v1/bays/{uuid}/events", {"limit": "0"}, 400, "Limit must be positive"),
        (f"/v1/bays/{uuid}/events", {"sort_key": "id"}, 400, 'Unknown argument: "sort_key"'),
    ]
    for path, params, status, detail in cases:
        res = svc.get(path, params=params)
        assert res.status_code == status, (path, params, res.text)
        assert detail in res.json["errors"][0]["detail"], (path, params, res.text)
    assert svc.get(f"/v1/bays/{uuid}/events", project="p2").status_code == 404


def test_retry_later_is_retried_until_it_works(svc: Service) -> None:
    uuid, _ = _bay(svc, {"fake_retry": "3"})
    _settled(svc, uuid, "CREATE_COMPLETE")
    timeline = list(reversed(_events(svc, f"/v1/bays/{uuid}/events")))
    retries = [e for e in timeline if e["message"] == "Retrying: fake apiserver not up yet"]
    assert len(retries) == 3 and all(e["kind"] == "progress" for e in retries)
    settles = [(e["status"], e["error_code"]) for e in timeline if e["kind"] == "transition"]
    assert settles == [("CREATE_COMPLETE", None)]  # one create, which succeeded
    assert max(i for i, e in enumerate(timeline) if e in retries) < next(
        i for i, e in enumerate(timeline) if e["kind"] == "transition"
    )


def test_retry_later_past_the_deadline_fails_the_operation(svc: Service) -> None:
    model = svc.post("/v1/baymodels", BAYMODEL | {"labels": {"fake_retry": "1000000000"}})
    assert model.status_code == 201, model.text
    uuid = utils.new_uuid()
    with svc.db.session() as session:  # an operation with little time left, for the scan
        session.add(
            models.Cluster(
                uuid=uuid,
                project_id="p1",
                cluster_template_id=model.json["uuid"],
                node_count=1,
                master_count=1,
                status="CREATE_IN_PROGRESS",
                operation="create",
                operation_deadline=utils.utcnow() + datetime.timedelta(seconds=1.5),
                node_addresses=[],
                master_addresses=[],
                driver_state={},
            )
        )
    body = _settled(svc, uuid, "CREATE_FAILED")
    assert "timed out" in body["status_reason"].lower(), body
    timeline = list(reversed(_events(svc, f"/v1/bays/{uuid}/events", params={"limit": "1000"})))
    assert any(e["message"] == "Retrying: fake apiserver not up yet" for e in timeline)
    settled = [e for e in timeline if e["kind"] == "transition"]
    assert [(e["status"], e["error_code"]) for e in settled] == [
        ("CREATE_FAILED", "DeadlineExceeded")
    ]
