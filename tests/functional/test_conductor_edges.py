# SPDX-License-Identifier: Apache-2.0
"""Conductor edges: a caller's error raised in a conductor is logged as one line (a real
fault keeps its traceback), and a conductor restarted on its own state takes over at once
what its dead predecessor held instead of waiting out the lease."""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
import pathlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from magnum import conf as magnum_conf
from magnum.common import context, exceptions, rpc, utils
from magnum.conductor import rpcapi
from magnum.db import models
from tests.conftest import RABBIT
from tests.functional.conftest import BAYMODEL, Service


def _conductor_client(svc: Service) -> rpcapi.ConductorAPI:
    return rpcapi.ConductorAPI(svc.conf, rpc.transport(svc.conf))


def _ctx() -> context.RequestContext:
    return context.RequestContext(project_id="p1", user_id="u1", request_id="req-edge")


def test_a_callers_error_in_the_conductor_is_one_line(
    svc: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    missing = utils.new_uuid()
    with pytest.raises(exceptions.ContainerNotFound):
        _conductor_client(svc).container_show(_ctx(), uuid=missing)
    conductor_side = [r for r in caplog.records if not r.name.startswith("magnum.conductor.rpc")]
    assert not [r for r in conductor_side if r.levelno >= logging.WARNING], [
        r.getMessage() for r in conductor_side if r.levelno >= logging.WARNING
    ]
    assert not [r for r in conductor_side if r.exc_info and r.levelno > logging.DEBUG]
    lines = [r for r in conductor_side if missing in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.INFO], [r.getMessage() for r in lines]
    assert "ContainerNotFound" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()


def test_a_real_fault_in_the_conductor_keeps_its_traceback(
    svc: Service, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(uuid: str) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(svc.conductor.containers, "show", broken)
    with pytest.raises(exceptions.DriverError):
        _conductor_client(svc).container_show(_ctx(), uuid=utils.new_uuid())
    faults = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert faults and "the disk caught fire" in str(faults[0].exc_info[1])  # type: ignore[index]


class _Endpoint:
    target = messaging.Target(version="1.0")

    def fail(self, ctxt: dict[str, Any]) -> None:
        def conflict() -> None:
            raise exceptions.InvalidState(detail="Bay b1 is busy.")

        rpc.answer("Acting", conflict)


@pytest.mark.parametrize("url", ["inproc://", pytest.param(RABBIT, marks=pytest.mark.rabbit)])
def test_an_expected_error_crosses_the_wire_intact_and_quietly(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    conf = magnum_conf.load(
        [],
        config_files=[],
        overrides={
            "DEFAULT": {"transport_url": url},
            "conductor": {"topic": f"edges-{uuid.uuid4().hex[:8]}"},
        },
    )
    transport = rpc.transport(conf)
    server = messaging.get_rpc_server(transport, rpc.target(conf, server="s1"), [_Endpoint()])
    server.start()
    try:
        client = messaging.get_rpc_client(transport, rpc.target(conf)).prepare(timeout=10)
        with pytest.raises(exceptions.InvalidState) as conflict:
            client.call({}, "fail")
        assert conflict.value.status == 409
        assert conflict.value.fields == {"detail": "Bay b1 is busy."}
    finally:
        server.stop()
        server.wait()
        transport.cleanup()
    ours = [r for r in caplog.records if r.name.startswith(("magnum", "oslo_messaging.rpc"))]
    assert not [r for r in ours if r.levelno >= logging.WARNING], [r.getMessage() for r in ours]
    assert [r.getMessage() for r in ours if r.name == "magnum.common.rpc"] == [
        "Acting: 409 InvalidState: Bay b1 is busy."
    ]


# --- a restarted conductor and its dead predecessor's leases ---------------------------
@pytest.fixture
def held_bay(service_factory: Callable[..., Service]) -> Iterator[tuple[Service, str]]:
    """A conductor, and a bay whose create is held by `test:1:gone` (this host, as the
    tests configure it) for another minute, as a conductor killed mid-create leaves it."""
    svc = service_factory()
    model = svc.post("/v1/baymodels", BAYMODEL).json
    uuid = utils.new_uuid()
    with svc.db.session() as session:
        session.add(
            models.Cluster(
                uuid=uuid,
                project_id="p1",
                cluster_template_id=model["uuid"],
                node_count=1,
                master_count=1,
                status="CREATE_IN_PROGRESS",
                operation="create",
                lease_owner="test:1:gone",
                lease_expires_at=utils.utcnow() + datetime.timedelta(seconds=60),
                operation_deadline=utils.utcnow() + datetime.timedelta(minutes=5),
                node_addresses=[],
                master_addresses=[],
                driver_state={},
            )
        )
    yield svc, uuid


def _incarnation_file(svc: Service, owner: str) -> pathlib.Path:
    directory = pathlib.Path(svc.conf.state_path) / "conductors"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{owner}.lock"
    path.touch()
    return path


def _lease_owner(svc: Service, uuid: str) -> str | None:
    with svc.db.session() as session:
        owner: str | None = session.scalar(
            sa.select(models.Cluster.lease_owner).where(models.Cluster.uuid == uuid)
        )
        return owner


def test_a_restarted_conductor_takes_over_its_dead_predecessors_leases_at_once(
    service_factory: Callable[..., Service], held_bay: tuple[Service, str]
) -> None:
    svc, uuid = held_bay
    dead = _incarnation_file(svc, "test:1:gone")  # nobody holds its lock: its owner died
    started = time.monotonic()
    service_factory()  # the next incarnation, on the same host and state directory
    cluster = svc.wait_cluster(
        uuid, lambda b: b is not None and b["status"] == "CREATE_COMPLETE", timeout=15
    )
    assert cluster is not None
    assert time.monotonic() - started < 15  # not the minute the lease had left
    assert not dead.exists()


def test_a_live_or_foreign_conductors_leases_are_left_alone(
    service_factory: Callable[..., Service], held_bay: tuple[Service, str]
) -> None:
    svc, uuid = held_bay
    alive = _incarnation_file(svc, "test:1:gone")
    fd = os.open(alive, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # its owner still lives
        foreign = _incarnation_file(svc, "elsewhere:1:gone")  # another host's name
        service_factory()
        time.sleep(0.5)  # a scan or two
        assert _lease_owner(svc, uuid) == "test:1:gone"
        assert alive.exists() and foreign.exists()
    finally:
        os.close(fd)
