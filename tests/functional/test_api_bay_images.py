# SPDX-License-Identifier: Apache-2.0
"""POST /v1/bays/{bay}/images with the test-double drivers, on the three databases: the
API's checks, the RPC call, the conductor's hold on a settled bay, and what the answer
is when the COE driver cannot load images. The real loading is in test_bay_images.py."""

from __future__ import annotations

import datetime
import gzip
import io
import json
import pathlib
import tarfile
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from magnum.common import exceptions, utils
from magnum.conductor import operations
from magnum.conductor.handlers import images as image_handlers
from magnum.db import models
from magnum.objects import clusters as leases
from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service

TAR = {"Content-Type": "application/x-tar"}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVE = _tar(
    {
        "c.json": b"{}",
        "l/layer.tar": _tar({"hello.txt": b"hi"}),
        "manifest.json": json.dumps(
            [{"Config": "c.json", "RepoTags": ["t/x:1"], "Layers": ["l/layer.tar"]}]
        ).encode(),
    }
)


def _settled(body: dict[str, Any] | None) -> bool:
    return body is not None and not body["status"].endswith("IN_PROGRESS")


def _cluster(svc: Service, name: str = "b1", **model: Any) -> dict[str, Any]:
    assert svc.post("/v1/baymodels", BAYMODEL | {"name": f"m-{name}"} | model).status_code == 201
    res = svc.post("/v1/bays", {"name": name, "baymodel_id": f"m-{name}"})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json
    return body


def _upload(svc: Service, ident: str, body: bytes, **kw: Any) -> Any:
    headers = kw.pop("headers", TAR)
    return svc.request("POST", f"/v1/bays/{ident}/images", body=body, headers=headers, **kw)


def test_bad_uploads(service_factory: Any, tmp_path: pathlib.Path) -> None:
    svc = service_factory(api={"max_image_size": 65536})
    gate = tmp_path / "gate"
    created = _cluster(svc, labels={"fake_gate": str(gate)})
    _api.error(_upload(svc, created["uuid"], ARCHIVE), 409, contains=("CREATE_IN_PROGRESS",))
    gate.touch()
    cluster = svc.wait_cluster("b1", _settled)
    assert cluster is not None and cluster["status"] == "CREATE_COMPLETE", cluster

    # Through the API, the RPC call and the conductor's hold, to a COE that cannot load.
    _api.error(_upload(svc, "b1", ARCHIVE), 400, "Loading images into swarm bays is not supported.")
    _api.error(_upload(svc, "b1", b"not a tar" * 100), 400, contains=("not a tar archive",))
    _api.error(_upload(svc, "b1", _tar({"a": b"b"})), 400, contains=("no manifest.json",))
    _api.error(_upload(svc, "b1", b""), 400, contains=("Missing image archive",))
    _api.error(_upload(svc, "b1", b"x" * 65537), 413, contains=("65536 bytes",))
    _api.error(
        _upload(svc, "b1", b"{}", headers={"Content-Type": "application/json"}),
        415,
        contains=("application/json",),
    )
    _api.error(_upload(svc, "b1", ARCHIVE, params={"x": "1"}), 400, 'Unknown argument: "x"')
    _api.error(_upload(svc, utils.new_uuid(), ARCHIVE), 404)
    _api.error(_upload(svc, "b1", ARCHIVE, project="p2"), 404)
    assert not list((pathlib.Path(svc.conf.state_path) / "uploads").iterdir())

    # Another conductor holds the settled bay for an action of its own: 409 "busy".
    with svc.db.session() as session:
        session.execute(
            sa.update(models.Cluster)
            .where(models.Cluster.uuid == cluster["uuid"])
            .values(
                lease_owner="elsewhere",
                lease_expires_at=utils.utcnow() + datetime.timedelta(minutes=5),
            )
        )
    _api.error(_upload(svc, "b1", ARCHIVE), 409, contains=("busy",))


def test_unpacked_size_and_entries_are_limited_before_the_conductor(
    service_factory: Any,
) -> None:
    """A small upload that unpacks to more than [api] max_image_unpacked_size, or holds more
    than max_image_members entries, is refused by the API's inspection (413): the conductor,
    which would answer "not supported" here, never hears of it."""
    svc = service_factory(
        api={"max_image_size": 65536, "max_image_unpacked_size": 1 << 20, "max_image_members": 50}
    )
    _cluster(svc)
    cluster = svc.wait_cluster("b1", _settled)
    assert cluster is not None and cluster["status"] == "CREATE_COMPLETE", cluster
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["t/x:1"], "Layers": ["l/layer.tar"]}])
    files = {"c.json": b"{}", "manifest.json": manifest.encode()}
    bomb = gzip.compress(_tar(files | {"l/layer.tar": bytes(2 << 20)}), mtime=0)
    assert len(bomb) < 65536
    _api.error(_upload(svc, "b1", bomb), 413, contains=("max_image_unpacked_size", "1048576"))
    layer_bomb = _tar(files | {"l/layer.tar": gzip.compress(bytes(2 << 20), mtime=0)})
    _api.error(_upload(svc, "b1", layer_bomb), 413, contains=("max_image_unpacked_size",))
    crowded = _tar(files | {"l/layer.tar": _tar({f"f{i}": b"" for i in range(60)})})
    _api.error(_upload(svc, "b1", crowded), 413, contains=("max_image_members", "50 files"))
    # Within every limit, the archive reaches the conductor; the compressed size still counts.
    _api.error(_upload(svc, "b1", ARCHIVE), 400, "Loading images into swarm bays is not supported.")
    _api.error(_upload(svc, "b1", b"x" * 65537), 413, contains=("max_image_size",))
    assert not list((pathlib.Path(svc.conf.state_path) / "uploads").iterdir())


