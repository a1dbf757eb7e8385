# SPDX-License-Identifier: Apache-2.0
"""A nodegroup on a real swarm bay (the local infrastructure and Swarm drivers): its node is
built and joins the swarm, a resize adds and removes the nodes asked, its delete drains and
removes them, and nothing of it is left on the host. SQLite only; needs root."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional import _nodegroups as ng
from tests.functional.hostcheck import REALHOST, REFUSED, tls_client
from tests.functional.test_real_bays import (  # noqa: F401 - fixtures
    Real,
    _cluster_template,
    _swarm,
    db_url,
    real_factory,
)

pytestmark = REALHOST
V = ng.V


def _group(real: Real, cluster: str, name: str) -> dict[str, Any]:
    res = real.svc.get(f"/v1/clusters/{cluster}/nodegroups/{name}", headers=V)
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json
    return body


def _updated(real: Real, cluster: str) -> dict[str, Any]:
    body = real.settled(cluster)
    assert body["status"] == "UPDATE_COMPLETE", body
    return body


def _gone(address: str, creds: pathlib.Path) -> None:
    client = tls_client(address, creds, creds, timeout=2)
    try:
        with pytest.raises(REFUSED):  # nothing listens there any more
            client.ping()
    finally:
        client.close()


def test_a_nodegroup_joins_resizes_and_leaves(
    real_factory: Callable[..., Real],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    real = real_factory()
    before = real.snapshot()
    model = _cluster_template(real)
    uuid = real.create("ngbay", model, nodes=1)["uuid"]
    cluster = real.settled(uuid)
    assert cluster["status"] == "CREATE_COMPLETE", cluster
    (master,) = cluster["master_addresses"]
    (worker,) = cluster["node_addresses"]
    creds = real.credentials(uuid, tmp_path / "creds")

    res = real.svc.post(
        f"/v1/clusters/{uuid}/nodegroups", {"name": "extra", "node_count": 1}, headers=V
    )
    assert res.status_code == 202, res.text
    assert res.json["status"] == "CREATE_IN_PROGRESS"
    grown = _updated(real, uuid)
    group = _group(real, uuid, "extra")
    assert group["status"] == "CREATE_COMPLETE" and group["flavor_id"] == "m1.small"
    (first,) = group["node_addresses"]
    assert grown["node_addresses"] == [worker, first]
    assert _swarm(master, creds) == dict.fromkeys([master, worker, first], "ready")

    res = real.svc.post(
        f"/v1/clusters/{uuid}/actions/resize", {"node_count": 2, "nodegroup": "extra"}, headers=V
    )
    assert res.status_code == 202, res.text
    _updated(real, uuid)
    group = _group(real, uuid, "extra")
    assert group["node_count"] == 2 and group["node_addresses"][0] == first
    second = group["node_addresses"][1]
    assert _swarm(master, creds) == dict.fromkeys([master, worker, first, second], "ready")

    # the node asked for goes (extra-0, the first one), not the highest-indexed one
    body = {"node_count": 1, "nodegroup": "extra", "nodes_to_remove": ["extra-0"]}
    res = real.svc.post(f"/v1/clusters/{uuid}/actions/resize", body, headers=V)
    assert res.status_code == 202, res.text
    _updated(real, uuid)
    assert _group(real, uuid, "extra")["node_addresses"] == [second]
    assert _swarm(master, creds) == dict.fromkeys([master, worker, second], "ready")
    _gone(first, creds)

    res = real.svc.delete(f"/v1/clusters/{uuid}/nodegroups/extra", headers=V)
    assert res.status_code == 204, res.text
    shrunk = _updated(real, uuid)
    assert shrunk["node_addresses"] == [worker] and shrunk["node_count"] == 1
    assert real.svc.get(f"/v1/clusters/{uuid}/nodegroups/extra", headers=V).status_code == 404
    assert _swarm(master, creds) == dict.fromkeys([master, worker], "ready")
    _gone(second, creds)
    progress = [e["message"] for e in real.events(uuid) if e["kind"] == "progress"]
    assert "Adding 1 nodes (nodegroup extra)" in progress, progress
    assert "Draining 1 nodes (nodegroup extra)" in progress, progress

    real.delete(uuid)
    real.assert_clean(before)
