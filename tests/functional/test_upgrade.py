# SPDX-License-Identifier: Apache-2.0
"""POST /v1/clusters/{ident}/actions/upgrade on the fake drivers: the gates, every bad
input, the operation's steps and outcome, its failure and a conductor's takeover."""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from magnum.common import utils
from magnum.db import models
from tests.functional import _api
from tests.functional._nodegroups import at, settled
from tests.functional.conftest import Service

V = at("1.8")
IMAGE = "local/busybox:latest"


def _path(cluster: dict[str, Any]) -> str:
    return f"/v1/clusters/{cluster['uuid']}/actions/upgrade"


def _template(svc: Service, name: str, project: str = "p1", **fields: Any) -> dict[str, Any]:
    return _api.make_cluster_template(svc, project=project, name=name, **fields)


def _bay(svc: Service, name: str = "b1", *, nodes: int = 2, project: str = "p1") -> dict[str, Any]:
    _template(svc, f"m-{name}", project=project)
    res = svc.post(
        "/v1/bays", {"name": name, "baymodel_id": f"m-{name}", "node_count": nodes}, project=project
    )
    assert res.status_code == 201, res.text
    body = svc.wait_cluster(res.json["uuid"], settled, project=project)
    assert body is not None and body["status"] == "CREATE_COMPLETE", body
    return body


def _upgrade(
    svc: Service, cluster: dict[str, Any], body: dict[str, Any], *, headers: Any = None, **kw: Any
) -> Any:
    return svc.post(_path(cluster), body, headers=V if headers is None else headers, **kw)


def _wait(svc: Service, cluster: dict[str, Any], project: str = "p1") -> dict[str, Any]:
    body = svc.wait_cluster(cluster["uuid"], settled, project=project)
    assert body is not None
    return body


