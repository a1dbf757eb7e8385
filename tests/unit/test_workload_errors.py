# SPDX-License-Identifier: Apache-2.0
"""The errors of the cluster's own API cross an RPC call as themselves, with their status
(WorkloadAPIError's is the instance's own), over inproc:// and over RabbitMQ."""

from __future__ import annotations

import uuid
from typing import Any

import oslo_messaging as messaging
import pytest

from magnum import conf as magnum_conf
from magnum.common import exceptions, rpc
from tests.conftest import RABBIT


class _Endpoint:
    target = messaging.Target(version="1.0")

    def fail(self, ctxt: dict[str, Any], kind: str) -> None:
        errors: dict[str, exceptions.MagnumError] = {
            "busy": exceptions.WorkloadAPIError(detail="etcd is away", http_status=503),
            "odd": exceptions.WorkloadAPIError(detail="gone", http_status=410),
            "exists": exceptions.WorkloadConflict(detail='pods "web" already exists'),
            "missing": exceptions.WorkloadNotFound(detail='pods "web" not found'),
            "uid": exceptions.PodNotFound(pod="u1"),
        }
        rpc.answer("fail", lambda: _raise(errors[kind]))  # as the conductor's endpoints do


def _raise(exc: Exception) -> None:
    raise exc


def test_statuses() -> None:
    assert exceptions.WorkloadAPIError(detail="x", http_status=429).status == 429
    assert exceptions.WorkloadAPIError(detail="x", http_status=418).status == 500
    assert exceptions.WorkloadAPIError(detail="x").status == 500
    assert exceptions.MagnumError.status == 500  # the class's own is untouched
    assert exceptions.WORKLOAD_NOT_FOUND["replicationcontroller"].of("r1").message == (
        "ReplicationController r1 could not be found."
    )
    assert exceptions.ServiceNotFound(service="s1").status == 404


@pytest.mark.parametrize("url", ["inproc://", pytest.param(RABBIT, marks=pytest.mark.rabbit)])
def test_workload_errors_are_rebuilt_on_the_calling_side(url: str) -> None:
    conf = magnum_conf.load(
        [],
        config_files=[],
        overrides={
            "DEFAULT": {"transport_url": url},
            "conductor": {"topic": f"workload-errors-{uuid.uuid4().hex[:8]}"},
        },
    )
    transport = rpc.transport(conf)
    server = messaging.get_rpc_server(transport, rpc.target(conf, server="s1"), [_Endpoint()])
    server.start()
    try:
        client = messaging.get_rpc_client(transport, rpc.target(conf)).prepare(timeout=10)
        expected: dict[str, tuple[type[exceptions.MagnumError], int, str]] = {
            "busy": (exceptions.WorkloadAPIError, 503, "etcd is away"),
            "odd": (exceptions.WorkloadAPIError, 500, "gone"),
            "exists": (exceptions.WorkloadConflict, 409, 'pods "web" already exists'),
            "missing": (exceptions.WorkloadNotFound, 404, 'pods "web" not found'),
            "uid": (exceptions.PodNotFound, 404, "Pod u1 could not be found."),
        }
        for kind, (cls, status, message) in expected.items():
            with pytest.raises(cls) as caught:
                client.call({}, "fail", kind=kind)
            assert (caught.value.status, caught.value.message) == (status, message), kind
    finally:
        server.stop()
        server.wait()
        transport.cleanup()
