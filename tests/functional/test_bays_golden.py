# SPDX-License-Identifier: Apache-2.0
"""Golden record-and-replay of /v1/bays and /v1/baymodels (and of their errors).

One fixed scenario of requests runs against the in-process API + conductor. Every
recorded answer (status, headers, body text) is compared byte for byte with
golden/bays_v1.json, after normalisation: uuids become <uuid-N> (numbered by first
appearance across the scenario), ISO timestamps <ts>, request ids <req>, and the
fake driver's gate file <gate>. Bay operations run in the conductor; the scenario
waits (unrecorded polls) until each one settles, so what is recorded never races it.

Replay, on every backend:
    pytest tests/functional/test_bays_golden.py
Record, once, on SQLite (then review the diff of golden/bays_v1.json):
    MAGNUM_GOLDEN_RECORD=1 pytest tests/functional/test_bays_golden.py -k sqlite
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import falcon.testing
import pytest

GOLDEN = pathlib.Path(__file__).parent / "golden" / "bays_v1.json"
RECORD = os.environ.get("MAGNUM_GOLDEN_RECORD") == "1"
POLL_TIMEOUT = 30.0
POLL_PAUSE = 0.05
# Content-Length follows from the body, which is compared whole; every other header counts.
IGNORED_HEADERS = frozenset({"content-length"})

GATE = "<gate>"  # stands for the fake driver's gate file in request bodies and answers
NO_SUCH = "0b7b6bc5-4a46-4e36-9a2f-7e2c4f6d0e11"  # a well-formed uuid that names nothing
NEW = "OpenStack-API-Version"
LEGACY = "X-OpenStack-Magnum-API-Version"
MEMBER = {"X-Roles": "member"}
GATED_REASON = "waiting at the fake gate"
BAYMODEL = {
    "image_id": "fedora-atomic",
    "keypair_id": "kp",
    "coe": "swarm",
    "external_network_id": "public",
}

_REQUEST_ID = re.compile(r"req-[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

Body = dict[str, Any] | None


class Client(Protocol):
    """What this test uses of the `svc` fixture: one request method."""

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        project: str = "p1",
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> falcon.testing.Result: ...


class Normaliser:
    """Rewrites what differs from run to run; uuids keep their identity as <uuid-N>."""

    def __init__(self, literals: dict[str, str]) -> None:
        self.literals = literals
        self.uuids: dict[str, str] = {}

    def _uuid(self, match: re.Match[str]) -> str:
        key = match.group(0).lower()
        if key not in self.uuids:
            self.uuids[key] = f"<uuid-{len(self.uuids) + 1}>"
        return self.uuids[key]

    def text(self, value: str) -> str:
        for literal, placeholder in self.literals.items():
            value = value.replace(literal, placeholder)
        value = _REQUEST_ID.sub("<req>", value)
        value = _TIMESTAMP.sub("<ts>", value)
        return _UUID.sub(self._uuid, value)

    def data(self, value: Any) -> Any:
        return json.loads(self.text(json.dumps(value)))


def _substitute(value: Any, old: str, new: str) -> Any:
    """`value` (decoded JSON) with every string `old` replaced by `new`."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_substitute(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, old, new) for k, v in value.items()}
    return value


def _first_difference(expected: str, actual: str) -> int:
    for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if a != b:
            return i
    return min(len(expected), len(actual))