def test_errors_never_name_the_state_path(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """A conductor that fails to open the upload (an OSError names its file) answers an
    error that does not say where the host keeps its state."""

    def fail(drivers: Any, task: Any, path: pathlib.Path) -> None:
        raise FileNotFoundError(2, "No such file or directory", str(path))

    monkeypatch.setattr(image_handlers, "load", fail)
    _cluster(svc)
    assert svc.wait_cluster("b1", _settled) is not None
    res = _upload(svc, "b1", ARCHIVE)
    _api.error(res, 500, contains=("No such file or directory: '<host path>'",), code="server")
    assert svc.conf.state_path not in res.text


def test_openapi_names_the_route(svc: Service) -> None:
    doc = svc.get("/v1/openapi.json").json
    post = doc["paths"]["/v1/bays/{ident}/images"]["post"]
    assert "application/x-tar" in post["requestBody"]["content"]
    assert {"201", "400", "404", "409", "413", "415"} <= set(post["responses"])


def test_operation_requested_during_a_hold_runs_after_it(svc: Service) -> None:
    """A scale recorded while a conductor holds the settled bay starts once the hold ends."""
    cluster = svc.wait_cluster(_cluster(svc)["uuid"], _settled)
    assert cluster is not None and cluster["status"] == "CREATE_COMPLETE"
    seen: dict[str, Any] = {}

    def action(drivers: Any, task: Any) -> str:
        del drivers
        res = svc.patch("/v1/bays/b1", [{"op": "replace", "path": "/node_count", "value": 3}])
        seen["patch"] = res.status_code
        with svc.db.session() as session:
            row = session.scalar(
                sa.select(models.Cluster).where(models.Cluster.uuid == task.cluster.uuid)
            )
            assert row is not None
            seen["status"] = row.status
        return "done"

    assert svc.conductor.ops.on_settled(cluster["uuid"], action) == "done"
    assert seen == {"patch": 200, "status": "UPDATE_IN_PROGRESS"}
    done = svc.wait_cluster("b1", _settled)
    assert done is not None and done["status"] == "UPDATE_COMPLETE", done
    assert len(done["node_addresses"]) == 3


def test_hold_settled_outcomes(svc: Service) -> None:
    db = svc.db
    cluster = svc.wait_cluster(_cluster(svc)["uuid"], _settled)
    assert cluster is not None
    uuid, statuses = cluster["uuid"], ["CREATE_COMPLETE", "UPDATE_COMPLETE"]
    hold = leases.Hold
    assert leases.hold_settled(db, utils.new_uuid(), owner="a", ttl=5, statuses=statuses) is (
        hold.GONE
    )
    assert leases.hold_settled(db, uuid, owner="a", ttl=5, statuses=statuses) is hold.HELD
    # Exclusive: neither another conductor nor a second action of the same one.
    assert leases.hold_settled(db, uuid, owner="b", ttl=5, statuses=statuses) is hold.BUSY
    assert leases.hold_settled(db, uuid, owner="a", ttl=5, statuses=statuses) is hold.BUSY
    leases.release(db, uuid, owner="a")
    assert leases.hold_settled(db, uuid, owner="b", ttl=5, statuses=["UPDATE_COMPLETE"]) is (
        hold.UNSETTLED
    )
    with db.session() as session:
        session.execute(
            sa.update(models.Cluster).where(models.Cluster.uuid == uuid).values(operation="delete")
        )
    assert leases.hold_settled(db, uuid, owner="b", ttl=5, statuses=statuses) is hold.UNSETTLED
    with db.session() as session:
        session.execute(
            sa.update(models.Cluster).where(models.Cluster.uuid == uuid).values(operation=None)
        )


def test_concurrent_uploads_to_one_bay_one_wins_or_both_serialize(svc: Service) -> None:
    """Two uploads at once: each gets a definite answer (here the fake COE's 400, or 409
    busy if the other held the bay), never a 500."""
    cluster = svc.wait_cluster(_cluster(svc)["uuid"], _settled)
    assert cluster is not None
    results: list[int] = []

    def post() -> None:
        results.append(_upload(svc, "b1", ARCHIVE).status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) in ([400, 400], [400, 409]), results


def test_action_waits_for_the_runner_of_a_just_settled_operation(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = svc.wait_cluster(_cluster(svc)["uuid"], _settled)
    assert cluster is not None
    ops = svc.conductor.ops
    monkeypatch.setattr(operations, "SETTLE_WAIT", 0.2)
    with ops._lock:
        # first let the create's own runner leave, then stand in for one that does not
        assert ops._idle.wait_for(lambda: cluster["uuid"] not in ops._running, 10)
        ops._running.add(cluster["uuid"])
    with pytest.raises(exceptions.InvalidState, match="busy"):
        ops.on_settled(cluster["uuid"], lambda drivers, task: "done")

    def runner_leaves() -> None:
        with ops._lock:
            ops._running.discard(cluster["uuid"])
            ops._idle.notify_all()

    monkeypatch.setattr(operations, "SETTLE_WAIT", 30.0)
    with ops._lock:
        ops._running.add(cluster["uuid"])
    leaving = threading.Thread(target=runner_leaves)
    leaving.start()  # before or while on_settled waits: either way no refusal
    assert ops.on_settled(cluster["uuid"], lambda drivers, task: "done") == "done"
    leaving.join(5)
