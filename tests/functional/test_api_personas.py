# SPDX-License-Identifier: Apache-2.0
"""The default policy's personas through the API, on the three databases: a caller whose
only role is reader reads everything of its project and changes nothing (every rule was
admin_or_owner, so a reader executed commands, signed certificates and scaled bays);
member does both; a caller that names no role (noauth's development mode) is admin and
member."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service

READER = {"X-Roles": "reader"}
IMAGE = "local/busybox:latest"
CSR = "-----BEGIN CERTIFICATE REQUEST-----\nnot checked before the policy\n-----END..."


@pytest.fixture
def world(svc: Service) -> dict[str, Any]:
    """A baymodel, a settled bay and a container of p1, made by its default caller."""
    model = _api.make_cluster_template(svc)
    res = svc.post("/v1/bays", {"name": "b1", "baymodel_id": model["uuid"]})
    assert res.status_code == 201, res.text
    bay = svc.wait_cluster("b1", lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    assert bay is not None
    res = svc.post("/v1/containers", {"image": IMAGE, "bay_uuid": bay["uuid"], "name": "c1"})
    assert res.status_code == 201, res.text
    return {"model": model, "bay": bay, "container": res.json}


def _writes(world: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(rule, method, path, request keywords) of every request that writes or acts."""
    m, b, c = world["model"]["uuid"], world["bay"]["uuid"], world["container"]["uuid"]
    rename = [{"op": "replace", "path": "/name", "value": "x"}]
    container = f"/v1/containers/{c}"
    tar = {"body": b"x" * 1024, "headers": {"Content-Type": "application/x-tar"}}
    return [
        ("baymodel:create", "POST", "/v1/baymodels", {"json": BAYMODEL | {"name": "m2"}}),
        ("baymodel:update", "PATCH", f"/v1/baymodels/{m}", {"json": rename}),
        ("baymodel:delete", "DELETE", f"/v1/baymodels/{m}", {}),
        ("bay:create", "POST", "/v1/bays", {"json": {"name": "b2", "baymodel_id": m}}),
        (
            "bay:update",
            "PATCH",
            f"/v1/bays/{b}",
            {"json": [{"op": "replace", "path": "/node_count", "value": 2}]},
        ),
        ("bay:delete", "DELETE", f"/v1/bays/{b}", {}),
        ("bay:load_image", "POST", f"/v1/bays/{b}/images", tar),
        ("container:create", "POST", "/v1/containers", {"json": {"image": IMAGE, "bay_uuid": b}}),
        ("container:update", "PATCH", container, {"json": rename}),
        ("container:delete", "DELETE", container, {}),
        *(
            (f"container:{action}", "PUT", f"{container}/{action}", {})
            for action in ("start", "stop", "reboot", "pause", "unpause")
        ),
        ("container:execute", "PUT", f"{container}/execute", {"params": {"command": "id"}}),
        ("certificate:create", "POST", "/v1/certificates", {"json": {"bay_uuid": b, "csr": CSR}}),
    ]


def _reads(world: dict[str, Any]) -> list[str]:
    m, b, c = world["model"]["uuid"], world["bay"]["uuid"], world["container"]["uuid"]
    return [
        "/v1/baymodels",
        "/v1/baymodels/detail",
        f"/v1/baymodels/{m}",
        "/v1/bays",
        "/v1/bays/detail",
        f"/v1/bays/{b}",
        f"/v1/bays/{b}/events",
        "/v1/containers",
        "/v1/containers/detail",
        f"/v1/containers/{c}",
        f"/v1/containers/{c}/logs",
        f"/v1/certificates/{b}",
    ]


# What a write would change: the fields of each row that the requests above could touch.
KEPT = {
    "baymodels": ("uuid", "name", "public"),
    "bays": ("uuid", "name", "node_count", "status"),
    "containers": ("uuid", "name"),
}


def _snapshot(svc: Service) -> dict[str, list[dict[str, Any]]]:
    return {
        key: [{f: row[f] for f in fields} for row in svc.get(f"/v1/{key}/detail").json[key]]
        for key, fields in KEPT.items()
    }


def test_reader_reads_and_never_writes(
    svc: Service, world: dict[str, Any], subtests: pytest.Subtests
) -> None:
    before = _snapshot(svc)
    for path in _reads(world):
        with subtests.test(read=path):
            res = svc.get(path, headers=READER)
            assert res.status_code == 200, res.text
    for rule, method, path, kw in _writes(world):
        with subtests.test(write=rule):
            res = svc.request(method, path, headers=READER | kw.pop("headers", {}), **kw)
            _api.error(res, 403, f"Policy doesn't allow {rule} to be performed.")
    assert _snapshot(svc) == before
    assert svc.get(f"/v1/bays/{world['bay']['uuid']}").json["status"] == "CREATE_COMPLETE"


@pytest.mark.parametrize("roles", ["member", "admin", "reader,member", None])
def test_member_and_admin_still_write(
    service_factory: Callable[..., Service], roles: str | None
) -> None:
    """None: no X-Roles at all, which noauth (development, the all-in-one) makes admin and
    member."""
    svc = service_factory()
    headers = {} if roles is None else {"X-Roles": roles}
    model = _api.make_cluster_template(svc)
    res = svc.patch(
        f"/v1/baymodels/{model['uuid']}",
        [{"op": "replace", "path": "/name", "value": "renamed"}],
        headers=headers,
    )
    assert res.status_code == 200, res.text
    res = svc.post("/v1/bays", {"name": "b1", "baymodel_id": model["uuid"]}, headers=headers)
    assert res.status_code == 201, res.text
    assert svc.delete(f"/v1/bays/{res.json['uuid']}", headers=headers).status_code == 204


@pytest.mark.parametrize("roles", ["", "observer", " , "])
def test_a_caller_without_a_persona_does_nothing(svc: Service, roles: str) -> None:
    model = _api.make_cluster_template(svc)
    headers = {"X-Roles": roles}
    _api.error(svc.get("/v1/baymodels", headers=headers), 403)
    _api.error(svc.get(f"/v1/baymodels/{model['uuid']}", headers=headers), 403)
    _api.error(svc.post("/v1/baymodels", BAYMODEL, headers=headers), 403)
    _api.error(svc.get(f"/v1/containers/{uuid.uuid4()}", headers=headers), 404)