class Scenario:
    """Sends the scenario's requests, records each answer and, replaying, compares it."""

    def __init__(self, svc: Client, gate: pathlib.Path, golden: list[dict[str, Any]] | None):
        self.svc = svc
        self.gate = gate
        self.golden = golden
        self.norm = Normaliser({str(gate): GATE})
        self.steps: list[dict[str, Any]] = []
        self.mismatches: list[str] = []

    def call(
        self,
        method: str,
        path: str,
        expect: int,
        *,
        json: Any = None,
        project: str = "p1",
        headers: dict[str, str] | None = None,
        body: str | None = None,
    ) -> Any:
        """Send one recorded request; return its decoded body (None when it has none)."""
        headers = headers or {}
        sent = _substitute(json, GATE, str(self.gate))
        extra: dict[str, Any] = {} if body is None else {"body": body}
        res = self.svc.request(method, path, json=sent, project=project, headers=headers, **extra)
        request: dict[str, Any] = {
            "method": method,
            "path": self.norm.text(path),
            "project": project,
            "headers": {k: self.norm.text(v) for k, v in headers.items()},
            "json": self.norm.data(json),
        }
        if body is not None:
            request["body"] = self.norm.text(body)
        step = {
            "request": request,
            "status": res.status_code,
            "headers": {
                name.lower(): self.norm.text(value)
                for name, value in sorted(res.headers.items(), key=lambda h: h[0].lower())
                if name.lower() not in IGNORED_HEADERS
            },
            "body": self.norm.text(res.text),
        }
        self._compare(len(self.steps), step)
        self.steps.append(step)
        assert res.status_code == expect, (
            f"#{len(self.steps) - 1} {method} {path}: expected {expect}, got "
            f"{res.status_code}: {res.text}"
        )
        return res.json if res.text else None

    def _compare(self, index: int, actual: dict[str, Any]) -> None:
        if self.golden is None:
            return
        req = actual["request"]
        where = f"#{index} {req['method']} {req['path']} (project {req['project']})"
        if index >= len(self.golden):
            self.mismatches.append(f"{where}: not in the recording ({len(self.golden)} requests)")
            return
        expected = self.golden[index]
        problems = []
        if expected["request"] != req:
            problems.append(f"  request differs: recorded {expected['request']}\n  sent {req}")
        if expected["status"] != actual["status"]:
            problems.append(f"  status: expected {expected['status']}, got {actual['status']}")
        if expected["headers"] != actual["headers"]:
            problems.append(
                f"  headers: expected {expected['headers']}\n  got      {actual['headers']}"
            )
        if expected["body"] != actual["body"]:
            at = _first_difference(expected["body"], actual["body"])
            problems.append(
                f"  body differs at character {at}:\n"
                f"  expected {expected['body']}\n  got      {actual['body']}"
            )
        if problems:
            self.mismatches.append("\n".join([where, *problems]))

    def settle(self, path: str, until: Callable[[int, Body], bool], *, project: str = "p1") -> None:
        """Poll GET `path` (unrecorded) until `until(status, body)` holds, within a deadline."""
        deadline = time.monotonic() + POLL_TIMEOUT
        pause = threading.Event()
        while True:
            res = self.svc.request("GET", path, project=project)
            body: Body = res.json if res.status_code == 200 else None
            if until(res.status_code, body):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} never settled; last: {res.status_code} {res.text}")
            pause.wait(POLL_PAUSE)

    def report(self) -> str:
        shown = "\n\n".join(self.mismatches[:20])
        more = len(self.mismatches) - 20
        tail = f"\n\n... and {more} more" if more > 0 else ""
        return f"{len(self.mismatches)} answer(s) differ from {GOLDEN.name}:\n\n{shown}{tail}"


# --- what "settled" means for a bay ---------------------------------------------------
def _created(status: int, body: Body) -> bool:
    # Once CREATE_COMPLETE, the conductor's first health check follows at once (the next
    # one only after [conductor] health_interval): wait for it so the health fields are fixed.
    return body is not None and body["status"] == "CREATE_COMPLETE" and body["health_status"]


def _updated(status: int, body: Body) -> bool:
    return body is not None and body["status"] == "UPDATE_COMPLETE"


def _gated(status: int, body: Body) -> bool:
    return body is not None and body["status_reason"] == GATED_REASON


def _gone(status: int, body: Body) -> bool:
    return status == 404


def _next_path(body: dict[str, Any]) -> str:
    """The path and query of a collection's `next` link."""
    return "/v1/" + str(body["next"]).split("/v1/", 1)[1]


# --- the scenario -----------------------------------------------------------------------
def _discovery(sc: Scenario) -> None:
    sc.call("GET", "/", 200)
    sc.call("GET", "/v1", 200)
    sc.call("GET", "/v1/bays", 200, headers={NEW: "container-infra 1.1"})
    sc.call("GET", "/v1/baymodels", 200, headers={NEW: "container-infra 1.10"})
    sc.call("GET", "/v1/bays", 200, headers={LEGACY: "1.1"})
    sc.call("GET", "/v1/bays", 406, headers={NEW: "container-infra 1.19"})
    sc.call("GET", "/v1/baymodels", 406, headers={NEW: "container-infra 2.0"})
    sc.call("GET", "/v1/bays", 406, headers={NEW: "compute 1.1"})
    sc.call("GET", "/v1/baymodels", 406, headers={LEGACY: "one"})
    sc.call("GET", "/v1/nothing", 404)
    sc.call("DELETE", "/v1/bays", 405)