def _nodes(svc: Service, cluster: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{node name: (template uuid, image)} of the fake infrastructure."""
    root = pathlib.Path(svc.conf.state_path) / "fake" / cluster["uuid"]
    out = {}
    for path in sorted(root.iterdir()):
        parts = path.read_text().split()
        out[path.name] = (parts[3], parts[4])
    return out


def _messages(svc: Service, cluster: dict[str, Any]) -> list[str]:
    """The cluster's timeline, oldest first."""
    events = _api.walk(svc, f"/v1/bays/{cluster['uuid']}/events", "events")
    return [e["message"] for e in reversed(events)]


def _fake(svc: Service) -> Any:
    return svc.conductor.drivers.coe["swarm"].containers


def _running_container(svc: Service, cluster: dict[str, Any]) -> dict[str, Any]:
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": cluster["uuid"], "name": "web"})
    assert res.status_code == 201, res.text
    uuid = res.json["uuid"]
    started = svc.request("PUT", f"/v1/containers/{uuid}/start")
    assert started.status_code == 200, started.text
    body: dict[str, Any] = svc.get(f"/v1/containers/{uuid}").json
    assert body["status"] == "Running"
    return body


def _container_row(svc: Service, uuid: str) -> models.Container:
    with svc.db.session() as session:
        row = session.scalar(sa.select(models.Container).where(models.Container.uuid == uuid))
        assert row is not None
        return row


def _groups(svc: Service, cluster: dict[str, Any]) -> dict[str, models.NodeGroup]:
    with svc.db.session() as session:
        rows = session.scalars(
            sa.select(models.NodeGroup).where(models.NodeGroup.cluster_uuid == cluster["uuid"])
        ).all()
        return {r.name: r for r in rows}


# --- the operation ---------------------------------------------------------------------
def test_upgrade_replaces_every_node_one_at_a_time(svc: Service) -> None:
    bay = _bay(svc)
    container = _running_container(svc, bay)
    old_host = container["host"]
    new = _template(svc, "m-new", image_id="fedora-atomic-latest", labels={"engine_version": "2"})
    res = _upgrade(svc, bay, {"cluster_template": "m-new", "max_batch_size": 1})
    assert res.status_code == 202, res.text
    assert res.json == {"uuid": bay["uuid"]}
    done = _wait(svc, bay)
    assert done["status"] == "UPDATE_COMPLETE", done
    assert done["baymodel_id"] == new["uuid"]
    assert done["status_reason"].startswith("Bay UPGRADE completed: cluster on cluster template")
    # the same counts, every node rebuilt from the new template (new names, lowest free)
    nodes = _nodes(svc, bay)
    assert sorted(nodes) == ["master-1", "node-0", "node-2"]
    assert set(nodes.values()) == {(new["uuid"], "fedora-atomic-latest")}
    assert len(done["node_addresses"]) == 2 and len(done["master_addresses"]) == 1
    messages = _messages(svc, bay)
    steps = [m for m in messages if m.startswith("Replacing")]
    assert steps == [
        "Replacing master-0 with master-1 (batch 1 of 3)",
        "Replacing node-0 with node-2 (batch 2 of 3)",
        "Replacing node-1 with node-0 (batch 3 of 3)",
    ]
    for word in ("Joining", "Draining", "Removing"):
        assert sum(m.startswith(word) for m in messages) == 3, (word, messages)
    assert any(m.startswith("Moving container web from ") for m in messages), messages
    # the container moved with its node: Running on the replacement, nothing left behind
    row = _container_row(svc, container["uuid"])
    assert row.host != old_host and row.host in nodes
    assert row.status == "Running"
    engines = _fake(svc).engines
    copies = [
        (name, c.state)
        for (cluster_uuid, name), engine in engines.items()
        if cluster_uuid == bay["uuid"]
        for c in engine.values()
        if c.spec.uuid == container["uuid"]
    ]
    assert copies == [(row.host, "running")]
    groups = _groups(svc, bay)
    for name in ("default-master", "default-worker"):
        assert groups[name].image_id == "fedora-atomic-latest"
        assert groups[name].version == "2"
    assert sorted(groups["default-worker"].node_names or []) == ["node-0", "node-2"]
    with svc.db.session() as session:
        cluster_row = session.scalar(
            sa.select(models.Cluster).where(models.Cluster.uuid == bay["uuid"])
        )
        assert cluster_row is not None
        assert cluster_row.labels == {"engine_version": "2"}
        assert cluster_row.operation is None and cluster_row.lease_owner is None


def test_batches_replace_max_batch_size_workers_at_once(svc: Service) -> None:
    bay = _bay(svc, nodes=3)
    _template(svc, "m-new", labels={"engine_version": "2"})
    res = _upgrade(svc, bay, {"cluster_template": "m-new", "max_batch_size": 2})
    assert res.status_code == 202, res.text
    assert _wait(svc, bay)["status"] == "UPDATE_COMPLETE"
    steps = [m for m in _messages(svc, bay) if m.startswith("Replacing")]
    assert steps == [
        "Replacing master-0 with master-1 (batch 1 of 3)",
        "Replacing node-0 with node-3 (batch 2 of 3)",
        "Replacing node-1 with node-4 (batch 2 of 3)",
        "Replacing node-2 with node-0 (batch 3 of 3)",
    ]
    assert sorted(_nodes(svc, bay)) == ["master-1", "node-0", "node-3", "node-4"]


def test_a_nodegroup_catches_up_with_the_cluster_template(svc: Service) -> None:
    bay = _bay(svc, nodes=1)
    res = svc.post(
        f"/v1/clusters/{bay['uuid']}/nodegroups",
        {"name": "extra", "node_count": 1},
        headers=at("1.9"),
    )
    assert res.status_code == 202, res.text
    assert _wait(svc, bay)["status"] == "UPDATE_COMPLETE"
    before = _nodes(svc, bay)
    res = _upgrade(
        svc,
        bay,
        {"cluster_template": bay["baymodel_id"], "nodegroup": "extra", "max_batch_size": 3},
    )
    assert res.status_code == 202, res.text
    done = _wait(svc, bay)
    assert done["status"] == "UPDATE_COMPLETE", done
    after = _nodes(svc, bay)
    # only the nodegroup's node was replaced
    assert sorted(after) == ["extra-1", "master-0", "node-0"]
    assert after["master-0"] == before["master-0"] and after["node-0"] == before["node-0"]
    groups = _groups(svc, bay)
    assert groups["extra"].status == "UPDATE_COMPLETE"
    assert groups["extra"].image_id == "fedora-atomic"
    assert done["baymodel_id"] == bay["baymodel_id"]


# --- microversions, personas, projects ----------------------------------------------------
def test_gates(svc: Service) -> None:
    bay = _bay(svc, nodes=1)
    _template(svc, "m-new")
    body = {"cluster_template": "m-new"}
    res = _upgrade(svc, bay, body, headers=at("1.6"))
    _api.error(res, 406, contains=("is not supported for this version",))
    res = _upgrade(svc, bay, body, headers=at("1.7"))
    _api.error(res, 400, "Cluster upgrade is not supported in the provided microversion.")
    res = svc.post(_path(bay), body)  # no header: 1.1
    assert res.status_code == 406, res.text
    res = _upgrade(svc, bay, body, headers=at("1.8"))
    assert res.status_code == 202, res.text
    assert _wait(svc, bay)["status"] == "UPDATE_COMPLETE"


def test_reader_is_refused_and_other_projects_see_nothing(svc: Service) -> None:
    bay = _bay(svc, nodes=1)
    _template(svc, "m-new")
    body = {"cluster_template": "m-new"}
    res = _upgrade(svc, bay, body, headers=at("1.8", **{"X-Roles": "reader"}))
    _api.error(res, 403, contains=("cluster:upgrade",))
    res = _upgrade(svc, bay, body, project="p2")
    _api.error(res, 404, f"Cluster {bay['uuid']} could not be found.")
    res = svc.get(f"/v1/bays/{bay['uuid']}")
    assert res.json["status"] == "CREATE_COMPLETE"  # nothing was recorded


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "cluster_template"),
        ({"cluster_template": "m-new", "max_batch_size": 0}, "max_batch_size"),
        ({"cluster_template": "m-new", "max_batch_size": "2"}, "max_batch_size"),
        ({"cluster_template": "m-new", "surprise": 1}, "surprise"),
        ([], "cluster_upgrade"),
    ],
)
def test_bad_bodies(svc: Service, body: Any, fragment: str) -> None:
    bay = _bay(svc, nodes=1)
    _template(svc, "m-new")
    res = _upgrade(svc, bay, body)
    _api.error(res, 400, contains=(fragment,))
    assert svc.get(f"/v1/bays/{bay['uuid']}").json["status"] == "CREATE_COMPLETE"


