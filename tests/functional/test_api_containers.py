# SPDX-License-Identifier: Apache-2.0
"""/v1/containers on the three databases, with the test-double COE (containers in memory
with Docker's state rules): every endpoint, placement, bad input, policy, sync."""

from __future__ import annotations

import pathlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest
import sqlalchemy as sa

from magnum.db import models
from magnum.drivers import capabilities
from magnum.objects import containers as container_rows
from tests.functional import _api, _http
from tests.functional.conftest import Service

FIELDS = {
    "uuid",
    "name",
    "image",
    "bay_uuid",
    "command",
    "memory",
    "environment",
    "status",
    "status_reason",
    "host",
    "links",
}
IMAGE = "local/busybox:latest"


@pytest.fixture
def svc(service_factory: Callable[..., Service]) -> Service:
    return service_factory(conductor={"container_sync_interval": 0.1})


def _cluster(svc: Service, *, nodes: int = 2, project: str = "p1", **labels: str) -> dict[str, Any]:
    name = f"m-{uuid.uuid4().hex[:6]}"
    model = _api.make_cluster_template(svc, project, name=name, labels=labels)
    res = svc.post(
        "/v1/bays",
        {"name": f"b-{name}", "baymodel_id": model["uuid"], "node_count": nodes},
        project=project,
    )
    assert res.status_code == 201, res.text
    body = svc.wait_cluster(
        res.json["uuid"],
        lambda b: b is not None and b["status"] == "CREATE_COMPLETE",
        project=project,
    )
    assert body is not None
    return body


@pytest.fixture
def cluster(svc: Service) -> dict[str, Any]:
    return _cluster(svc)


def _create(svc: Service, cluster: dict[str, Any], **fields: Any) -> dict[str, Any]:
    project = fields.pop("project", "p1")
    res = svc.post(
        "/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"]} | fields, project=project
    )
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json
    return body


def _rows(svc: Service) -> int:
    with svc.db.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(models.Container)) or 0)


def _put(svc: Service, path: str, **kw: Any) -> Any:
    return svc.request("PUT", path, **kw)


def _fake(svc: Service) -> Any:
    """The fake COE's containers (magnum_testdrivers.fake.FakeContainers)."""
    return svc.conductor.drivers.coe["swarm"].containers


# --- the whole lifecycle -------------------------------------------------------------
def test_container_lifecycle(svc: Service, cluster: dict[str, Any]) -> None:
    res = svc.post(
        "/v1/containers",
        {
            "name": "web",
            "image": IMAGE,
            "bay_uuid": cluster["uuid"],
            "command": "sleep 3600",
            "memory": "64m",
            "environment": {"A": "1", "B": "two"},
        },
    )
    assert res.status_code == 201, res.text
    c = res.json
    assert set(c) == FIELDS | {"created_at", "updated_at"}
    assert _api.UUID.match(c["uuid"])
    assert res.headers["location"] == f"http://falconframework.org/v1/containers/{c['uuid']}"
    assert c["status"] == "Stopped" and c["status_reason"] is None
    assert c["host"] in ("node-0", "node-1")  # workers, not the master
    assert (c["name"], c["command"], c["memory"]) == ("web", "sleep 3600", "64m")
    assert c["environment"] == {"A": "1", "B": "two"}
    assert _api.ISO.match(c["created_at"])
    path = f"/v1/containers/{c['uuid']}"

    listed = svc.get("/v1/containers").json["containers"]
    assert [x["uuid"] for x in listed] == [c["uuid"]]
    assert set(listed[0]) == FIELDS
    detail = svc.get("/v1/containers/detail").json["containers"]
    assert set(detail[0]) == FIELDS | {"created_at", "updated_at"}
    assert svc.get("/v1/containers/web").json["uuid"] == c["uuid"]

    def act(action: str, status: str) -> None:
        res = _put(svc, f"{path}/{action}")
        assert res.status_code == 200, res.text
        assert res.text == "null"
        assert svc.get(path).json["status"] == status

    act("start", "Running")
    act("start", "Running")  # idempotent, as in Docker
    act("pause", "Paused")
    act("unpause", "Running")
    act("reboot", "Running")
    res = svc.get(f"{path}/logs")
    assert res.status_code == 200 and res.json == {
        "output": "run 1 of sleep 3600\nrun 2 of sleep 3600\n",
        "truncated": False,
    }
    res = _put(svc, f"{path}/execute", params={"command": "echo hello world"})
    assert res.status_code == 200, res.text
    assert res.json == {"output": "hello world\n", "truncated": False}
    env = _put(svc, f"{path}/execute?command=env").json
    assert env == {"output": "A=1\nB=two\n", "truncated": False}
    act("stop", "Stopped")
    act("stop", "Stopped")

    # Actions that make no sense now are Docker's 409, never a 500.
    _api.error(_put(svc, f"{path}/pause"), 409, contains=("is not running",))
    _api.error(_put(svc, f"{path}/unpause"), 409, contains=("is not paused",))
    _api.error(_put(svc, f"{path}/execute?command=ls"), 409, contains=("is not running",))
    assert svc.get(path).json["status"] == "Stopped"

    # The inverted form of the action paths.
    assert _put(svc, f"/v1/containers/start/{c['uuid']}").status_code == 200
    assert svc.get(path).json["status"] == "Running"

    res = svc.delete(path)  # forcibly, although it runs
    assert res.status_code == 204, res.text
    _api.error(svc.get(path), 404, f"Container {c['uuid']} could not be found.")
    assert _fake(svc).engines[(cluster["uuid"], c["host"])] == {}
    assert _rows(svc) == 0


