# SPDX-License-Identifier: Apache-2.0
"""Today's /v1/clusters and /v1/clustertemplates (spec §9, §10.2, §10.3): the same rows as
bays and baymodels, asynchronous answers, per-cluster overrides, generated names, and the
rules and texts the modern clients print."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.functional import _api
from tests.functional.conftest import Service

NEW = "OpenStack-API-Version"
TEMPLATE = {
    "name": "t1",
    "image_id": "fedora-atomic",
    "coe": "swarm",
    "external_network_id": "public",
    "labels": {"a": "1", "b": "2"},
}
GENERATED = re.compile(r"^[a-z]+-([1-9]|1[0-9]|2[0-4])-(cluster|template)$")


def at(version: str) -> dict[str, str]:
    return {NEW: f"container-infra {version}"}


def _template(svc: Service, project: str = "p1", **fields: Any) -> dict[str, Any]:
    res = svc.post("/v1/clustertemplates", TEMPLATE | fields, project=project)
    assert res.status_code == 201, res.text
    assert res.headers["location"].endswith(f"/v1/clustertemplates/{res.json['uuid']}")
    body: dict[str, Any] = res.json
    return body


def _cluster(svc: Service, template: str, version: str = "1.14", **fields: Any) -> str:
    res = svc.post("/v1/clusters", {"cluster_template_id": template} | fields, headers=at(version))
    assert res.status_code == 202, res.text
    assert set(res.json) == {"uuid"}
    uuid: str = res.json["uuid"]
    return uuid


def _settled(svc: Service, uuid: str) -> dict[str, Any]:
    body = svc.wait_cluster(uuid, lambda b: b is not None and b["status"].endswith("COMPLETE"))
    assert body is not None
    res = svc.get(f"/v1/clusters/{uuid}", headers=at("1.14"))
    assert res.status_code == 200, res.text
    shown: dict[str, Any] = res.json
    return shown


def test_template_crud_with_todays_fields(svc: Service) -> None:
    made = _template(svc, hidden=False, master_lb_enabled=True, tags="a,b")
    assert made["keypair_id"] is None  # optional today
    assert made["floating_ip_enabled"] is True and made["master_lb_enabled"] is True
    assert made["tags"] == "a,b" and made["project_id"] == "p1"
    listed = svc.get("/v1/clustertemplates").json["clustertemplates"]
    assert [t["uuid"] for t in listed] == [made["uuid"]]
    assert listed[0]["docker_storage_driver"] is None  # list items are full items
    # the same row is a baymodel to Mitaka's clients
    assert svc.get(f"/v1/baymodels/{made['uuid']}").json["name"] == "t1"
    res = svc.patch(
        f"/v1/clustertemplates/{made['uuid']}",
        [{"op": "replace", "path": "/docker_storage_driver", "value": "overlay2"}],
    )
    assert res.status_code == 200, res.text
    assert res.json["docker_storage_driver"] == "overlay2"
    assert svc.delete(f"/v1/clustertemplates/{made['uuid']}").status_code == 204
    _api.error(
        svc.get(f"/v1/clustertemplates/{made['uuid']}"),
        404,
        f"ClusterTemplate {made['uuid']} could not be found.",
    )


def test_unnamed_templates_and_clusters_get_generated_names(svc: Service) -> None:
    body = TEMPLATE | {"name": None}
    res = svc.post("/v1/clustertemplates", body)
    assert res.status_code == 201, res.text
    assert GENERATED.match(res.json["name"]) and res.json["name"].endswith("-template")
    uuid = _cluster(svc, res.json["uuid"])
    name = svc.get(f"/v1/clusters/{uuid}").json["name"]
    assert GENERATED.match(name) and name.endswith("-cluster")


MEMBER = {"X-Roles": "member"}


def test_publishing_or_hiding_needs_the_publish_rule(svc: Service) -> None:
    for flag in ("public", "hidden"):
        _api.error(
            svc.post("/v1/clustertemplates", TEMPLATE | {flag: True}, headers=MEMBER),
            403,
            "Not authorized to set public or hidden flag for cluster template.",
        )
    made = _template(svc)
    _api.error(
        svc.patch(
            f"/v1/clustertemplates/{made['uuid']}",
            [{"op": "replace", "path": "/hidden", "value": True}],
            headers=MEMBER,
        ),
        403,
        "Not authorized to set public or hidden flag for cluster template.",
    )


def test_a_hidden_public_template_is_seen_by_admins_only(svc: Service) -> None:
    admin = {"X-Roles": "admin"}
    res = svc.post(
        "/v1/clustertemplates",
        TEMPLATE | {"public": True, "hidden": True},
        project="ops",
        headers=admin,
    )
    assert res.status_code == 201, res.text
    uuid = res.json["uuid"]
    _api.error(svc.get(f"/v1/clustertemplates/{uuid}", headers=MEMBER), 404)
    assert svc.get("/v1/clustertemplates", headers=MEMBER).json == {"clustertemplates": []}
    seen = svc.get("/v1/clustertemplates", project="p2", headers=admin).json
    assert [t["uuid"] for t in seen["clustertemplates"]] == [uuid]


def test_a_used_template_may_only_be_renamed_tagged_or_published(svc: Service) -> None:
    made = _template(svc)
    _cluster(svc, made["uuid"])
    url = f"/v1/clustertemplates/{made['uuid']}"
    for path, value in (("/name", "renamed"), ("/tags", "x")):
        res = svc.patch(url, [{"op": "replace", "path": path, "value": value}])
        assert res.status_code == 200, res.text
    referenced = f"ClusterTemplate {made['uuid']} is referenced by one or multiple clusters."
    _api.error(
        svc.patch(url, [{"op": "replace", "path": "/image_id", "value": "other"}]),
        400,
        referenced,
    )
    _api.error(
        svc.patch(
            url,
            [
                {"op": "replace", "path": "/name", "value": "both"},
                {"op": "replace", "path": "/tags", "value": "y"},
            ],
        ),
        400,
        referenced,
    )
    _api.error(svc.delete(url), 400, referenced)


def test_a_cluster_inherits_or_overrides_its_template(svc: Service) -> None:
    made = _template(svc, keypair_id="kp", flavor_id="m1.small", docker_volume_size=5)
    plain = _settled(svc, _cluster(svc, made["uuid"], name="plain"))
    assert plain["keypair"] == "kp" and plain["flavor_id"] == "m1.small"
    assert plain["docker_volume_size"] == 5 and plain["labels"] == {"a": "1", "b": "2"}
    assert plain["labels_overridden"] == {} and plain["labels_added"] == {}
    assert plain["labels_skipped"] == {}
    assert plain["merge_labels"] is False and plain["create_timeout"] == 60
    assert plain["project_id"] == "p1" and plain["user_id"] == "p1-user"

    own = _settled(
        svc,
        _cluster(
            svc,
            made["uuid"],
            name="own",
            keypair="mine",
            docker_volume_size=9,
            labels={"a": "9", "c": "3"},
        ),
    )
    assert own["keypair"] == "mine" and own["docker_volume_size"] == 9
    assert own["labels"] == {"a": "9", "c": "3"}  # asked labels replace the template's
    assert own["labels_overridden"] == {"a": "1"}
    assert own["labels_added"] == {"c": "3"}
    assert own["labels_skipped"] == {"b": "2"}

    merged = _settled(
        svc, _cluster(svc, made["uuid"], name="merged", labels={"a": "9"}, merge_labels=True)
    )
    assert merged["labels"] == {"a": "9", "b": "2"}
    # the same row is a bay to Mitaka's clients
    bay = svc.get(f"/v1/bays/{merged['uuid']}").json
    assert bay["baymodel_id"] == made["uuid"] and bay["status"] == merged["status"]


def test_stack_id_becomes_cluster_id_at_1_13(svc: Service) -> None:
    uuid = _cluster(svc, _template(svc)["uuid"])
    for version, present, absent in (
        ("1.12", "stack_id", "cluster_id"),
        ("1.13", "cluster_id", "stack_id"),
    ):
        one = svc.get(f"/v1/clusters/{uuid}", headers=at(version)).json
        (item,) = svc.get("/v1/clusters", headers=at(version)).json["clusters"]
        (detail,) = svc.get("/v1/clusters/detail", headers=at(version)).json["clusters"]
        for body in (one, item, detail):
            assert present in body and absent not in body, (version, sorted(body))


def test_zero_workers_only_from_1_10(svc: Service) -> None:
    made = _template(svc)
    _api.error(
        svc.post(
            "/v1/clusters",
            {"cluster_template_id": made["uuid"], "node_count": 0},
            headers=at("1.9"),
        ),
        400,
        "Resizing a nodegroup to zero is not supported in the provided microversion.",
    )
    assert svc.get("/v1/clusters").json == {"clusters": []}  # nothing was recorded
    shown = _settled(svc, _cluster(svc, made["uuid"], version="1.10", node_count=0))
    assert shown["node_count"] == 0 and shown["master_count"] == 1


def test_an_unknown_template_is_400_before_1_10_and_404_from_it(svc: Service) -> None:
    body = {"cluster_template_id": "nope"}
    _api.error(
        svc.post("/v1/clusters", body, headers=at("1.9")),
        400,
        "ClusterTemplate nope could not be found.",
    )
    _api.error(
        svc.post("/v1/clusters", body, headers=at("1.10")),
        404,
        "ClusterTemplate nope could not be found.",
    )


def test_several_masters_need_a_master_load_balancer(svc: Service) -> None:
    plain = _template(svc)
    _api.error(
        svc.post("/v1/clusters", {"cluster_template_id": plain["uuid"], "master_count": 3}),
        400,
        "master_count must be 1 when master_lb_enabled is False",
    )
    # the cluster may ask for one its template does not have
    _settled(svc, _cluster(svc, plain["uuid"], master_count=3, master_lb_enabled=True))


def test_bays_are_asynchronous_from_1_2_and_gone_at_1_11(svc: Service) -> None:
    made = _template(svc)
    sync = svc.post("/v1/bays", {"baymodel_id": made["uuid"]}, headers=at("1.1"))
    assert sync.status_code == 201 and sync.json["baymodel_id"] == made["uuid"]
    async_ = svc.post("/v1/bays", {"baymodel_id": made["uuid"]}, headers=at("1.2"))
    assert async_.status_code == 202 and set(async_.json) == {"uuid"}
    for uuid in (sync.json["uuid"], async_.json["uuid"]):
        svc.wait_cluster(uuid, lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    patch = [{"op": "replace", "path": "/node_count", "value": 2}]
    res = svc.patch(f"/v1/bays/{sync.json['uuid']}", patch, headers=at("1.1"))
    assert res.status_code == 200 and res.json["node_count"] == 2
    svc.wait_cluster(
        sync.json["uuid"], lambda b: b is not None and b["status"] == "UPDATE_COMPLETE"
    )
    patch = [{"op": "replace", "path": "/node_count", "value": 1}]
    res = svc.patch(f"/v1/bays/{sync.json['uuid']}", patch, headers=at("1.2"))
    assert res.status_code == 202 and res.json == {"uuid": sync.json["uuid"]}
    # both are clusters; bays are served up to 1.10 and are a 404 from 1.11 on
    listed = {c["uuid"] for c in svc.get("/v1/clusters").json["clusters"]}
    assert listed == {sync.json["uuid"], async_.json["uuid"]}
    assert svc.get("/v1/bays", headers=at("1.10")).status_code == 200
    for path in ("/v1/bays", "/v1/baymodels", f"/v1/bays/{sync.json['uuid']}"):
        _api.error(
            svc.get(path, headers=at("1.11")), 404, contains=("removed in microversion 1.11",)
        )


def test_cluster_patch_changes_the_count_and_health_only(svc: Service) -> None:
    uuid = _cluster(svc, _template(svc)["uuid"])
    _settled(svc, uuid)
    url = f"/v1/clusters/{uuid}"
    _api.error(
        svc.patch(url, [{"op": "replace", "path": "/keypair", "value": "other"}]),
        400,
        "cannot change cluster property(ies) keypair.",
    )
    _api.error(  # a path that is not a string: the patch schema names it
        svc.patch(url, [{"op": "add", "path": {}, "value": None}]),
        400,
        "Invalid input for field/attribute path. Value: '{}'. Value should be string",
    )
    res = svc.patch(
        url,
        [
            {"op": "replace", "path": "/health_status", "value": "UNHEALTHY"},
            {"op": "replace", "path": "/health_status_reason", "value": "{'api': 'down'}"},
        ],
    )
    assert res.status_code == 202 and res.json == {"uuid": uuid}
    shown = svc.get(url).json
    assert shown["health_status"] == "UNHEALTHY"
    assert shown["health_status_reason"] == {"api": "down"}
    assert shown["status"] == "CREATE_COMPLETE"  # no operation for a health change
    res = svc.patch(url, [{"op": "replace", "path": "/node_count", "value": 2}])
    assert res.status_code == 202, res.text
    body = svc.wait_cluster(uuid, lambda b: b is not None and b["status"] == "UPDATE_COMPLETE")
    assert body is not None and body["node_count"] == 2


def test_rollback_is_a_parameter_from_1_3(svc: Service) -> None:
    uuid = _cluster(svc, _template(svc)["uuid"])
    _settled(svc, uuid)
    patch = [{"op": "replace", "path": "/node_count", "value": 2}]
    _api.error(
        svc.patch(f"/v1/clusters/{uuid}", patch, headers=at("1.2"), query_string="rollback=true"),
        400,
        contains=("rollback",),
    )
    _api.error(
        svc.patch(f"/v1/clusters/{uuid}", patch, headers=at("1.3"), query_string="rollback=maybe"),
        400,
        contains=(
            "Invalid input for field/attribute rollback. Value: 'maybe'. Unrecognized value",
        ),
    )
    res = svc.patch(f"/v1/clusters/{uuid}", patch, headers=at("1.3"), query_string="rollback=true")
    assert res.status_code == 202, res.text


def test_a_failed_cluster_shows_its_faults(svc: Service) -> None:
    made = _template(svc, labels={"fake_fail": "create_nodes"})
    uuid = _cluster(svc, made["uuid"])
    svc.wait_cluster(uuid, lambda b: b is not None and b["status"] == "CREATE_FAILED")
    shown = svc.get(f"/v1/clusters/{uuid}").json
    assert shown["faults"], shown
    assert all(isinstance(v, str) and v for v in shown["faults"].values()), shown["faults"]
    assert "faults" not in svc.get("/v1/clusters/detail").json["clusters"][0]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"cluster_template_id": "x", "name": "a" * 243},
            "Invalid input for field/attribute name.",
        ),
        ({"cluster_template_id": "x", "name": "1abc"}, "Invalid input for field/attribute name."),
        ({"cluster_template_id": "x", "node_count": -1}, "Value should be greater or equal to 0"),
        ({"cluster_template_id": "x", "master_count": 0}, "Value should be greater or equal to 1"),
        ({"cluster_template_id": "x", "api_address": "x"}, "Cannot set read only field."),
        ({"cluster_template_id": "x", "cluster_id": "x"}, "Cannot set read only field."),
        ({"cluster_template_id": "x", "frobnicate": 1}, "Unknown attribute for argument cluster"),
        ({"name": "x"}, "Mandatory field missing."),
    ],
)
def test_bad_cluster_bodies(svc: Service, body: dict[str, Any], detail: str) -> None:
    _api.error(svc.post("/v1/clusters", body), 400, contains=(detail,))
    assert svc.get("/v1/clusters").json == {"clusters": []}


def test_a_failed_resize_with_rollback_puts_the_old_count_back(svc: Service) -> None:
    made = _template(svc, labels={"fake_max_nodes": "2"})  # 1 master + 1 node fit
    grow = [{"op": "replace", "path": "/node_count", "value": 3}]
    rolled = _cluster(svc, made["uuid"], name="rolled")
    plain = _cluster(svc, made["uuid"], name="plain")
    for uuid in (rolled, plain):
        _settled(svc, uuid)
    res = svc.patch(f"/v1/clusters/{rolled}", grow, headers=at("1.3"), query_string="rollback=true")
    assert res.status_code == 202, res.text
    assert svc.patch(f"/v1/clusters/{plain}", grow, headers=at("1.3")).status_code == 202
    back = svc.wait_cluster(
        rolled, lambda b: b is not None and b["status"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")
    )
    assert back is not None and back["status"] == "ROLLBACK_COMPLETE", back
    assert back["node_count"] == 1 and back["status_reason"].startswith("Rolled back: ")
    failed = svc.wait_cluster(plain, lambda b: b is not None and b["status"] == "UPDATE_FAILED")
    assert failed is not None and failed["node_count"] == 3  # what was asked stays recorded
    kinds = [e["status"] for e in svc.get(f"/v1/clusters/{rolled}/events").json["events"]]
    assert "ROLLBACK_IN_PROGRESS" in kinds and "ROLLBACK_COMPLETE" in kinds
    # a rolled-back cluster may be resized again
    res = svc.patch(
        f"/v1/clusters/{rolled}",
        [{"op": "replace", "path": "/node_count", "value": 0}],
        headers=at("1.10"),
    )
    assert res.status_code == 202, res.text