def test_bad_targets(svc: Service) -> None:
    bay = _bay(svc, nodes=1)
    unknown = {"cluster_template": "nope"}
    _api.error(_upgrade(svc, bay, unknown), 400, "ClusterTemplate nope could not be found.")
    res = _upgrade(svc, bay, unknown, headers=at("1.10"))
    _api.error(res, 404, "ClusterTemplate nope could not be found.")
    _template(svc, "m-k8s", coe="kubernetes")
    res = _upgrade(svc, bay, {"cluster_template": "m-k8s"})
    _api.error(res, 400, contains=("an upgrade cannot change the COE",))
    res = _upgrade(svc, bay, {"cluster_template": bay["baymodel_id"]})
    _api.error(res, 409, contains=("Cluster Template is not valid for upgrade: ", "already uses"))
    _template(svc, "m-no", labels={"fake_upgrade": "unsupported"})
    res = _upgrade(svc, bay, {"cluster_template": "m-no"})
    _api.error(res, 400, "Upgrading to this fake template is not supported.")
    _template(svc, "m-other", project="p2")
    res = _upgrade(svc, bay, {"cluster_template": "m-other"})  # another project's template
    _api.error(res, 400, "ClusterTemplate m-other could not be found.")
    res = _upgrade(svc, bay, {"cluster_template": bay["baymodel_id"], "nodegroup": "nope"})
    _api.error(res, 404, "Nodegroup nope could not be found.")
    with svc.db.session() as session:
        row = session.scalar(sa.select(models.Cluster).where(models.Cluster.uuid == bay["uuid"]))
        assert row is not None and row.status == "CREATE_COMPLETE" and row.operation is None
        ops = session.scalars(
            sa.select(models.Operation).where(models.Operation.cluster_uuid == bay["uuid"])
        ).all()
        assert [o.kind for o in ops] == ["create"]