def _create_baymodels(sc: Scenario) -> dict[str, str]:
    """The baymodels the rest of the scenario uses, by name -> uuid."""
    m1 = sc.call(
        "POST",
        "/v1/baymodels",
        201,
        json=BAYMODEL
        | {
            "name": "m1",
            "flavor_id": "m1.small",
            "dns_nameserver": "8.8.8.8",
            "docker_volume_size": 5,
            "labels": {"env": "golden"},
        },
    )
    m2 = sc.call(
        "POST",
        "/v1/baymodels",
        201,
        json=BAYMODEL
        | {
            "name": "m2",
            "public": True,
            "network_driver": "flannel",
            "volume_driver": "rexray",
            "master_flavor_id": "m1.large",
            "apiserver_port": 2376,
            "cluster_distro": "fedora-atomic",
            "http_proxy": "http://proxy:3128",
            "no_proxy": "localhost",
            "registry_enabled": True,
            "tls_disabled": "yes",
        },
    )
    gated = sc.call(
        "POST",
        "/v1/baymodels",
        201,
        json=BAYMODEL | {"name": "gated", "labels": {"fake_gate": GATE}},
    )
    k8s = sc.call(
        "POST", "/v1/baymodels", 201, json=BAYMODEL | {"name": "k8s", "coe": "kubernetes"}
    )
    twin = sc.call("POST", "/v1/baymodels", 201, json=BAYMODEL | {"name": "twin"})
    sc.call("POST", "/v1/baymodels", 201, json=BAYMODEL | {"name": "twin"})
    # A member (not admin) may publish a baymodel today.
    shared = sc.call(
        "POST",
        "/v1/baymodels",
        201,
        json=BAYMODEL | {"name": "shared", "public": True},
        headers=MEMBER,
    )
    sc.call("POST", "/v1/baymodels", 201, json=BAYMODEL | {"name": "p2-own"}, project="p2")
    return {
        "m1": m1["uuid"],
        "m2": m2["uuid"],
        "gated": gated["uuid"],
        "k8s": k8s["uuid"],
        "twin": twin["uuid"],
        "shared": shared["uuid"],
    }


def _bad_baymodels(sc: Scenario) -> None:
    sc.call("POST", "/v1/baymodels", 400, json={})
    sc.call("POST", "/v1/baymodels", 400)
    sc.call(
        "POST",
        "/v1/baymodels",
        400,
        body='{"name": ',
        headers={"Content-Type": "application/json"},
    )
    sc.call("POST", "/v1/baymodels", 415, body="name=m9", headers={"Content-Type": "text/plain"})
    sc.call("POST", "/v1/baymodels", 400, json=[BAYMODEL])
    sc.call("POST", "/v1/baymodels", 400, json=BAYMODEL | {"bogus": 1, "extra": 2})
    sc.call("POST", "/v1/baymodels", 400, json=BAYMODEL | {"coe": "nomad"})
    sc.call("POST", "/v1/baymodels", 400, json={k: v for k, v in BAYMODEL.items() if k != "coe"})
    sc.call("POST", "/v1/baymodels", 400, json=BAYMODEL | {"network_driver": "calico"})
    sc.call(
        "POST",
        "/v1/baymodels",
        400,
        json=BAYMODEL
        | {
            "dns_nameserver": "not-an-ip",
            "apiserver_port": 80,
            "public": "maybe",
            "docker_volume_size": "5",
        },
    )
    sc.call("POST", "/v1/baymodels", 400, json=BAYMODEL | {"created_at": "2016-01-01T00:00:00"})
    sc.call("POST", "/v1/baymodels", 400, json=BAYMODEL | {"flavor_id": "too-big"})
    sc.call("POST", "/v1/baymodels?dry_run=1", 400, json=BAYMODEL)


