# SPDX-License-Identifier: Apache-2.0
"""Microversions as data: the history table, gates on routes and fields, and the one helper
that reads the negotiated version."""

from __future__ import annotations

import falcon
import falcon.testing
import pytest

from magnum.api import microversions, versions
from magnum.api.microversions import Fields, field, gate
from magnum.common import exceptions


def test_history_is_1_1_to_1_14_one_line_each() -> None:
    assert [m.version for m in microversions.HISTORY] == [(1, minor) for minor in range(1, 15)]
    assert all(m.adds.strip() for m in microversions.HISTORY)
    assert microversions.MIN_VERSION == (1, 1)
    assert microversions.MAX_VERSION in microversions.KNOWN
    served = [m.version for m in microversions.HISTORY if m.version <= microversions.MAX_VERSION]
    assert list(microversions.SERVED) == served
    # negotiation announces the table's range
    assert (versions.MIN_VERSION, versions.MAX_VERSION) == (
        microversions.MIN_VERSION,
        microversions.MAX_VERSION,
    )


def test_only_versions_of_the_history_are_accepted() -> None:
    assert microversions.parse("1.13") == (1, 13)
    for bad in ("1.0", "1.15", "2.1"):
        with pytest.raises(ValueError, match="not a microversion"):
            microversions.parse(bad)
    with pytest.raises(ValueError, match="not a microversion"):
        gate(since=(1, 99))


def test_gates_are_half_open_ranges() -> None:
    mitaka = gate(until="1.11")
    assert mitaka.admits((1, 1)) and mitaka.admits((1, 10)) and not mitaka.admits((1, 11))
    nodegroups = gate(since="1.9")
    assert not nodegroups.admits((1, 8)) and nodegroups.admits((1, 14))
    both = mitaka & nodegroups
    assert both == gate(since="1.9", until="1.11")
    assert sorted(v for v in microversions.KNOWN if both.admits(v)) == [(1, 9), (1, 10)]
    assert microversions.ALWAYS.everywhere() and microversions.ALWAYS.served()
    # what a client without a version header gets, every gate on Mitaka's routes admits
    assert mitaka.admits(microversions.MIN_VERSION)
    assert not nodegroups.served(((1, 1), (1, 2))) and nodegroups.served(((1, 1), (1, 9)))
    assert mitaka.describe() == {"since": "1.1", "until": "1.11"}


def test_gate_check_is_406_before_and_404_after() -> None:
    g = gate(since="1.5", until="1.11")
    g.check((1, 5), "PATCH /v1/certificates/{ident}")
    with pytest.raises(exceptions.NotAcceptable) as before:
        g.check((1, 4), "PATCH /v1/certificates/{ident}")
    assert before.value.message == (
        "Version 1.4 was requested but the requested API PATCH /v1/certificates/{ident} is "
        "not supported for this version."
    )
    with pytest.raises(exceptions.RemovedInVersion, match="removed in microversion"):
        g.check((1, 11), "x")


def test_fields_shown_per_version() -> None:
    shown = Fields("uuid", field("stack_id", until="1.13"), field("cluster_id", since="1.13"))
    assert shown.at((1, 1)) == ("uuid", "stack_id")
    assert shown.at((1, 12)) == ("uuid", "stack_id")
    assert shown.at((1, 13)) == ("uuid", "cluster_id")
    assert tuple(shown) == ("uuid", "stack_id", "cluster_id")
    assert len(shown) == 3
    assert shown.gate("cluster_id") == gate(since="1.13")
    assert shown.gate("uuid") == microversions.ALWAYS
    with pytest.raises(ValueError, match="named twice"):
        Fields("uuid", field("uuid", since="1.2"))


def test_negotiated_reads_what_the_middleware_stored() -> None:
    seen: list[microversions.Version] = []

    class Probe:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            seen.append(microversions.negotiated(req))

    class Store:
        def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
            if req.path.startswith("/v1"):
                req.context[microversions.CONTEXT_KEY] = (1, 7)

    app = falcon.App(middleware=[Store()])
    app.add_route("/v1/x", Probe())
    app.add_route("/", Probe())
    client = falcon.testing.TestClient(app)
    client.simulate_get("/v1/x")
    client.simulate_get("/")  # outside /v1 nothing is negotiated: the minimum
    assert seen == [(1, 7), microversions.MIN_VERSION]
