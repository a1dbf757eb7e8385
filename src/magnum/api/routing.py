# SPDX-License-Identifier: Apache-2.0
"""What a route table is, and how it becomes Falcon routes, the /v1 collections and the
middleware's list of operations that read their own bodies.

A `Route` is a path template, the `Resource` that serves it (routes naming the same
Resource share one instance, as /v1/bays and /v1/bays/detail do), the responder suffix, the
versions in which it exists and its `Operation`s: method, success status, OpenAPI summary,
request and success response schemas, error codes. Only the declared methods are routed,
and every responder the resource has must be declared: the table cannot drift from the
resources. The table itself is magnum.api.routes.TABLE.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import falcon

from magnum.api import microversions

if TYPE_CHECKING:
    from magnum.api.app import Api

Responder = Callable[..., None]


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Resource:
    """Makes a resource from what the resources share (magnum.api.app.Api)."""

    make: Callable[[Api], object]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """An OpenAPI link from an operation's success answer to the `method` operation of the
    route at `path`: which runtime expressions ("$response.body#/uuid") fill the target's
    parameters, and which fields of its JSON body. (An item's operations are linked from
    its collection's POST without being declared: magnum.api.openapi.)"""

    name: str
    path: str
    method: str
    parameters: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: Any = None  # the body it sends: runtime expressions or constants, nested


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    method: str  # GET, POST, ...
    status: int  # the success status
    summary: str
    description: str | None = None
    request: Any = None  # the JSON body: a pydantic model or a schema (magnum.api.openapi)
    media: tuple[str, ...] = ()  # or the media types of a body the responder reads itself
    response: Any = None  # the success body's schema; None: no body
    params: tuple[Mapping[str, Any], ...] = ()  # query (and overridden path) parameters
    errors: tuple[int, ...] = ()  # besides 406 on /v1, and 413/415 when there is a JSON body
    gate: microversions.Gate = microversions.ALWAYS
    links: tuple[Link, ...] = ()  # to operations that use what the success answer names
    # other success answers, at other microversions: (status, schema, what selects it)
    also: tuple[tuple[int, Any, str], ...] = ()
    # the body a link to this operation sends (a change a client would make: a PATCH that
    # a fuzzer following the links could not guess); None: the link names no body
    link_body: Any = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    path: str  # a Falcon template: /v1/bays/{ident}
    resource: Resource
    operations: tuple[Operation, ...]
    tag: str  # the OpenAPI tag
    suffix: str | None = None  # responders on_<method>_<suffix>
    gate: microversions.Gate = microversions.ALWAYS
    collection: str | None = None  # listed under this name in the /v1 document

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))

    def responder_name(self, method: str) -> str:
        return f"on_{method.lower()}{f'_{self.suffix}' if self.suffix else ''}"

    def exists_at(self, version: microversions.Version) -> bool:
        return any((self.gate & op.gate).admits(version) for op in self.operations)


class RouteTableError(Exception):
    """The table and the resources disagree."""


class _Responders:
    """One route's responders, under the names Falcon looks up (on_get, on_post, ...)."""


def _gated(responder: Responder, gate: microversions.Gate, what: str) -> Responder:
    def gated(req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        gate.check(microversions.negotiated(req), what)
        responder(req, resp, **params)

    return gated


def responders(
    route: Route,
    resource: object,
    served: tuple[microversions.Version, ...] = microversions.SERVED,
) -> object:
    """The object Falcon routes `route.path` to: the declared operations that exist at
    some served version, each checking the negotiated version when it does not exist at
    all of them."""
    declared = [op.method.upper() for op in route.operations]
    present = [
        m
        for m in falcon.COMBINED_METHODS
        if callable(getattr(resource, route.responder_name(m), None))
    ]
    if sorted(declared) != sorted(present):
        raise RouteTableError(
            f"{route.path}: the table declares {sorted(declared)}, "
            f"{type(resource).__name__} responds to {sorted(present)}"
        )
    out = _Responders()
    for op in route.operations:
        gate = route.gate & op.gate
        if not gate.served(served):
            continue
        responder: Responder = getattr(resource, route.responder_name(op.method))
        if not gate.everywhere(served):
            responder = _gated(responder, gate, f"{op.method.upper()} {route.path}")
        setattr(out, f"on_{op.method.lower()}", responder)
    return out


def install(
    app: falcon.App[falcon.Request, falcon.Response],
    api: Api,
    table: Iterable[Route],
    served: tuple[microversions.Version, ...] = microversions.SERVED,
) -> None:
    made: dict[Resource, object] = {}
    for route in table:
        if not any(route.exists_at(v) for v in served):
            continue
        if route.resource not in made:
            made[route.resource] = route.resource.make(api)
        app.add_route(route.path, responders(route, made[route.resource], served))


def collections(table: Iterable[Route], version: microversions.Version) -> tuple[str, ...]:
    """The collections the /v1 document lists at `version`."""
    return tuple(sorted({r.collection for r in table if r.collection and r.exists_at(version)}))


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    return re.compile("^" + "".join("[^/]+" if p[:1] == "{" else re.escape(p) for p in parts) + "$")


def own_bodies(table: Iterable[Route]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(method, path pattern) of each operation that reads its own (non-JSON) body."""
    return tuple(
        (op.method.upper(), _pattern(route.path))
        for route in table
        for op in route.operations
        if op.media
    )