def test_methods_and_unknown_actions(svc: Service, cluster: dict[str, Any]) -> None:
    c = _create(svc, cluster)
    path = f"/v1/containers/{c['uuid']}"
    assert svc.get(f"{path}/start").status_code == 405
    assert _put(svc, f"{path}/logs").status_code == 405
    assert svc.post(f"{path}/start", {}).status_code == 405
    assert svc.request("POST", path, json={}).status_code == 405
    assert svc.request("PUT", "/v1/containers").status_code == 405
    assert _put(svc, f"{path}/explode").status_code == 404
    assert _put(svc, f"/v1/containers/{uuid.uuid4()}/start").status_code == 404
    _api.error(_put(svc, f"{path}/start?force=1"), 400, 'Unknown argument: "force"')


def test_client_uuid_is_ignored_so_no_answer_tells_where_a_uuid_is(
    svc: Service, cluster: dict[str, Any]
) -> None:
    """A create answers alike whether the uuid it names is free, the caller's own or another
    project's container's (a 409 for that one told that it exists): the uuid is ignored."""
    theirs = _create(svc, _cluster(svc, project="p2"), project="p2")
    mine = _create(svc, cluster)
    for asked in (str(uuid.uuid4()), mine["uuid"], theirs["uuid"]):
        made = _create(svc, cluster, uuid=asked, name="again")
        assert made["uuid"] != asked and _api.UUID.match(made["uuid"])
    assert _rows(svc) == 5
    assert svc.get(f"/v1/containers/{theirs['uuid']}", project="p2").status_code == 200


def test_names_are_not_unique(svc: Service, cluster: dict[str, Any]) -> None:
    _create(svc, cluster, name="twin")
    _create(svc, cluster, name="twin")
    _api.error(
        svc.get("/v1/containers/twin"),
        409,
        "Multiple containers exist with same name. Please use the container uuid instead.",
    )


# --- lists ------------------------------------------------------------------------------
def test_list_filters_by_bay_and_pages(svc: Service, cluster: dict[str, Any]) -> None:
    other = _cluster(svc, nodes=1)
    a = [_create(svc, cluster, name=f"a{i}") for i in range(3)]
    b = _create(svc, other, name="b0")
    everything = {x["uuid"] for x in svc.get("/v1/containers").json["containers"]}
    assert everything == {x["uuid"] for x in [*a, b]}
    for ident in (cluster["uuid"], cluster["name"]):
        res = svc.get("/v1/containers", params={"bay_ident": ident})
        assert [x["uuid"] for x in res.json["containers"]] == [x["uuid"] for x in a]
    # the trailing slash python-magnumclient sends
    res = svc.get(f"/v1/containers/?bay_ident={other['uuid']}")
    assert [x["name"] for x in res.json["containers"]] == ["b0"]
    _api.error(
        svc.get("/v1/containers", params={"bay_ident": "nope"}), 404, "Bay nope could not be found."
    )
    walked = _api.walk(
        svc,
        f"/v1/containers?bay_ident={cluster['uuid']}&limit=2&sort_key=name&sort_dir=desc",
        "containers",
    )
    assert [x["name"] for x in walked] == ["a2", "a1", "a0"]
    _api.error(
        svc.get("/v1/containers", params={"sort_key": "project_id"}),
        400,
        'The sort_key value "project_id" is an invalid field for sorting',
    )
    assert svc.get("/v1/containers", project="p2").json["containers"] == []