def _read_baymodels(sc: Scenario, bm: dict[str, str]) -> None:
    sc.call("GET", "/v1/baymodels", 200)
    sc.call("GET", "/v1/baymodels/detail", 200)
    first = sc.call("GET", "/v1/baymodels?limit=3", 200)
    sc.call("GET", _next_path(first), 200)
    sc.call("GET", "/v1/baymodels/detail?sort_key=name&sort_dir=desc&limit=4", 200)
    sc.call("GET", "/v1/baymodels?sort_key=coe", 200)
    for query in (
        "sort_key=labels",
        "sort_key=project_id",
        "sort_dir=up",
        "limit=abc",
        "limit=0",
        "marker=not-a-uuid",
        "sort_key=name&sort_key=coe",
        "foo=bar",
    ):
        sc.call("GET", f"/v1/baymodels?{query}", 400)
    sc.call("GET", f"/v1/baymodels?marker={NO_SUCH}", 404)
    sc.call("GET", f"/v1/baymodels/{bm['m1']}", 200)
    sc.call("GET", "/v1/baymodels/m1", 200)
    sc.call("GET", f"/baymodels/{bm['m2']}", 200)  # the bookmark form
    sc.call("GET", "/v1/baymodels/twin", 409)
    sc.call("GET", "/v1/baymodels/nope", 404)
    sc.call("GET", f"/v1/baymodels/{NO_SUCH}", 404)
    # Another project sees the public baymodels and its own, and may not change others'.
    sc.call("GET", "/v1/baymodels", 200, project="p2")
    sc.call("GET", f"/v1/baymodels/{bm['m2']}", 200, project="p2")
    sc.call("GET", f"/v1/baymodels/{bm['m1']}", 404, project="p2")
    rename = [{"op": "replace", "path": "/name", "value": "mine"}]
    sc.call("PATCH", f"/v1/baymodels/{bm['m2']}", 403, json=rename, project="p2", headers=MEMBER)
    sc.call("DELETE", f"/v1/baymodels/{bm['m2']}", 403, project="p2", headers=MEMBER)
    sc.call("PUT", f"/v1/baymodels/{bm['m1']}", 405, json=BAYMODEL)


def _patch_baymodels(sc: Scenario, bm: dict[str, str]) -> None:
    path = f"/v1/baymodels/{bm['m1']}"
    sc.call(
        "PATCH",
        path,
        200,
        json=[
            {"op": "replace", "path": "/flavor_id", "value": "m1.medium"},
            {"op": "add", "path": "/master_flavor_id", "value": "m1.large"},
            {"op": "remove", "path": "/dns_nameserver"},
            {"op": "add", "path": "/labels/tier", "value": "gold"},
        ],
    )
    for ops in (
        [{"op": "replace", "path": "/uuid", "value": NO_SUCH}],
        [{"op": "replace", "path": "/project_id", "value": "p2"}],
        [{"op": "remove", "path": "/image_id"}],
        [{"op": "add", "path": "/flavor_id", "value": "m1.tiny"}],
        [{"op": "add", "path": "/bogus", "value": "x"}],
        [{"op": "move", "path": "/name", "from": "/image_id"}],
        [{"op": "replace", "path": "/name", "value": None}],
        [{"op": "remove", "path": "/labels/nope"}],
        [{"op": "remove", "path": "/nope"}],
        [{"op": "replace", "path": "/coe", "value": "nomad"}],
        [],
        {"op": "replace", "path": "/name", "value": "x"},
    ):
        sc.call("PATCH", path, 400, json=ops)
    sc.call("PATCH", "/v1/baymodels/twin", 409, json=[{"op": "remove", "path": "/labels"}])
    sc.call("DELETE", f"/v1/baymodels/{bm['twin']}", 204)
    sc.call("GET", "/v1/baymodels/twin", 200)  # one left: the name is no longer ambiguous


def _create_bays(sc: Scenario, bm: dict[str, str]) -> dict[str, str]:
    b1 = sc.call("POST", "/v1/bays", 201, json={"name": "b1", "baymodel_id": "m1", "uuid": NO_SUCH})
    sc.settle(f"/v1/bays/{b1['uuid']}", _created)
    b2 = sc.call(
        "POST",
        "/v1/bays",
        201,
        json={
            "name": "b2",
            "baymodel_id": bm["m2"],
            "node_count": 2,
            "master_count": 1,
            "bay_create_timeout": 30,
            "discovery_url": "https://discovery.etcd.io/golden",
            "status_reason": "set by the client",
        },
    )
    sc.settle(f"/v1/bays/{b2['uuid']}", _created)
    twins = [sc.call("POST", "/v1/bays", 201, json={"name": "twin", "baymodel_id": bm["m1"]})]
    twins.append(sc.call("POST", "/v1/bays", 201, json={"name": "twin", "baymodel_id": bm["m1"]}))
    for twin in twins:
        sc.settle(f"/v1/bays/{twin['uuid']}", _created)
    return {
        "b1": b1["uuid"],
        "b2": b2["uuid"],
        "twin-a": twins[0]["uuid"],
        "twin-b": twins[1]["uuid"],
    }


