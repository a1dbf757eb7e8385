# SPDX-License-Identifier: Apache-2.0
"""Our errors cross an RPC call intact, over inproc:// and over RabbitMQ."""

from __future__ import annotations

import uuid
from typing import Any

import oslo_messaging as messaging
import pytest

from magnum import conf as magnum_conf
from magnum.common import exceptions, rpc
from tests.conftest import RABBIT


class ForeignError(Exception):
    """Not from magnum.common.exceptions, so not allow-listed for rebuilding."""


class _Endpoint:
    target = messaging.Target(version="1.0")

    def fail(self, ctxt: dict[str, Any], kind: str) -> None:
        if kind == "notfound":
            raise exceptions.BayNotFound(cluster="b1")
        if kind == "conflict":
            raise exceptions.InvalidState(detail="Bay b1 is busy.")
        raise ForeignError("not one of ours")


@pytest.mark.parametrize("url", ["inproc://", pytest.param(RABBIT, marks=pytest.mark.rabbit)])
def test_magnum_errors_are_rebuilt_on_the_calling_side(url: str) -> None:
    conf = magnum_conf.load(
        [],
        config_files=[],
        overrides={
            "DEFAULT": {"transport_url": url},
            "conductor": {"topic": f"errors-{uuid.uuid4().hex[:8]}"},
        },
    )
    transport = rpc.transport(conf)
    server = messaging.get_rpc_server(transport, rpc.target(conf, server="s1"), [_Endpoint()])
    server.start()
    try:
        client = messaging.get_rpc_client(transport, rpc.target(conf)).prepare(timeout=10)
        with pytest.raises(exceptions.BayNotFound) as notfound:  # the subclass, not its base
            client.call({}, "fail", kind="notfound")
        assert notfound.value.status == 404
        assert notfound.value.message == "Bay b1 could not be found."
        with pytest.raises(exceptions.InvalidState) as conflict:
            client.call({}, "fail", kind="conflict")
        assert conflict.value.status == 409 and conflict.value.fields == {
            "detail": "Bay b1 is busy."
        }
        with pytest.raises(messaging.RemoteError) as foreign:  # never passed off as ours
            client.call({}, "fail", kind="other")
        assert foreign.value.exc_type == "ForeignError"
    finally:
        server.stop()
        server.wait()
        transport.cleanup()