def test_a_nodegroup_only_moves_to_the_cluster_template(svc: Service) -> None:
    bay = _bay(svc, nodes=1)
    res = svc.post(
        f"/v1/clusters/{bay['uuid']}/nodegroups",
        {"name": "extra", "node_count": 0},
        headers=at("1.10"),
    )
    assert res.status_code == 202, res.text
    assert _wait(svc, bay)["status"] == "UPDATE_COMPLETE"
    _template(svc, "m-new")
    res = _upgrade(svc, bay, {"cluster_template": "m-new", "nodegroup": "extra"})
    _api.error(
        res,
        409,
        "Cluster Template is not valid for upgrade: nodegroup extra can only be upgraded to "
        f"the cluster's current cluster template {bay['baymodel_id']}.",
    )


def test_quota_and_capacity_hold_for_the_replacement_nodes(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = service_factory(quotas={"max_nodes_per_project": 3})
    bay = _bay(svc, nodes=2)  # 3 nodes: the quota is full, a replacement does not fit
    _template(svc, "m-new")
    res = _upgrade(svc, bay, {"cluster_template": "m-new"})
    _api.error(res, 400, contains=("Resource limit exceeded", "quota is 3 nodes"))
    svc2 = service_factory()
    bay2 = _bay(svc2, "b2", nodes=1, project="p3")
    _template(svc2, "m-new2", project="p3")
    monkeypatch.setenv("MAGNUM_FAKE_CAPACITY", "5")  # b1 and b2 hold 5 nodes
    res = _upgrade(svc2, bay2, {"cluster_template": "m-new2"}, project="p3")
    _api.error(res, 400, contains=("The infrastructure holds 5 nodes in all",))
    monkeypatch.setenv("MAGNUM_FAKE_CAPACITY", "6")
    res = _upgrade(svc2, bay2, {"cluster_template": "m-new2"}, project="p3")
    assert res.status_code == 202, res.text
    assert _wait(svc2, bay2, project="p3")["status"] == "UPDATE_COMPLETE"


# --- in progress, failure, takeover ----------------------------------------------------------
def _gated(tmp_path: pathlib.Path, node: str) -> tuple[dict[str, str], pathlib.Path, pathlib.Path]:
    gate, entered = tmp_path / "gate", tmp_path / "entered"
    labels = {
        "fake_upgrade_gate": str(gate),
        "fake_upgrade_gate_node": node,
        "fake_upgrade_entered": str(entered),
    }
    return labels, gate, entered


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    del what  # (says what is awaited)
    _api.poll(condition, bool, timeout=timeout)


def test_an_action_during_the_upgrade_is_refused(svc: Service, tmp_path: pathlib.Path) -> None:
    bay = _bay(svc, nodes=1)
    labels, gate, entered = _gated(tmp_path, "master-1")
    _template(svc, "m-new", labels=labels)
    _template(svc, "m-other")
    assert _upgrade(svc, bay, {"cluster_template": "m-new"}).status_code == 202
    _wait_for("the gate", entered.exists)
    assert svc.get(f"/v1/bays/{bay['uuid']}").json["status"] == "UPDATE_IN_PROGRESS"
    res = _upgrade(svc, bay, {"cluster_template": "m-other"})
    _api.error(res, 409, f"Cluster {bay['name']} already has an operation in progress.")
    res = svc.patch(
        f"/v1/bays/{bay['uuid']}", [{"op": "replace", "path": "/node_count", "value": 2}]
    )
    assert res.status_code == 409, res.text
    gate.touch()
    done = _wait(svc, bay)
    assert done["status"] == "UPDATE_COMPLETE"
    assert sorted(_nodes(svc, bay)) == ["master-1", "node-1"]


def test_a_failed_batch_is_undone_and_names_the_node(svc: Service) -> None:
    bay = _bay(svc)
    container = _running_container(svc, bay)
    before = _nodes(svc, bay)
    _template(svc, "m-new", labels={"fake_upgrade_fail": "node-2"})
    assert _upgrade(svc, bay, {"cluster_template": "m-new"}).status_code == 202
    done = _wait(svc, bay)
    assert done["status"] == "UPDATE_FAILED", done
    assert done["status_reason"].startswith(
        "Replacing node-0 with node-2 (batch 2 of 3) failed while building the new nodes: "
        "fake node node-2 did not start"
    ), done["status_reason"]
    assert done["baymodel_id"] == bay["baymodel_id"]  # still the old template
    nodes = _nodes(svc, bay)
    # batch 1 (the master) was replaced; the workers stay as they were; nothing leaked
    assert sorted(nodes) == ["master-1", "node-0", "node-1"]
    assert nodes["node-0"] == before["node-0"] and nodes["node-1"] == before["node-1"]
    row = _container_row(svc, container["uuid"])
    assert row.host == container["host"] and row.status == "Running"
    timeline = svc.get(f"/v1/bays/{bay['uuid']}/events").json["events"]
    assert timeline[0]["status"] == "UPDATE_FAILED"  # newest first
    assert timeline[0]["error_code"] == "ClusterOperationFailed"


def _set_lease(
    svc: Service, cluster: dict[str, Any], owner: str, expires_in: datetime.timedelta
) -> None:
    with svc.db.session() as session:
        session.execute(
            sa.update(models.Cluster)
            .where(models.Cluster.uuid == cluster["uuid"])
            .values(lease_owner=owner, lease_expires_at=utils.utcnow() + expires_in)
        )


def test_takeover_resumes_at_the_batch_under_way(
    service_factory: Callable[..., Service], tmp_path: pathlib.Path
) -> None:
    # the first conductor never adopts orphans: the second one takes the upgrade over
    first = service_factory(conductor={"sync_interval": 3600.0})
    bay = _bay(first)
    container = _running_container(first, bay)
    labels, gate, entered = _gated(tmp_path, "node-2")  # batch 2 of 3
    new = _template(first, "m-new", labels=labels | {"engine_version": "3"})
    assert _upgrade(first, bay, {"cluster_template": "m-new"}).status_code == 202
    _wait_for("batch 2", entered.exists)
    # The owner "dies": its lease is taken from it (by a holder that looks alive, or it
    # would take the lease straight back); it notices and stops running the bay.
    _set_lease(first, bay, "dead:1:x", datetime.timedelta(minutes=5))
    _wait_for("the owner to stop", lambda: bay["uuid"] not in first.conductor.ops._running)
    _set_lease(first, bay, "dead:1:x", -datetime.timedelta(seconds=1))  # now it lapses
    entered.unlink()
    gate.touch()
    second = service_factory()
    done = second.wait_cluster(bay["uuid"], settled, timeout=30)
    assert done is not None and done["status"] == "UPDATE_COMPLETE", done
    messages = _messages(second, bay)
    assert any(m.startswith("upgrade taken over from ") for m in messages), messages
    steps = [m for m in messages if m.startswith("Replacing")]
    assert steps == [
        "Replacing master-0 with master-1 (batch 1 of 3)",  # done once, not again
        "Replacing node-0 with node-2 (batch 2 of 3)",
        "Replacing node-0 with node-2 (batch 2 of 3)",  # resumed
        "Replacing node-1 with node-0 (batch 3 of 3)",
    ]
    nodes = _nodes(second, bay)
    assert sorted(nodes) == ["master-1", "node-0", "node-2"]
    assert {t for t, _ in nodes.values()} == {new["uuid"]}
    row = _container_row(second, container["uuid"])
    assert row.host in nodes and row.status == "Running"