def _bad_bays(sc: Scenario, bm: dict[str, str]) -> None:
    m1 = bm["m1"]
    sc.call("POST", "/v1/bays", 400, json={})
    sc.call("POST", "/v1/bays", 400)
    sc.call("POST", "/v1/bays", 400, json={"baymodel_id": m1, "node_count": 0, "master_count": "2"})
    sc.call("POST", "/v1/bays", 400, json={"baymodel_id": m1, "name": "1bad"})
    sc.call("POST", "/v1/bays", 400, json={"baymodel_id": "nope"})
    sc.call("POST", "/v1/bays", 400, json={"baymodel_id": m1, "api_address": "tcp://1.2.3.4"})
    sc.call("POST", "/v1/bays", 400, json={"baymodel_id": m1, "colour": "red"})
    sc.call("POST", "/v1/bays", 400, json={"baymodel_id": m1, "status": "HAPPY"})
    sc.call("POST", "/v1/bays", 400, json={"baymodel_id": bm["k8s"]})


def _read_bays(sc: Scenario, bays: dict[str, str]) -> None:
    sc.call("GET", "/v1/bays", 200)
    sc.call("GET", "/v1/bays/detail", 200)
    first = sc.call("GET", "/v1/bays?limit=2", 200)
    sc.call("GET", _next_path(first), 200)
    sc.call("GET", "/v1/bays/detail?sort_key=name&sort_dir=desc", 200)
    sc.call("GET", "/v1/bays?sort_key=node_count&sort_dir=desc&limit=3", 200)
    sc.call("GET", "/v1/bays?sort_key=node_addresses", 400)
    sc.call("GET", "/v1/bays?sort_key=trust_id", 400)
    sc.call("GET", f"/v1/bays?marker={NO_SUCH}", 404)
    sc.call("GET", f"/v1/bays/{bays['b1']}", 200)
    sc.call("GET", "/v1/bays/b2", 200)
    sc.call("GET", "/bays/b1", 200)  # the bookmark form
    sc.call("GET", "/v1/bays/twin", 409)
    sc.call("GET", "/v1/bays/nope", 404)
    sc.call("GET", f"/v1/bays/{bays['b1']}?fields=name", 400)
    sc.call(
        "PATCH", "/v1/bays/twin", 409, json=[{"op": "replace", "path": "/node_count", "value": 2}]
    )
    sc.call("DELETE", "/v1/bays/twin", 409)
    for twin in (bays["twin-a"], bays["twin-b"]):
        sc.call("DELETE", f"/v1/bays/{twin}", 204)
    for twin in (bays["twin-a"], bays["twin-b"]):
        sc.settle(f"/v1/bays/{twin}", _gone)


def _patch_bays(sc: Scenario, bm: dict[str, str], bays: dict[str, str]) -> None:
    path = f"/v1/bays/{bays['b1']}"
    sc.call("DELETE", f"/v1/baymodels/{bm['m1']}", 400)  # referenced by b1
    sc.call(
        "PATCH",
        f"/v1/baymodels/{bm['m1']}",
        400,
        json=[{"op": "replace", "path": "/flavor_id", "value": "m1.xlarge"}],
    )
    sc.call("PATCH", path, 200, json=[{"op": "replace", "path": "/node_count", "value": 2}])
    sc.settle(path, _updated)
    sc.call("GET", path, 200)
    sc.call("PATCH", path, 200, json=[{"op": "replace", "path": "/node_count", "value": 2}])
    for ops in (
        [{"op": "replace", "path": "/name", "value": "b1x"}],
        [
            {"op": "replace", "path": "/baymodel_id", "value": bm["m2"]},
            {"op": "replace", "path": "/master_count", "value": 3},
        ],
        [{"op": "add", "path": "/discovery_url", "value": "https://discovery.etcd.io/x"}],
        [{"op": "replace", "path": "/status", "value": "CREATE_COMPLETE"}],
        [{"op": "replace", "path": "/api_address", "value": "tcp://1.2.3.4:2376"}],
        [{"op": "remove", "path": "/baymodel_id"}],
        [{"op": "replace", "path": "/node_count", "value": 0}],
        [{"op": "replace", "path": "/node_count", "value": "3"}],
    ):
        sc.call("PATCH", path, 400, json=ops)
    # `remove` resets a field to its default: node_count back to 1, a scale-down.
    sc.call("PATCH", path, 200, json=[{"op": "remove", "path": "/node_count"}])
    sc.settle(path, _updated)
    sc.call("GET", path, 200)
    sc.call("PATCH", f"/v1/bays/{NO_SUCH}", 404, json=[{"op": "remove", "path": "/node_count"}])