# --- placement --------------------------------------------------------------------------
def test_placement_spreads_and_respects_memory(svc: Service) -> None:
    cluster = _cluster(svc, nodes=2, fake_node_memory="512")
    first = _create(svc, cluster, memory="300m")
    second = _create(svc, cluster, memory="300m")
    assert {first["host"], second["host"]} == {"node-0", "node-1"}
    res = svc.post(
        "/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"], "memory": "300m"}
    )
    _api.error(res, 400, f"No node of bay {cluster['uuid']} has 300 MB free.")
    small = _create(svc, cluster, memory="200m")  # fits the 212 MB left on either
    assert small["host"] in ("node-0", "node-1")
    unlimited = _create(svc, cluster)  # no limit: the node with the most memory left
    assert unlimited["host"] != small["host"]
    assert _rows(svc) == 4
    # Deleting frees the memory again.
    assert svc.delete(f"/v1/containers/{first['uuid']}").status_code == 204
    assert _create(svc, cluster, memory="300m")["host"] == first["host"]


def test_a_bay_without_workers_places_on_its_masters(svc: Service) -> None:
    cluster = _cluster(svc, nodes=1)
    (pathlib.Path(svc.conf.state_path) / "fake" / cluster["uuid"] / "node-0").unlink()
    assert _create(svc, cluster)["host"] == "master-0"


# --- bad input --------------------------------------------------------------------------
def test_bad_input_is_a_4xx_and_leaves_no_row(svc: Service, cluster: dict[str, Any]) -> None:
    def refused(body: dict[str, Any], status: int = 400, *fragments: str) -> None:
        res = svc.post("/v1/containers", body)
        _api.error(res, status, contains=fragments)

    b = cluster["uuid"]
    refused({"bay_uuid": b}, 400, "Invalid input for field/attribute image", "Mandatory field")
    refused({"image": IMAGE}, 400, "field/attribute bay_uuid", "Mandatory field missing")
    refused({"image": "", "bay_uuid": b}, 400, "field/attribute image")
    for memory in ("12x", "-1", "1.5g", "512M", ""):
        refused({"image": IMAGE, "bay_uuid": b, "memory": memory}, 400, "field/attribute memory")
    refused({"image": IMAGE, "bay_uuid": b, "memory": 512}, 400, "field/attribute memory")
    refused({"image": IMAGE, "bay_uuid": b, "memory": "1k"}, 400, "Minimum memory limit")
    # Docker reads 0 as "no limit"; here no limit is no memory at all, and 0 is refused.
    for zero in ("0", "0m", "000g"):
        refused(
            {"image": IMAGE, "bay_uuid": b, "memory": zero},
            400,
            f"Invalid input for field/attribute memory. Value: '{zero}'. Value should be a "
            "limit above zero; leave memory out (or null) for no limit",
        )
    # NAME=A=B would reach Docker as NAME with the value A=B.
    for key in ("A=B", "=", "PATH="):
        refused(
            {"image": IMAGE, "bay_uuid": b, "environment": {key: "1"}},
            400,
            "field/attribute environment",
            "Environment variable names cannot contain '='",
        )
    missing = str(uuid.uuid4())
    refused({"image": IMAGE, "bay_uuid": missing}, 400, f"Bay {missing} could not be found.")
    refused(
        {"image": IMAGE, "bay_uuid": cluster["name"]},
        400,
        f"Expected a uuid but received {cluster['name']}.",
    )
    refused(
        {"image": IMAGE, "bay_uuid": b, "foo": 1},
        400,
        "Unknown attribute for argument container: foo",
    )
    refused({"image": IMAGE, "bay_uuid": b, "environment": {"A": 1}}, 400, "environment")
    refused({"image": IMAGE, "bay_uuid": b, "environment": ["A=1"]}, 400, "environment")
    refused({"image": IMAGE, "bay_uuid": b, "command": "sh -c 'unbalanced"}, 400, "command")
    refused({"image": IMAGE, "bay_uuid": b, "host": "node-0"}, 400, "Cannot set read only field")
    refused({"image": IMAGE, "bay_uuid": b, "name": "x" * 256}, 400, "field/attribute name")
    refused(
        {"image": "nope/missing:1", "bay_uuid": b},
        400,
        f"Image nope/missing:1 is not available in bay {b}",
    )
    res = svc.request(
        "POST", "/v1/containers", body="{", headers={"Content-Type": "application/json"}
    )
    _api.error(res, 400, "Request is not in valid JSON format")
    assert _rows(svc) == 0
    # ... and in another project the bay does not exist.
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": b}, project="p2")
    _api.error(res, 400, f"Bay {b} could not be found.")
    assert _rows(svc) == 0


