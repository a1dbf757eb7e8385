# SPDX-License-Identifier: Apache-2.0
"""What the nodegroup and resize tests share: a settled cluster of the fake drivers, the
microversion headers, and the fake infrastructure's nodes of a cluster."""

from __future__ import annotations

import pathlib
from typing import Any

from tests.functional import _api
from tests.functional.conftest import Service


def at(version: str, **extra: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"container-infra {version}"} | extra


V = at("1.14")
READER = at("1.14", **{"X-Roles": "reader"})


def settled(body: dict[str, Any] | None) -> bool:
    return body is not None and not body["status"].endswith("IN_PROGRESS")


def cluster(
    svc: Service, name: str = "c1", *, nodes: int = 1, project: str = "p1", **labels: str
) -> dict[str, Any]:
    """A CREATE_COMPLETE cluster (made through /v1/bays: the same rows)."""
    model = f"m-{name}"
    _api.make_cluster_template(svc, project=project, name=model, labels=dict(labels))
    res = svc.post(
        "/v1/bays", {"name": name, "baymodel_id": model, "node_count": nodes}, project=project
    )
    assert res.status_code == 201, res.text
    body = svc.wait_cluster(res.json["uuid"], settled, project=project)
    assert body is not None and body["status"] == "CREATE_COMPLETE", body
    return body


def wait(svc: Service, uuid: str, status: str = "UPDATE_COMPLETE") -> dict[str, Any]:
    body = svc.wait_cluster(uuid, settled)
    assert body is not None and body["status"] == status, body
    return body


def nodes(svc: Service, cluster_uuid: str) -> dict[str, str]:
    """{node name: nodegroup} of what the fake infrastructure holds for the cluster."""
    root = pathlib.Path(svc.conf.state_path) / "fake" / cluster_uuid
    if not root.exists():
        return {}
    return {p.name: p.read_text().split()[2] for p in sorted(root.iterdir())}


def groups(svc: Service, cluster_uuid: str, project: str = "p1") -> dict[str, dict[str, Any]]:
    res = svc.get(f"/v1/clusters/{cluster_uuid}/nodegroups", headers=V, project=project)
    assert res.status_code == 200, res.text
    return {g["name"]: g for g in res.json["nodegroups"]}


def show(svc: Service, cluster_uuid: str, ident: str) -> dict[str, Any]:
    res = svc.get(f"/v1/clusters/{cluster_uuid}/nodegroups/{ident}", headers=V)
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json
    return body


def add(svc: Service, cluster_uuid: str, **body: Any) -> dict[str, Any]:
    """Create a nodegroup and wait until its nodes are there."""
    res = svc.post(f"/v1/clusters/{cluster_uuid}/nodegroups", body, headers=V)
    assert res.status_code == 202, res.text
    wait(svc, cluster_uuid)
    return show(svc, cluster_uuid, body["name"])


def resize(svc: Service, cluster_uuid: str, headers: dict[str, str] = V, **body: Any) -> Any:
    return svc.post(f"/v1/clusters/{cluster_uuid}/actions/resize", body, headers=headers)