def _other_project(sc: Scenario, bm: dict[str, str], bays: dict[str, str]) -> None:
    b1 = f"/v1/bays/{bays['b1']}"
    sc.call("GET", "/v1/bays", 200, project="p2")
    sc.call("GET", b1, 404, project="p2")
    sc.call("PATCH", b1, 404, json=[{"op": "remove", "path": "/node_count"}], project="p2")
    sc.call("DELETE", b1, 404, project="p2")
    mine = sc.call(
        "POST", "/v1/bays", 201, json={"name": "p2-bay", "baymodel_id": bm["shared"]}, project="p2"
    )
    sc.settle(f"/v1/bays/{mine['uuid']}", _created, project="p2")
    sc.call("GET", "/v1/bays/detail", 200, project="p2")
    sc.call("DELETE", f"/v1/baymodels/{bm['shared']}", 400)  # used by p2's bay
    sc.call("DELETE", f"/v1/bays/{mine['uuid']}", 204, project="p2")
    sc.settle(f"/v1/bays/{mine['uuid']}", _gone, project="p2")


def _gated_bay(sc: Scenario, bm: dict[str, str]) -> None:
    """A create held at the fake driver's (never opened) gate, then deleted meanwhile."""
    bay = sc.call("POST", "/v1/bays", 201, json={"name": "held", "baymodel_id": bm["gated"]})
    path = f"/v1/bays/{bay['uuid']}"
    sc.settle(path, _gated)
    sc.call("GET", "/v1/bays/held", 200)
    sc.call("PATCH", path, 409, json=[{"op": "replace", "path": "/node_count", "value": 2}])
    sc.call("DELETE", f"/v1/baymodels/{bm['gated']}", 400)
    sc.call("DELETE", path, 204)  # a delete takes a running create over
    sc.settle(path, _gone)
    sc.call("GET", path, 404)


def _teardown(sc: Scenario, bm: dict[str, str], bays: dict[str, str]) -> None:
    path = f"/v1/bays/{bays['b1']}"
    sc.call("DELETE", path, 204)
    sc.settle(path, _gone)
    sc.call("GET", path, 404)
    sc.call("DELETE", path, 404)
    sc.call("DELETE", f"/v1/baymodels/{bm['m1']}", 204)
    sc.call("GET", f"/v1/baymodels/{bm['m1']}", 404)
    sc.call("GET", "/v1/bays/detail", 200)
    sc.call("GET", "/v1/baymodels", 200)


def run(sc: Scenario) -> None:
    _discovery(sc)
    bm = _create_baymodels(sc)
    _bad_baymodels(sc)
    _read_baymodels(sc, bm)
    _patch_baymodels(sc, bm)
    bays = _create_bays(sc, bm)
    _bad_bays(sc, bm)
    _read_bays(sc, bays)
    _patch_bays(sc, bm, bays)
    _other_project(sc, bm, bays)
    _gated_bay(sc, bm)
    _teardown(sc, bm, bays)


def test_bays_v1_golden(svc: Client, tmp_path: pathlib.Path) -> None:
    golden: list[dict[str, Any]] | None = None
    if not RECORD:
        golden = json.loads(GOLDEN.read_text())
        assert isinstance(golden, list) and golden, f"{GOLDEN} holds no recording"
    sc = Scenario(svc, tmp_path / "gate", golden)
    try:
        run(sc)
    except AssertionError as exc:
        if sc.mismatches:  # an earlier answer differed: that is the news, not this
            pytest.fail(f"{sc.report()}\n\nThe scenario then stopped: {exc}", pytrace=False)
        raise
    if RECORD:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(sc.steps, indent=1) + "\n")
        assert json.loads(GOLDEN.read_text()) == sc.steps
        return
    assert golden is not None
    if sc.mismatches:
        pytest.fail(sc.report(), pytrace=False)
    assert len(sc.steps) == len(golden), (
        f"the scenario sent {len(sc.steps)} requests; {GOLDEN.name} recorded {len(golden)}"
    )