def test_execute_needs_a_command(svc: Service, cluster: dict[str, Any]) -> None:
    c = _create(svc, cluster)
    path = f"/v1/containers/{c['uuid']}/execute"
    assert _put(svc, f"/v1/containers/{c['uuid']}/start").status_code == 200
    _api.error(_put(svc, path), 400, 'Missing argument: "command"')
    _api.error(_put(svc, f"{path}?command="), 400, "Command to execute can not be empty.")
    _api.error(_put(svc, f"{path}?command=%20%20"), 400, "Command to execute can not be empty.")
    _api.error(_put(svc, f"{path}?command=sh%20-c%20%27x"), 400, contains=("cannot be parsed",))


def test_bay_not_complete_is_409(svc: Service, tmp_path: Any) -> None:
    gate = tmp_path / "gate"
    model = _api.make_cluster_template(svc, name="gated", labels={"fake_gate": str(gate)})
    res = svc.post("/v1/bays", {"name": "slow", "baymodel_id": model["uuid"]})
    assert res.status_code == 201
    try:
        res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": res.json["uuid"]})
        _api.error(
            res, 409, contains=("is CREATE_IN_PROGRESS", "CREATE_COMPLETE or UPDATE_COMPLETE")
        )
        assert _rows(svc) == 0
    finally:
        gate.touch()


def test_actions_on_a_bay_being_scaled_are_409(svc: Service, cluster: dict[str, Any]) -> None:
    c = _create(svc, cluster)
    with svc.db.session() as session:
        session.execute(
            sa.update(models.Cluster)
            .where(models.Cluster.uuid == cluster["uuid"])
            .values(status="UPDATE_FAILED")
        )
    _api.error(_put(svc, f"/v1/containers/{c['uuid']}/start"), 409, contains=("UPDATE_FAILED",))
    assert svc.get(f"/v1/containers/{c['uuid']}").status_code == 200  # shown, not refreshed


NO_CONTAINERS = "Cannot fulfill request with a kubernetes bay: its COE driver offers no containers."


def test_a_coe_without_an_enabled_driver_is_400(svc: Service, cluster: dict[str, Any]) -> None:
    c = _create(svc, cluster)
    with svc.db.session() as session:
        session.execute(
            sa.update(models.ClusterTemplate)
            .where(models.ClusterTemplate.uuid == cluster["baymodel_id"])
            .values(coe="kubernetes")
        )
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"]})
    _api.error(res, 400, NO_CONTAINERS)
    assert _rows(svc) == 1
    # The conductor asks the same question for calls the API passes on.
    _api.error(_put(svc, f"/v1/containers/{c['uuid']}/start"), 400, NO_CONTAINERS)


