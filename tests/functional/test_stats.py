# SPDX-License-Identifier: Apache-2.0
"""/v1/stats (1.4) on the three databases: a project's clusters and nodes (masters and
workers), every project's for an admin; who may ask for which project; bad inputs with
status and text; the microversion gate; answers as /v1/openapi.json says."""

from __future__ import annotations

import json
from typing import Any

import falcon.testing
import pytest

from tests.functional import _api
from tests.functional.conftest import Service
from tests.openapi_check import Described

LATEST = {"OpenStack-API-Version": "container-infra latest"}
ADMIN = LATEST | {"X-Roles": "admin"}
READER = LATEST | {"X-Roles": "reader"}
MEMBER = LATEST | {"X-Roles": "member"}


class Stats:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.described = Described(json.loads(svc.get("/v1/openapi.json").text))

    def __call__(
        self, query: str = "", *, headers: dict[str, str] = ADMIN, project: str = "p1"
    ) -> falcon.testing.Result:
        path = f"/v1/stats?{query}" if query else "/v1/stats"
        res = self.svc.get(path, headers=headers, project=project)
        self.described.check("GET", path, res.status_code, res.text)
        return res

    def counts(self, query: str = "", **kw: Any) -> tuple[int, int]:
        res = self(query, **kw)
        assert res.status_code == 200, res.text
        assert set(res.json) == {"clusters", "nodes"}
        return res.json["clusters"], res.json["nodes"]


@pytest.fixture
def stats(svc: Service) -> Stats:
    return Stats(svc)


def _settled_bay(svc: Service, project: str, name: str, **counts: int) -> dict[str, Any]:
    model = _api.make_cluster_template(svc, project=project, name=f"m-{name}")
    res = svc.post(
        "/v1/bays", {"name": name, "baymodel_id": model["uuid"]} | counts, project=project
    )
    assert res.status_code == 201, res.text
    body = svc.wait_cluster(
        name, lambda b: b is not None and b["status"] == "CREATE_COMPLETE", project=project
    )
    assert body is not None
    return body


def test_nothing_yet(stats: Stats) -> None:
    assert stats.counts() == (0, 0)
    assert stats.counts("type=cluster") == (0, 0)
    assert stats.counts("project_id=p7") == (0, 0)


def test_counts_by_project_and_in_all(svc: Service, stats: Stats) -> None:
    _settled_bay(svc, "p1", "a")  # 1 master + 1 node
    _settled_bay(svc, "p1", "b", master_count=1, node_count=2)
    _settled_bay(svc, "p2", "c", master_count=3, node_count=1)
    # an admin: its own project, any project, and without project_id every project's
    assert stats.counts("project_id=p1") == (2, 5)
    assert stats.counts("project_id=p2&type=cluster") == (1, 4)
    assert stats.counts() == (3, 9)
    # a project's readers and members: their own project, with or without naming it
    for who in (READER, MEMBER):
        assert stats.counts(headers=who) == (2, 5)
        assert stats.counts("project_id=p1", headers=who) == (2, 5)
        assert stats.counts(headers=who, project="p2") == (1, 4)
        assert stats.counts(headers=who, project="p3") == (0, 0)
        _api.error(stats("project_id=p2", headers=who), 403, "Not authorized.")
    # a scale changes the count; a deleted cluster no longer counts
    res = svc.patch("/v1/bays/a", [{"op": "replace", "path": "/node_count", "value": 3}])
    assert res.status_code == 200, res.text
    assert stats.counts("project_id=p1") == (2, 7)
    assert svc.delete("/v1/bays/b").status_code == 204
    svc.wait_cluster("b", lambda b: b is None)
    assert stats.counts("project_id=p1") == (1, 4)
    assert stats.counts() == (2, 8)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("type=pod", "Invalid stats type. Allowed values are 'cluster'"),
        ("type=Cluster", "Invalid stats type. Allowed values are 'cluster'"),
        ("type=cluster&type=cluster", "Repeated query parameters are not allowed"),
        ("project_id=p1&project_id=p2", "Repeated query parameters are not allowed"),
        ("project=p1", 'Unknown argument: "project"'),
        (
            "project_id=a%01b",
            "Invalid input for field/attribute project_id. Value: 'a\x01b'. "
            "Value should not contain control characters",
        ),
    ],
)
def test_bad_queries(stats: Stats, query: str, detail: str) -> None:
    _api.error(stats(query), 400, detail)


def test_no_role_no_stats(stats: Stats) -> None:
    _api.error(
        stats(headers=LATEST | {"X-Roles": ""}),
        403,
        "Policy doesn't allow stats:get_all to be performed.",
    )


@pytest.mark.parametrize("version", ["1.1", "1.3"])
def test_before_1_4_stats_are_not_acceptable(svc: Service, version: str) -> None:
    old = {"OpenStack-API-Version": f"container-infra {version}"}
    _api.error(
        svc.get("/v1/stats", headers=old),
        406,
        f"Version {version} was requested but the requested API GET /v1/stats is not "
        "supported for this version.",
    )
    assert "stats" not in svc.get("/v1", headers=old).json


def test_from_1_4_stats_are_served_and_listed(stats: Stats) -> None:
    at = ADMIN | {"OpenStack-API-Version": "container-infra 1.4"}
    assert stats.counts(headers=at) == (0, 0)
    assert "stats" in stats.svc.get("/v1", headers=at).json
