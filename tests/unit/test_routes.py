# SPDX-License-Identifier: Apache-2.0
"""The route table: it matches the resources, it gates routes and operations by version,
and it alone says what /v1 lists and which operations read their own bodies."""

from __future__ import annotations

import types
from typing import Any

import falcon
import falcon.testing
import pytest

from magnum.api import errors, microversions, routes, routing
from magnum.api.microversions import gate
from magnum.api.routing import Operation, Resource, Route

SERVED = ((1, 1), (1, 2), (1, 3))
STUB_API: Any = types.SimpleNamespace()


def test_the_table_matches_the_resources() -> None:
    """Every declared method has its responder and every responder is declared (install
    refuses a table that disagrees with its resources)."""
    routing.install(falcon.App(), STUB_API, routes.TABLE)
    paths = [r.path for r in routes.TABLE]
    assert len(paths) == len(set(paths))
    for route in routes.TABLE:
        methods = [op.method for op in route.operations]
        assert len(methods) == len(set(methods)), route.path


def test_routes_naming_one_resource_share_one_instance() -> None:
    made: list[object] = []

    def make(api: Any) -> object:
        made.append(thing := _Listing())
        return thing

    shared = Resource(make)
    table = (
        Route(path="/v1/things", resource=shared, tag="t", operations=(_op("GET"),)),
        Route(
            path="/v1/things/detail",
            resource=shared,
            suffix="detail",
            tag="t",
            operations=(_op("GET"),),
        ),
    )
    client = _client(table)
    assert client.simulate_get("/v1/things").json == {"detail": False}
    assert client.simulate_get("/v1/things/detail").json == {"detail": True}
    assert len(made) == 1


def test_v1_lists_every_collection_of_the_table() -> None:
    assert routes.collections((1, 1)) == (
        "baymodels",
        "bays",
        "certificates",
        "clusters",
        "clustertemplates",
        "containers",
        "mservices",
        "pods",
        "rcs",
        "services",
    )
    # Magnum 1.11 removed bays and baymodels (and with them the bays' pods, rcs and
    # services, which Newton already dropped); the rest stays
    assert {"baymodels", "bays", "pods", "rcs", "services"} & set(
        routes.collections((1, 11))
    ) == set()
    assert {"certificates", "clusters", "clustertemplates", "mservices"} <= set(
        routes.collections((1, 11))
    )
    assert "quotas" not in routes.collections((1, 5))
    assert "quotas" in routes.collections((1, 6))
    assert routes.collections(microversions.MIN_VERSION) == routes.collections((1, 1))


def test_own_bodies_come_from_the_table() -> None:
    ((method, pattern),) = routes.own_bodies()
    assert method == "POST"
    assert pattern.match("/v1/bays/b1/images")
    assert not pattern.match("/v1/bays/b1/images/x")
    assert not pattern.match("/v1/bays/images")


# --- gates, on a table of test resources -----------------------------------------------------
class _Thing:
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        resp.media = {"ident": ident}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        resp.status = 204


class _Listing:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"detail": False}

    def on_get_detail(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"detail": True}


def _op(method: str, **kw: Any) -> Operation:
    return Operation(method=method, status=200, summary=method, **kw)


class _Version:
    """Stands in for middleware.Microversions: the version is the X-V header."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = req.get_header("X-V") or "1.1"
        req.context[microversions.CONTEXT_KEY] = microversions.parse(raw)


def _client(table: tuple[Route, ...]) -> falcon.testing.TestClient:
    app = falcon.App(middleware=[_Version()])
    errors.install(app)
    routing.install(app, STUB_API, table, served=SERVED)
    return falcon.testing.TestClient(app)


THINGS = Route(
    path="/v1/things/{ident}",
    resource=Resource(lambda api: _Thing()),
    tag="t",
    operations=(_op("GET"), _op("DELETE", gate=gate(since="1.2"))),
)
OLD = Route(
    path="/v1/old",
    resource=Resource(lambda api: _Listing()),
    tag="t",
    gate=gate(until="1.3"),
    collection="old",
    operations=(_op("GET"),),
)
FUTURE = Route(
    path="/v1/future",
    resource=Resource(lambda api: _Listing()),
    tag="t",
    gate=gate(since="1.9"),
    collection="future",
    operations=(_op("GET"),),
)
GATED = (THINGS, OLD, FUTURE)


def test_an_operation_before_its_version_is_406() -> None:
    client = _client(GATED)
    assert client.simulate_get("/v1/things/a").json == {"ident": "a"}
    res = client.simulate_delete("/v1/things/a")  # no version: the minimum, 1.1
    assert res.status_code == 406
    assert res.json["errors"][0]["detail"] == (
        "Version 1.1 was requested but the requested API DELETE /v1/things/{ident} is not "
        "supported for this version."
    )
    assert client.simulate_delete("/v1/things/a", headers={"X-V": "1.2"}).status_code == 204


def test_a_route_from_its_removal_is_404() -> None:
    client = _client(GATED)
    assert client.simulate_get("/v1/old", headers={"X-V": "1.2"}).status_code == 200
    res = client.simulate_get("/v1/old", headers={"X-V": "1.3"})
    assert res.status_code == 404
    assert "removed in microversion 1.3" in res.json["errors"][0]["detail"]


def test_a_route_no_served_version_has_is_not_routed() -> None:
    client = _client(GATED)
    assert client.simulate_get("/v1/future", headers={"X-V": "1.3"}).status_code == 404
    assert routing.collections(GATED, (1, 2)) == ("old",)
    assert routing.collections(GATED, (1, 3)) == ()
    assert routing.collections(GATED, (1, 9)) == ("future",)


def test_undeclared_methods_are_405() -> None:
    res = _client(GATED).simulate_post("/v1/things/a")
    assert res.status_code == 405
    assert set(res.headers["allow"].replace(" ", "").split(",")) >= {"GET", "DELETE"}


def test_an_operation_of_every_served_version_is_the_responder_itself() -> None:
    thing = _Thing()
    routed: Any = routing.responders(THINGS, thing, SERVED)
    assert routed.on_get == thing.on_get  # no version check where none is needed
    assert routed.on_delete != thing.on_delete


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ((_op("GET"),), r"declares \['GET'\], _Thing responds to \['DELETE', 'GET'\]"),
        ((_op("GET"), _op("DELETE"), _op("PUT")), r"declares \['DELETE', 'GET', 'PUT'\]"),
    ],
)
def test_a_table_that_disagrees_with_its_resource_is_refused(
    operations: tuple[Operation, ...], message: str
) -> None:
    route = Route(
        path="/v1/things/{ident}",
        resource=Resource(lambda api: _Thing()),
        tag="t",
        operations=operations,
    )
    with pytest.raises(routing.RouteTableError, match=message):
        routing.install(falcon.App(), STUB_API, (route,), served=SERVED)