def test_a_coe_driver_without_containers_is_400(service_factory: Callable[..., Service]) -> None:
    svc = service_factory(conductor={"enabled_coe_drivers": ["fakecoe", "fakebare"]})
    model = _api.make_cluster_template(svc, name="k8s", coe="kubernetes", network_driver="flannel")
    res = svc.post("/v1/bays", {"name": "k", "baymodel_id": model["uuid"], "node_count": 1})
    assert res.status_code == 201, res.text
    body = svc.wait_cluster("k", lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    assert body is not None
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": body["uuid"]})
    _api.error(res, 400, NO_CONTAINERS)
    assert _rows(svc) == 0
    # A swarm bay of the same service still has them.
    _create(svc, _cluster(svc, nodes=1))


# --- PATCH --------------------------------------------------------------------------------
def test_patch_changes_only_the_name(svc: Service, cluster: dict[str, Any]) -> None:
    c = _create(svc, cluster, name="old", command="sleep 1")
    path = f"/v1/containers/{c['uuid']}"
    res = svc.patch(path, [{"op": "replace", "path": "/name", "value": "new"}])
    assert res.status_code == 200, res.text
    assert res.json["name"] == "new" and res.json["updated_at"] is not None
    assert svc.get("/v1/containers/new").json["uuid"] == c["uuid"]
    _api.error(
        svc.patch(path, [{"op": "replace", "path": "/image", "value": "nginx"}]),
        400,
        contains=("cannot change container property(ies) image",),
    )
    _api.error(
        svc.patch(path, [{"op": "remove", "path": "/bay_uuid"}]),
        400,
        "'/bay_uuid' is a mandatory attribute and can not be removed",
    )
    _api.error(
        svc.patch(path, [{"op": "replace", "path": "/status", "value": "Running"}]),
        400,
        "'/status' is an internal attribute and can not be updated",
    )
    _api.error(
        svc.patch(path, [{"op": "replace", "path": "/host", "value": "node-1"}]),
        400,
        "'/host' is an internal attribute and can not be updated",
    )


# --- policy -------------------------------------------------------------------------------
def test_policy(svc: Service, cluster: dict[str, Any]) -> None:
    c = _create(svc, cluster)
    path = f"/v1/containers/{c['uuid']}"
    other = {"X-User-Id": "someone-else", "X-Roles": "member"}
    # Project members may see and drive it...
    assert svc.get(path, headers=other).status_code == 200
    assert svc.request("PUT", f"{path}/start", headers=other).status_code == 200
    # ... but only its creator (or an admin) may delete or rename it, or create on the bay.
    _api.error(
        svc.delete(path, headers=other),
        403,
        "Policy doesn't allow container:delete to be performed.",
    )
    _api.error(
        svc.patch(path, [{"op": "replace", "path": "/name", "value": "x"}], headers=other),
        403,
        "Policy doesn't allow container:update to be performed.",
    )
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"]}, headers=other)
    _api.error(res, 403, "Policy doesn't allow container:create to be performed.")
    # Other projects do not see it at all.
    _api.error(svc.get(path, project="p2"), 404)
    _api.error(svc.delete(path, project="p2"), 404)
    assert _rows(svc) == 1
    assert svc.delete(path).status_code == 204


# --- status stays true --------------------------------------------------------------------
def test_sync_marks_exited_and_unreachable(svc: Service, cluster: dict[str, Any]) -> None:
    a = _create(svc, cluster, name="a")
    b = _create(svc, cluster, name="b")
    assert {a["host"], b["host"]} == {"node-0", "node-1"}
    for c in (a, b):
        assert _put(svc, f"/v1/containers/{c['uuid']}/start").status_code == 200
    _fake(svc).exit_all(code=3)

    def statuses() -> dict[str, tuple[str, str | None]]:
        items = svc.get("/v1/containers").json["containers"]
        return {x["name"]: (x["status"], x["status_reason"]) for x in items}

    want = ("Stopped", "exited with code 3")
    _api.poll(statuses, lambda s: s == {"a": want, "b": want})

    _fake(svc).down.add((cluster["uuid"], a["host"]))
    down = ("Error", f"node {a['host']} is not answering")
    _api.poll(statuses, lambda s: s == {"a": down, "b": want})
    # GET of one says the same, and an action on it is a 409 naming the node.
    assert svc.get(f"/v1/containers/{a['uuid']}").json["status_reason"] == down[1]
    _api.error(_put(svc, f"/v1/containers/{a['uuid']}/start"), 409, contains=("not answering",))
    # Back up: the next sync has the truth again.
    _fake(svc).down.clear()
    _api.poll(statuses, lambda s: s == {"a": want, "b": want})
    # A container Docker lost is an Error too.
    _fake(svc).engines[(cluster["uuid"], b["host"])].clear()
    res = svc.get(f"/v1/containers/{b['uuid']}").json
    assert (res["status"], res["status_reason"]) == (
        "Error",
        f"the container is gone from node {b['host']}",
    )


def test_a_container_whose_node_is_gone_is_an_error(
    service_factory: Callable[..., Service],
) -> None:
    svc = service_factory(conductor={"container_sync_interval": 0})  # synced by hand below
    cluster = _cluster(svc, nodes=2)
    a = _create(svc, cluster, name="a")
    b = _create(svc, cluster, name="b")
    assert (a["host"], b["host"]) == ("node-0", "node-1")
    res = svc.patch(
        f"/v1/bays/{cluster['uuid']}", [{"op": "replace", "path": "/node_count", "value": 1}]
    )
    assert res.status_code == 200, res.text
    svc.wait_cluster(cluster["uuid"], lambda x: x is not None and x["status"] == "UPDATE_COMPLETE")

    def statuses() -> dict[str, tuple[str, str | None]]:
        items = svc.get("/v1/containers").json["containers"]
        return {x["name"]: (x["status"], x["status_reason"]) for x in items}

    gone = ("Error", "node node-1 no longer exists")
    assert statuses() == {"a": ("Stopped", None), "b": ("Stopped", None)}
    # GET of one refreshes it, and an action on it is a 409 saying why.
    res = svc.get(f"/v1/containers/{b['uuid']}").json
    assert (res["status"], res["status_reason"]) == gone
    _api.error(
        _put(svc, f"/v1/containers/{b['uuid']}/start"),
        409,
        f"Container {b['uuid']}: node node-1 no longer exists.",
    )
    assert _put(svc, f"/v1/containers/{a['uuid']}/start").status_code == 200
    # The sync says the same.
    with svc.db.session() as session:
        session.execute(
            sa.update(models.Container)
            .where(models.Container.uuid == b["uuid"])
            .values(status="Stopped", status_reason=None)
        )
    svc.conductor.container_sync.sync_cluster(cluster["uuid"])
    assert statuses() == {"a": ("Running", None), "b": gone}


def test_deleting_a_bay_deletes_its_containers(svc: Service, cluster: dict[str, Any]) -> None:
    other = _cluster(svc, nodes=1)
    for _ in range(3):
        _create(svc, cluster)
    kept = _create(svc, other)
    assert svc.delete(f"/v1/bays/{cluster['uuid']}").status_code == 204
    svc.wait_cluster(cluster["uuid"], lambda b: b is None)
    assert [x["uuid"] for x in svc.get("/v1/containers").json["containers"]] == [kept["uuid"]]
    assert _rows(svc) == 1


def test_container_survives_a_conductor_restart(
    service_factory: Callable[..., Service],
) -> None:
    first = service_factory(conductor={"container_sync_interval": 0.1})
    cluster = _cluster(first)
    c = _create(first, cluster)
    assert _put(first, f"/v1/containers/{c['uuid']}/start").status_code == 200
    engines = _fake(first).engines
    first.conductor.stop()
    second = service_factory(conductor={"container_sync_interval": 0.1})
    _fake(second).engines.update(engines)  # the "Docker" of the nodes outlives the conductor
    res = second.get(f"/v1/containers/{c['uuid']}")
    assert res.status_code == 200 and res.json["status"] == "Running"
    assert _put(second, f"/v1/containers/{c['uuid']}/stop").status_code == 200
    assert second.get(f"/v1/containers/{c['uuid']}").json["status"] == "Stopped"


def test_openapi_describes_containers(svc: Service) -> None:
    doc = svc.get("/v1/openapi.json").json
    assert {
        "/v1/containers",
        "/v1/containers/detail",
        "/v1/containers/{ident}",
        "/v1/containers/{ident}/{action}",
    } <= set(doc["paths"])
    schema = doc["components"]["schemas"]["ContainerBody"]
    assert sorted(schema["required"]) == ["bay_uuid", "image"]
    assert schema.get("additionalProperties") is False
    # above zero: "0" (Docker's "no limit") is refused; no memory at all is no limit
    assert schema["properties"]["memory"]["anyOf"][0]["pattern"] == "^0*[1-9][0-9]*[bkmg]?$"
    env = schema["properties"]["environment"]
    names = [s["propertyNames"] for s in [env, *env.get("anyOf", [])] if "propertyNames" in s]
    assert names and names[0]["pattern"] == "^[^=\\x00]+$"  # no "=" in a name


# --- execute and logs are bounded -------------------------------------------------------------
def _bounded(
    service_factory: Callable[..., Service], *, api: dict[str, Any], conductor: int = 8
) -> tuple[Service, dict[str, Any], str]:
    """A service with these [api] limits, a bay, and a running container's path."""
    svc = service_factory(
        api=api, conductor={"container_sync_interval": 0, "max_concurrent_execs": conductor}
    )
    cluster = _cluster(svc, nodes=1)
    c = _create(svc, cluster)
    path = f"/v1/containers/{c['uuid']}"
    assert _put(svc, f"{path}/start").status_code == 200
    return svc, cluster, path


def test_a_command_past_its_time_limit_is_killed_504(
    service_factory: Callable[..., Service],
) -> None:
    svc, _, path = _bounded(service_factory, api={"exec_timeout": 1.0})
    began = time.monotonic()
    res = _put(svc, f"{path}/execute", params={"command": "sleep 100000"})
    took = time.monotonic() - began
    _api.error(
        res,
        504,
        "The command did not finish within 1 s ([api] exec_timeout): its processes were killed.",
        code="server",
    )
    assert 1.0 <= took < 5.0, took
    assert _fake(svc).killed == [["sleep", "100000"]] and _fake(svc).running == 0
    # A command within the limit is answered as before.
    res = _put(svc, f"{path}/execute", params={"command": "sleep 0.1"})
    assert res.status_code == 200 and res.json == {"output": "", "truncated": False}


def test_output_past_the_limit_is_truncated_and_says_so(
    service_factory: Callable[..., Service],
) -> None:
    svc, _, path = _bounded(service_factory, api={"max_exec_output": 1024})
    res = _put(svc, f"{path}/execute", params={"command": "print 5000000"})
    assert res.status_code == 200, res.text
    assert res.json == {"output": "x" * 1024, "truncated": True}
    res = _put(svc, f"{path}/execute", params={"command": "print 1024"})
    assert res.json == {"output": "x" * 1024, "truncated": False}
    # logs: the most recent bytes.
    uuid_ = path.rsplit("/", 1)[1]
    _fake(svc).write_log(uuid_, "old\n" * 1000 + "new\n" * 200)
    res = svc.get(f"{path}/logs")
    assert res.status_code == 200, res.text
    assert res.json["truncated"] is True
    assert len(res.json["output"]) == 1024
    assert res.json["output"].endswith("new\n" * 200)


def test_long_execs_never_starve_other_requests(
    service_factory: Callable[..., Service],
) -> None:
    """Ten concurrent long commands: two run (the API process's limit) and are killed at
    the time limit (504), eight are refused at once (503, Retry-After), and GET /v1/bays
    stays quick all the while on an 8-thread server."""
    svc, _, path = _bounded(service_factory, api={"exec_timeout": 3.0, "max_concurrent_execs": 2})
    answers: list[tuple[int, Any, Any]] = []
    lock = threading.Lock()
    with _http.serve(svc) as address:

        def run() -> None:
            got = _http.request(address, "PUT", f"{path}/execute?command=sleep%20100000")
            with lock:
                answers.append(got)

        threads = [threading.Thread(target=run) for _ in range(10)]
        for t in threads:
            t.start()
        _api.poll(lambda: _fake(svc).running, lambda n: n == 2)
        slowest = 0.0
        for _ in range(10):
            began = time.monotonic()
            status, _, body = _http.request(address, "GET", "/v1/bays", timeout=5)
            slowest = max(slowest, time.monotonic() - began)
            assert status == 200 and len(body["bays"]) == 1
        assert slowest < 1.0, slowest
        for t in threads:
            t.join(timeout=30)
    statuses = sorted(a[0] for a in answers)
    assert statuses == [503] * 8 + [504] * 2, statuses
    for status, headers, body in answers:
        assert body["errors"][0]["status"] == status
        if status == 503:
            assert headers["Retry-After"] == "5"
            assert "[api] max_concurrent_execs" in body["errors"][0]["detail"]
    assert _fake(svc).running == 0 and len(_fake(svc).killed) == 2


def test_a_conductor_runs_a_bounded_number_of_execs(
    service_factory: Callable[..., Service],
) -> None:
    svc, _, path = _bounded(
        service_factory, api={"exec_timeout": 3.0, "max_concurrent_execs": 10}, conductor=2
    )
    answers: list[falcon.testing.Result] = []

    def run(command: str) -> None:
        answers.append(_put(svc, f"{path}/execute", params={"command": command}))

    sleepers = [threading.Thread(target=run, args=("sleep 100000",)) for _ in range(2)]
    for t in sleepers:
        t.start()
    _api.poll(lambda: _fake(svc).running, lambda n: n == 2)
    res = _put(svc, f"{path}/execute", params={"command": "echo hi"})
    errors = _api.error(res, 503, code="server")
    assert "[conductor] max_concurrent_execs" in errors[0]["detail"]
    assert res.headers["retry-after"] == "5"
    _api.error(svc.get(f"{path}/logs"), 503, code="server")  # logs share the slots
    assert svc.get("/v1/bays").status_code == 200
    for t in sleepers:
        t.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [504, 504]
    assert _put(svc, f"{path}/execute", params={"command": "echo hi"}).json["output"] == "hi\n"


# --- creates interrupted by a conductor's death --------------------------------------------------
class _Crash(BaseException):
    """A conductor killed at this point (nothing after it runs)."""


def _half_create(svc: Service, cluster: dict[str, Any], *, docker: bool) -> str:
    """A create as a SIGKILLed conductor leaves it: the row without Docker id, and (with
    `docker`) the Docker container made, labelled with the row's uuid."""
    values = {"cluster_uuid": cluster["uuid"], "image": IMAGE, "environment": {}}
    owner = {"project_id": "p1", "user_id": "p1-user"}
    made: list[str] = []

    def killed(*args: Any) -> Any:
        made.extend(a for a in args if isinstance(a, str) and _api.UUID.match(a))
        raise _Crash()

    with pytest.MonkeyPatch.context() as mp:
        if docker:  # killed once Docker made it, before its id was recorded
            mp.setattr(container_rows, "mark_created", killed)
        else:  # killed before Docker was asked: the row only (nothing runs after a kill)
            mp.setattr(_fake(svc), "create", lambda task, node, spec: killed(spec.uuid))
            mp.setattr(container_rows, "delete", lambda db, uuid_: None)
        with pytest.raises(_Crash):
            svc.conductor.containers.create(owner, values)
    return made[0]


def _row(svc: Service, uuid_: str) -> models.Container | None:
    with svc.db.session() as session:
        return session.scalar(sa.select(models.Container).where(models.Container.uuid == uuid_))


def test_interrupted_creates_are_resolved_by_a_restarted_conductor(
    service_factory: Callable[..., Service],
) -> None:
    first = service_factory(conductor={"container_sync_interval": 0})
    cluster = _cluster(first, nodes=1)
    adopted = _half_create(first, cluster, docker=True)
    lost = _half_create(first, cluster, docker=False)
    for ghost in (adopted, lost):
        row = _row(first, ghost)
        assert row is not None and (row.status, row.docker_id) == (None, None)
    engines = _fake(first).engines
    assert [c.spec.uuid for c in engines[(cluster["uuid"], "node-0")].values()] == [adopted]
    # The API says they are being created; nothing resolves them while the conductor is gone.
    shown = first.get(f"/v1/containers/{adopted}").json
    assert (shown["status"], shown["host"]) == (None, "node-0")
    _api.error(
        _put(first, f"/v1/containers/{adopted}/start"), 409, contains=("still being created",)
    )
    first.conductor.stop()

    second = service_factory(
        conductor={"container_sync_interval": 0.1, "container_create_grace": 0.5}
    )
    _fake(second).engines.update(engines)  # the nodes' Docker outlives the conductor

    def statuses() -> dict[str, tuple[str | None, str | None]]:
        items = second.get("/v1/containers").json["containers"]
        return {x["uuid"]: (x["status"], x["status_reason"]) for x in items}

    interrupted = (
        "Error",
        "creation was interrupted (its conductor stopped) before Docker made the container "
        "on node-0",
    )
    _api.poll(statuses, lambda s: s == {adopted: ("Stopped", None), lost: interrupted})
    row = _row(second, adopted)
    assert row is not None and row.docker_id is not None
    assert row.docker_id in engines[(cluster["uuid"], "node-0")]
    # The adopted container works like any other; the lost one says what happened.
    assert _put(second, f"/v1/containers/{adopted}/start").status_code == 200
    assert second.get(f"/v1/containers/{adopted}").json["status"] == "Running"
    _api.error(
        _put(second, f"/v1/containers/{lost}/start"),
        409,
        f"Container {lost} has no Docker container ({interrupted[1]}); delete it.",
    )
    for ghost in (adopted, lost):
        assert second.delete(f"/v1/containers/{ghost}").status_code == 204
    assert engines[(cluster["uuid"], "node-0")] == {}
    assert _rows(second) == 0


def test_delete_removes_the_docker_container_of_a_row_without_docker_id(
    service_factory: Callable[..., Service],
) -> None:
    svc = service_factory(conductor={"container_sync_interval": 0.1})  # grace: 120 s
    cluster = _cluster(svc, nodes=2)
    ghost = _half_create(svc, cluster, docker=True)
    host = _row(svc, ghost).host  # type: ignore[union-attr]
    assert [c.spec.uuid for c in _fake(svc).engines[(cluster["uuid"], host)].values()] == [ghost]
    assert svc.delete(f"/v1/containers/{ghost}").status_code == 204
    assert _fake(svc).engines[(cluster["uuid"], host)] == {}
    assert _rows(svc) == 0


def test_docker_containers_without_a_row_are_removed(svc: Service, cluster: dict[str, Any]) -> None:
    kept = _create(svc, cluster)
    spec = capabilities.ContainerSpec(
        uuid=str(uuid.uuid4()),
        name=None,
        image=IMAGE,
        command=None,
        environment={},
        memory_bytes=None,
    )
    _fake(svc).add(cluster["uuid"], kept["host"], spec)  # its row was deleted meanwhile
    engine = _fake(svc).engines[(cluster["uuid"], kept["host"])]
    _api.poll(lambda: sorted(c.spec.uuid for c in engine.values()), lambda u: u == [kept["uuid"]])
    assert svc.get(f"/v1/containers/{kept['uuid']}").json["status"] == "Stopped"
