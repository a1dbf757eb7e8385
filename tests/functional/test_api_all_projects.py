# SPDX-License-Identifier: Apache-2.0
"""`?all_projects=true` through the API (noauth: X-Roles the roles, X-Project-Id the
project), on the three databases: an admin lists and shows every project's clusters,
templates and nodegroups, in both vocabularies; a member or reader asking for it gets 403
whether or not the item exists; without it everyone sees their own project only; writes
never reach another project; an operator's policy file can grant it to another role."""

from __future__ import annotations

import json
import pathlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional import _api
from tests.functional import _nodegroups as ng
from tests.functional.conftest import Service

V = ng.at("1.10")  # nodegroups exist (1.9), and bays still do (until 1.11)
ADMIN = {"X-Roles": "admin"}
MEMBER = {"X-Roles": "member"}
READER = {"X-Roles": "reader"}
ALL = {"all_projects": "true"}
# collection -> (the rule a list with all_projects needs, the detail list's)
LISTS = {
    "clusters": ("cluster:get_all_all_projects", "cluster:detail_all_projects"),
    "bays": ("bay:get_all_all_projects", "bay:detail_all_projects"),
    "clustertemplates": (
        "clustertemplate:get_all_all_projects",
        "clustertemplate:detail_all_projects",
    ),
    "baymodels": ("baymodel:get_all_all_projects", "baymodel:detail_all_projects"),
}
TEMPLATES = ("clustertemplates", "baymodels")


@pytest.fixture
def world(svc: Service) -> dict[str, dict[str, Any]]:
    """A settled cluster (with its private template) in each of p1 and p2."""
    return {p: ng.cluster(svc, f"c-{p}", project=p) for p in ("p1", "p2")}


def _names(svc: Service, path: str, key: str, **kw: Any) -> list[str]:
    res = svc.get(path, headers=V | kw.pop("headers", {}), **kw)
    assert res.status_code == 200, res.text
    return sorted(item["name"] for item in res.json[key])


def test_admin_lists_every_project_only_when_asked(
    svc: Service, world: dict[str, Any], subtests: pytest.Subtests
) -> None:
    for key in LISTS:
        expected = ["m-c-p1", "m-c-p2"] if key in TEMPLATES else ["c-p1", "c-p2"]
        own = [expected[0]]
        for suffix in ("", "/detail"):
            path = f"/v1/{key}{suffix}"
            with subtests.test(path=path):
                assert _names(svc, path, key, headers=ADMIN, params=ALL) == expected
                assert _names(svc, path, key, headers=ADMIN) == own
                # yes/1/on read as true, as every boolean parameter does
                assert _names(svc, path, key, params={"all_projects": "1"}) == expected
                assert _names(svc, path, key, params={"all_projects": "false"}) == own
                assert _names(svc, path, key, project="p2", params=ALL) == expected


@pytest.mark.parametrize("who", [MEMBER, READER, {"X-Roles": "reader,member"}])
def test_a_non_admin_asking_for_every_project_gets_403(
    svc: Service, world: dict[str, Any], who: dict[str, str], subtests: pytest.Subtests
) -> None:
    for key, (brief, detail) in LISTS.items():
        for suffix, rule in (("", brief), ("/detail", detail)):
            with subtests.test(path=f"/v1/{key}{suffix}"):
                res = svc.get(f"/v1/{key}{suffix}", headers=V | who, params=ALL)
                _api.error(res, 403, f"Policy doesn't allow {rule} to be performed.")
                assert len(_names(svc, f"/v1/{key}{suffix}", key, headers=who)) == 1
    theirs = world["p2"]["uuid"]
    for ident in (theirs, str(uuid.uuid4()), "c-p2", "no-such"):
        for key, rule in (("clusters", "cluster"), ("bays", "bay")):
            res = svc.get(f"/v1/{key}/{ident}", headers=V | who, params=ALL)
            # the same answer whether it exists or not: nothing leaks
            _api.error(
                res, 403, f"Policy doesn't allow {rule}:get_one_all_projects to be performed."
            )
        res = svc.get(f"/v1/clusters/{ident}/nodegroups", headers=V | who, params=ALL)
        _api.error(res, 403, "Policy doesn't allow nodegroup:get_all_all_projects to be performed.")


