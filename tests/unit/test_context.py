# SPDX-License-Identifier: Apache-2.0
"""The caller crosses RPC: a context rebuilt from its dict, and log records written while
serving it name its request id."""

from __future__ import annotations

import logging

import pytest

from magnum.common import context


def test_round_trip_through_a_dict() -> None:
    ctx = context.RequestContext(
        project_id="p1", user_id="u1", roles=("member", "reader"), auth_token="secret"
    )
    data = ctx.to_dict()
    assert "auth_token" not in data
    back = context.RequestContext.from_dict(data | {"unknown": 1})
    assert back == context.RequestContext(
        project_id="p1", user_id="u1", roles=("member", "reader"), request_id=ctx.request_id
    )


def test_log_records_name_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("magnum.test.caller")
    handler = caplog.handler
    handler.addFilter(context.CallerFilter())
    try:
        with caplog.at_level(logging.INFO):
            log.info("before")
            with context.calling({"project_id": "p1", "request_id": "req-abc"}) as caller:
                assert context.caller() is caller
                log.info("during")
            log.info("after")
    finally:
        handler.removeFilter(handler.filters[-1])
    seen = [(r.getMessage(), r.__dict__["request_id"]) for r in caplog.records]
    assert seen == [("before", "-"), ("during", "req-abc"), ("after", "-")]
    assert context.caller() is None
