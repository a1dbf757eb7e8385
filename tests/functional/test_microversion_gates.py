# SPDX-License-Identifier: Apache-2.0
"""Every gate of the microversion history (spec §2.6, §10), asked at the version below it
and at the version itself: the route, operation or field is absent (or refused with the
text Magnum's clients print) below, and there at its version."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest

from magnum.api import microversions
from tests.functional import _api
from tests.functional.conftest import Service

NEW = "OpenStack-API-Version"
TEMPLATE = {
    "name": "t1",
    "image_id": "fedora-atomic",
    "coe": "swarm",
    "external_network_id": "public",
}


def at(version: str) -> dict[str, str]:
    return {NEW: f"container-infra {version}"}


@dataclasses.dataclass
class World:
    svc: Service
    template: str
    other_template: str
    cluster: str

    def settle(self) -> None:
        self.svc.wait_cluster(
            self.cluster,
            lambda b: b is not None and b["status"].endswith("_COMPLETE"),
            timeout=30,
        )


Ask = Callable[[World, str], falcon.testing.Result]
Check = Callable[[falcon.testing.Result], None]


def _status(code: int, *contains: str) -> Check:
    def check(res: falcon.testing.Result) -> None:
        if code >= 400:
            _api.error(res, code, contains=contains)
        else:
            assert res.status_code == code, res.text

    return check


def _has(field: str, present: bool) -> Check:
    def check(res: falcon.testing.Result) -> None:
        assert res.status_code == 200, res.text
        item = res.json
        assert (field in item) is present, (field, sorted(item))

    return check


UNSUPPORTED = "was requested but the requested API"


@dataclasses.dataclass(frozen=True)
class Gate:
    version: str  # where it starts
    what: str
    ask: Ask
    below: Check
    since: Check
    changes: bool = False  # the ask changes the cluster: settle it after each


def _resize(w: World, v: str) -> falcon.testing.Result:
    return w.svc.post(f"/v1/clusters/{w.cluster}/actions/resize", {"node_count": 1}, headers=at(v))


def _upgrade(w: World, v: str) -> falcon.testing.Result:
    body = {"cluster_template": w.other_template, "max_batch_size": 1}
    return w.svc.post(f"/v1/clusters/{w.cluster}/actions/upgrade", body, headers=at(v))


def _zero_workers(w: World, v: str) -> falcon.testing.Result:
    body = {"cluster_template_id": w.template, "node_count": 0}
    return w.svc.post("/v1/clusters", body, headers=at(v))


def _rollback(w: World, v: str) -> falcon.testing.Result:
    ops = [{"op": "replace", "path": "/node_count", "value": 1}]
    return w.svc.patch(
        f"/v1/clusters/{w.cluster}", ops, headers=at(v), query_string="rollback=false"
    )


def _default_worker(w: World, v: str) -> falcon.testing.Result:
    return w.svc.get(f"/v1/clusters/{w.cluster}/nodegroups/default-worker", headers=at(v))


GATES = (
    Gate(
        "1.2",
        "asynchronous bay create",
        lambda w, v: w.svc.post("/v1/bays", {"baymodel_id": w.template}, headers=at(v)),
        _status(201),
        _status(202),
    ),
    Gate("1.3", "?rollback", _rollback, _status(400, "rollback"), _status(202), changes=True),
    Gate(
        "1.4",
        "stats",
        lambda w, v: w.svc.get("/v1/stats", headers=at(v)),
        _status(406, UNSUPPORTED),
        _status(200),
    ),
    Gate(
        "1.5",
        "CA rotation",
        lambda w, v: w.svc.patch(f"/v1/certificates/{w.cluster}", None, headers=at(v)),
        _status(406, UNSUPPORTED),
        _status(202),
        changes=True,
    ),
    Gate(
        "1.6",
        "quotas",
        lambda w, v: w.svc.get("/v1/quotas", headers=at(v)),
        _status(406, UNSUPPORTED),
        _status(200),
    ),
    Gate("1.7", "resize", _resize, _status(406, UNSUPPORTED), _status(202), changes=True),
    Gate(
        "1.8",
        "upgrade",
        _upgrade,
        _status(400, "Cluster upgrade is not supported in the provided microversion."),
        _status(202),
        changes=True,
    ),
    Gate(
        "1.9",
        "nodegroups",
        lambda w, v: w.svc.get(f"/v1/clusters/{w.cluster}/nodegroups", headers=at(v)),
        _status(406, UNSUPPORTED),
        _status(200),
    ),
    Gate(
        "1.10",
        "zero workers",
        _zero_workers,
        _status(400, "Resizing a nodegroup to zero is not supported in the provided microversion."),
        _status(202),
    ),
    Gate(
        "1.11",
        "bays removed",
        lambda w, v: w.svc.get("/v1/bays", headers=at(v)),
        _status(200),
        _status(404, "removed in microversion 1.11"),
    ),
    Gate(
        "1.12",
        "credential rotation",
        lambda w, v: w.svc.patch(f"/v1/credentials/{w.cluster}", None, headers=at(v)),
        _status(406, UNSUPPORTED),
        _status(202),
        changes=True,
    ),
    Gate(
        "1.13",
        "cluster_id",
        lambda w, v: w.svc.get(f"/v1/clusters/{w.cluster}", headers=at(v)),
        _has("cluster_id", False),
        _has("cluster_id", True),
    ),
    # Magnum's controller does not gate node_labels/node_taints (spec §10.4): a nodegroup
    # shows them wherever nodegroups exist; so do ours
    Gate(
        "1.14",
        "node_labels",
        _default_worker,
        _has("node_labels", True),
        _has("node_labels", True),
    ),
)


def _below(version: str) -> str:
    major, minor = microversions.parse(version)
    return microversions.fmt((major, minor - 1))


def test_the_table_covers_every_version_of_the_history() -> None:
    gated = {microversions.parse(g.version) for g in GATES}
    assert gated == set(microversions.SERVED) - {microversions.MIN_VERSION}


@pytest.fixture
def world(svc: Service) -> World:
    res = svc.post("/v1/clustertemplates", TEMPLATE)
    assert res.status_code == 201, res.text
    other = svc.post("/v1/clustertemplates", TEMPLATE | {"name": "t2", "image_id": "fedora-2"})
    assert other.status_code == 201, other.text
    made = svc.post("/v1/clusters", {"cluster_template_id": "t1"}, headers=at("1.14"))
    assert made.status_code == 202, made.text
    w = World(svc, res.json["uuid"], other.json["uuid"], made.json["uuid"])
    w.settle()
    return w


def test_every_gate_below_and_at_its_version(world: World, subtests: pytest.Subtests) -> None:
    for gate in GATES:
        for version, check in ((_below(gate.version), gate.below), (gate.version, gate.since)):
            with subtests.test(msg=f"{gate.what} at {version}"):
                res = gate.ask(world, version)
                check(res)
                if gate.changes and res.status_code < 300:
                    world.settle()
    body: Any = world.svc.get(f"/v1/clusters/{world.cluster}").json
    assert body["status"].endswith("_COMPLETE"), body