def test_admin_shows_another_projects_items(svc: Service, world: dict[str, Any]) -> None:
    theirs = world["p2"]
    for key in ("clusters", "bays"):
        for ident in (theirs["uuid"], "c-p2"):
            _api.error(svc.get(f"/v1/{key}/{ident}", headers=V | ADMIN), 404)
            res = svc.get(f"/v1/{key}/{ident}", headers=V | ADMIN, params=ALL)
            assert res.status_code == 200, res.text
            assert res.json["uuid"] == theirs["uuid"]
        # its own still answers with all_projects, through the plain rule too
        res = svc.get(f"/v1/{key}/c-p1", headers=V | ADMIN, params=ALL)
        assert res.status_code == 200 and res.json["uuid"] == world["p1"]["uuid"], res.text
        _api.error(svc.get(f"/v1/{key}/{uuid.uuid4()}", headers=V | ADMIN, params=ALL), 404)
    model = theirs["baymodel_id"]
    for key in TEMPLATES:
        _api.error(svc.get(f"/v1/{key}/{model}", headers=ADMIN), 404)
        res = svc.get(f"/v1/{key}/{model}", headers=ADMIN, params=ALL)
        assert res.status_code == 200 and res.json["name"] == "m-c-p2", res.text
    groups = f"/v1/clusters/{theirs['uuid']}/nodegroups"
    _api.error(svc.get(groups, headers=V | ADMIN), 404)
    assert _names(svc, groups, "nodegroups", headers=ADMIN, params=ALL) == [
        "default-master",
        "default-worker",
    ]
    res = svc.get(f"{groups}/default-worker", headers=V | ADMIN, params=ALL)
    assert res.status_code == 200 and res.json["cluster_id"] == theirs["uuid"], res.text
    _api.error(svc.get(f"{groups}/default-worker", headers=V | MEMBER, params=ALL), 403)


def test_pages_across_projects_keep_all_projects(svc: Service, world: dict[str, Any]) -> None:
    for key in ("clusters", "clustertemplates", "bays"):
        res = svc.get(f"/v1/{key}", headers=V, params=ALL | {"limit": "1"})
        assert res.status_code == 200, res.text
        assert "all_projects=true" in res.json["next"]
        items = _api.walk(svc, f"/v1/{key}?all_projects=true&limit=1", key)
        assert len(items) == 2
    cluster = world["p2"]["uuid"]
    res = svc.get(f"/v1/clusters/{cluster}/nodegroups", headers=V, params=ALL | {"limit": "1"})
    assert res.status_code == 200, res.text
    assert "all_projects=true" in res.json["next"]


def test_writes_never_reach_another_project(svc: Service, world: dict[str, Any]) -> None:
    theirs = world["p2"]["uuid"]
    rename = [{"op": "replace", "path": "/node_count", "value": 2}]
    for params in ({}, ALL):
        for key in ("clusters", "bays"):
            res = svc.delete(f"/v1/{key}/{theirs}", headers=V | ADMIN, params=params)
            assert res.status_code in (400, 404), res.text
            res = svc.patch(f"/v1/{key}/{theirs}", rename, headers=V | ADMIN, params=params)
            assert res.status_code in (400, 404), res.text
    res = svc.delete(f"/v1/clusters/{theirs}", headers=V | ADMIN, params=ALL)
    _api.error(res, 400, 'Unknown argument: "all_projects"')
    body = svc.get(f"/v1/clusters/{theirs}", project="p2", headers=V).json
    assert body["status"] == "CREATE_COMPLETE" and body["node_count"] == 1


def test_a_bad_value_is_a_400(svc: Service, world: dict[str, Any]) -> None:
    for path in ("/v1/clusters", f"/v1/clusters/{world['p1']['uuid']}"):
        res = svc.get(path, headers=V, params={"all_projects": "maybe"})
        _api.error(res, 400, contains=("all_projects",))


def test_an_operator_grants_it_to_another_role(
    service_factory: Callable[..., Service], tmp_path: pathlib.Path
) -> None:
    """Redefining today's rule redefines Mitaka's alias: bay: follows cluster:."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"cluster:get_all_all_projects": "role:auditor"}))
    svc = service_factory(oslo_policy={"policy_file": str(policy)})
    for p in ("p1", "p2"):
        ng.cluster(svc, f"c-{p}", project=p)
    auditor = {"X-Roles": "auditor,reader"}
    for key in ("clusters", "bays"):
        assert _names(svc, f"/v1/{key}", key, headers=auditor, params=ALL) == ["c-p1", "c-p2"]
        _api.error(svc.get(f"/v1/{key}", headers=V | ADMIN, params=ALL), 403)
    # the detail list has a rule of its own, left as it was
    _api.error(svc.get("/v1/clusters/detail", headers=V | auditor, params=ALL), 403)
