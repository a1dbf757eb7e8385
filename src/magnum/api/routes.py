# SPDX-License-Identifier: Apache-2.0
"""The route table of the API: every path, its resource, methods, versions and OpenAPI
description. It alone feeds the Falcon routes (magnum.api.app), /v1/openapi.json
(magnum.api.openapi) and the /v1 document (magnum.api.v1.root). Adding a resource is
adding its routes here.

Mitaka's bays and baymodels exist until 1.11, which removed them (a client that sends no
version header negotiates 1.1 and always finds them); everything else exists from 1.1.
"""

from __future__ import annotations

import re
from typing import Any

from magnum.api import microversions, openapi, routing, schemas
from magnum.api.openapi import (
    LINKS,
    STRING,
    UUID,
    enum,
    listing_params,
    obj,
    page,
    path_param,
    query,
    record,
    view,
)
from magnum.api.routing import Link, Operation, Resource, Route
from magnum.api.v1 import (
    certificates,
    cluster_templates,
    clusters,
    containers,
    events,
    images,
    mservices,
    root,
    views,
)
from magnum.db import models
from magnum.objects import events as timeline
from magnum.objects import fields

# Magnum 1.11: "Remove bay and baymodel objects".
MITAKA = microversions.gate(until="1.11")

# --- success response schemas that are not a view -----------------------------------------
_VERSION = obj(
    {
        "id": STRING,
        "links": LINKS,
        "status": enum(("CURRENT",)),
        "min_version": STRING,
        "max_version": STRING,
    }
)
ROOT_DOCUMENT = obj(
    {
        "name": STRING,
        "description": STRING,
        "versions": {"type": "array", "items": _VERSION},
        "default_version": _VERSION,
    }
)
V1_DOCUMENT = {
    "type": "object",
    "required": ["id", "media_types", "links"],
    "properties": {
        "id": enum(("v1",)),
        "media_types": {
            "type": "array",
            "items": obj({"base": STRING, "type": STRING}),
        },
        "links": LINKS,
    },
    "additionalProperties": LINKS,  # one self/bookmark pair per collection
}
CONTAINER_BRIEF = record(
    "ContainerBrief", models.Container, containers.BRIEF, columns=containers.COLUMNS
)
CONTAINER = record(
    "Container", models.Container, containers.BRIEF, columns=containers.COLUMNS, timestamps=True
)
# execute's and logs' answer; "truncated": the output went past [api] max_exec_output
OUTPUT = obj({"output": STRING, "truncated": {"type": "boolean"}})
LOADED = obj(
    {
        "bay_uuid": UUID,
        "images": {"type": "array", "items": STRING},
        "nodes": {"type": "integer", "minimum": 1},
        "links": LINKS,
    }
)
EVENT = record(
    "Event",
    models.ClusterEvent,
    (
        "uuid",
        "created_at",
        "kind",
        "status",
        "error_code",
        "message",
        "operation_uuid",
        "request_id",
        "user_id",
        "project_id",
        "conductor",
    ),
    overrides={"created_at": openapi.DATETIME, "kind": enum(timeline.Kind)},
    links=False,
)
MSERVICE = record(
    "MService",
    models.MagnumService,
    ("id", "host", "binary", "state", "report_count", "disabled_reason"),
    overrides={"state": enum(fields.ServiceState)},
    links=False,
    timestamps=True,
)
SIGNED = obj({"bay_uuid": UUID, "csr": STRING, "pem": STRING, "links": LINKS})
CA = obj({"bay_uuid": UUID, "pem": STRING, "links": LINKS})
# what `on_put` of /v1/containers/{ident}/{action} takes, and what `on_get` does
PUT_ACTIONS = tuple(sorted(containers.ACTIONS | {containers.EXECUTE}))
GET_ACTIONS = tuple(sorted(containers.READS))


def _uses(name: str, path: str, method: str, *, body: str | None = None) -> Link:
    """A link to an operation taking the new item's uuid: as {ident}, or as `body`'s field."""
    if body is not None:
        return Link(name=name, path=path, method=method, body={body: "$response.body#/uuid"})
    return Link(name=name, path=path, method=method, parameters={"ident": "$response.body#/uuid"})


def _listed(
    path: str,
    resource: Resource,
    *,
    key: str,
    tag: str,
    brief: Any,
    full: Any,
    body: Any,
    params: tuple[Any, ...],
    gate: microversions.Gate = microversions.ALWAYS,
    links: tuple[Link, ...] = (),
) -> tuple[Route, ...]:
    """GET (brief items) and POST on a collection, GET on its /detail (full items). The
    POST links to its item's operations, and to `links`."""
    return (
        Route(
            path=path,
            resource=resource,
            tag=tag,
            gate=gate,
            collection=key,
            operations=(
                Operation(
                    method="GET",
                    status=200,
                    summary=f"List {key} (brief items)",
                    params=params,
                    response=page(key, brief),
                    errors=(400, 403, 404),
                ),
                Operation(
                    method="POST",
                    status=201,
                    summary=f"Create one of the {key}",
                    request=body,
                    response=full,
                    errors=(400, 403, 404, 409),
                    links=links,
                ),
            ),
        ),
        Route(
            path=f"{path}/detail",
            resource=resource,
            suffix="detail",
            tag=tag,
            gate=gate,
            operations=(
                Operation(
                    method="GET",
                    status=200,
                    summary=f"List {key} (full items)",
                    params=params,
                    response=page(key, full),
                    errors=(400, 403, 404),
                ),
            ),
        ),
    )


def _item(
    path: str,
    resource: Resource,
    *,
    noun: str,
    tag: str,
    full: Any,
    patchable: tuple[str, ...],
    gate: microversions.Gate = microversions.ALWAYS,
) -> Route:
    """GET, PATCH (JSON Patch of the `patchable` paths) and DELETE on one item."""
    return Route(
        path=path,
        resource=resource,
        tag=tag,
        gate=gate,
        operations=(
            Operation(
                method="GET",
                status=200,
                summary=f"Show a {noun}",
                response=full,
                errors=(400, 403, 404, 409),
            ),
            Operation(
                method="PATCH",
                status=200,
                summary=f"Update a {noun} with a JSON Patch",
                request=openapi.patch_body(patchable),
                response=full,
                errors=(400, 403, 404, 409),
            ),
            Operation(
                method="DELETE",
                status=204,
                summary=f"Delete a {noun}",
                errors=(400, 403, 404, 409),
            ),
        ),
    )


def _events(
    path: str, resource: Resource, *, noun: str, tag: str, gate: microversions.Gate
) -> Route:
    return Route(
        path=path,
        resource=resource,
        tag=tag,
        gate=gate,
        operations=(
            Operation(
                method="GET",
                status=200,
                summary=f"The {noun}'s timeline, newest first",
                description="Every request, start, progress step, transition, health change "
                "and takeover, with its operation, caller and conductor.",
                params=(
                    openapi.LIMIT,
                    query("marker", UUID, "the uuid of the last event of the previous page"),
                    query("since", openapi.DATETIME, "only events at or after this ISO 8601 time"),
                ),
                response=page("events", EVENT),
                errors=(400, 403, 404),
            ),
        ),
    )


# --- the resources ---------------------------------------------------------------------------
def _v1(api: Any) -> root.V1:
    return root.V1(collections)


def _openapi(api: Any) -> openapi.Document:
    return openapi.Document(TABLE)


ROOT = Resource(lambda api: root.Root())
V1 = Resource(_v1)
OPENAPI = Resource(_openapi)
BAYMODELS = Resource(lambda api: cluster_templates.Collection(api, views.BAYMODEL))
BAYMODEL = Resource(lambda api: cluster_templates.Item(api, views.BAYMODEL))
BAYS = Resource(lambda api: clusters.Collection(api, views.BAY))
BAY = Resource(lambda api: clusters.Item(api, views.BAY))
BAY_IMAGES = Resource(images.Collection)
BAY_EVENTS = Resource(lambda api: events.Events(api, views.BAY))
CLUSTER_EVENTS = Resource(lambda api: events.Events(api, views.CLUSTER))
CONTAINERS = Resource(containers.Collection)
CONTAINER_ITEM = Resource(containers.Item)
CONTAINER_ACTION = Resource(containers.Action)
MSERVICES = Resource(mservices.Collection)
CERTIFICATES = Resource(certificates.Collection)
CERTIFICATE = Resource(certificates.Item)

TABLE: tuple[Route, ...] = (
    Route(
        path="/",
        resource=ROOT,
        tag="versions",
        operations=(
            Operation(method="GET", status=200, summary="The API versions", response=ROOT_DOCUMENT),
        ),
    ),
    Route(
        path="/v1",
        resource=V1,
        tag="versions",
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="API v1: its media types, links and collections",
                description="Lists the collections that exist at the negotiated microversion.",
                response=V1_DOCUMENT,
            ),
        ),
    ),
    Route(
        path="/v1/openapi.json",
        resource=OPENAPI,
        tag="versions",
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="This document",
                response={"type": "object"},
                errors=(400,),
            ),
        ),
    ),
    *_listed(
        "/v1/baymodels",
        BAYMODELS,
        key="baymodels",
        tag="baymodels",
        brief=view(views.BAYMODEL, brief=True),
        full=view(views.BAYMODEL),
        body=schemas.BayModelBody,
        params=listing_params(views.BAYMODEL),
        gate=MITAKA,
        links=(_uses("CreateBay", "/v1/bays", "POST", body="baymodel_id"),),
    ),
    _item(
        "/v1/baymodels/{ident}",
        BAYMODEL,
        noun="baymodel",
        tag="baymodels",
        full=view(views.BAYMODEL),
        patchable=tuple(f"/{f}" for f in sorted(cluster_templates.MUTABLE)),
        gate=MITAKA,
    ),
    *_listed(
        "/v1/bays",
        BAYS,
        key="bays",
        tag="bays",
        brief=view(views.BAY, brief=True),
        full=view(views.BAY),
        body=schemas.BayBody,
        params=listing_params(views.BAY),
        gate=MITAKA,
        links=(
            _uses("CreateContainer", "/v1/containers", "POST", body="bay_uuid"),
            _uses("SignCertificate", "/v1/certificates", "POST", body="bay_uuid"),
            _uses("GetCertificate", "/v1/certificates/{ident}", "GET"),
            _uses("GetClusterEvents", "/v1/clusters/{ident}/events", "GET"),
        ),
    ),
    _item(
        "/v1/bays/{ident}",
        BAY,
        noun="bay",
        tag="bays",
        full=view(views.BAY),
        patchable=("/node_count",),  # the one field a bay update may change
        gate=MITAKA,
    ),
    Route(
        path="/v1/bays/{ident}/images",
        resource=BAY_IMAGES,
        tag="bays",
        gate=MITAKA,
        operations=(
            Operation(
                method="POST",
                status=201,
                summary="Load an image archive into every node of the bay",
                description="The body is what `docker save repo:tag` writes (plain or gzip, "
                "bzip2, xz compressed), at most [api] max_image_size bytes, unpacking to at "
                "most [api] max_image_unpacked_size bytes in max_image_members entries (413 "
                "past either). The bay must be CREATE_COMPLETE or UPDATE_COMPLETE. Answers "
                "once every node has loaded it.",
                media=tuple(sorted(images.MEDIA_TYPES)),
                response=LOADED,
                errors=(400, 403, 404, 409, 413, 415, 500),
            ),
        ),
    ),
    _events("/v1/bays/{ident}/events", BAY_EVENTS, noun="bay", tag="bays", gate=MITAKA),
    _events(
        "/v1/clusters/{ident}/events",
        CLUSTER_EVENTS,
        noun="cluster",
        tag="clusters",
        gate=microversions.ALWAYS,
    ),
    *_listed(
        "/v1/containers",
        CONTAINERS,
        key="containers",
        tag="containers",
        brief=CONTAINER_BRIEF,
        full=CONTAINER,
        body=schemas.ContainerBody,
        params=(
            *openapi.page_params(containers.SORTABLE),
            query("bay_ident", STRING, "only the containers of this bay (UUID or name)"),
        ),
    ),
    _item(
        "/v1/containers/{ident}",
        CONTAINER_ITEM,
        noun="container",
        tag="containers",
        full=CONTAINER,
        patchable=tuple(f"/{f}" for f in sorted(containers.CHANGEABLE)),
    ),
    Route(
        path="/v1/containers/{ident}/{action}",
        resource=CONTAINER_ACTION,
        tag="containers",
        operations=(
            Operation(
                method="PUT",
                status=200,
                summary="Act on a container",
                description="start, stop, reboot, pause, unpause answer JSON null; execute "
                "(with ?command=...) answers {output, truncated}: a command past [api] "
                "exec_timeout is killed (504), one printing more than [api] max_exec_output "
                "is stopped (truncated: true); 503 with Retry-After when [api] "
                "max_concurrent_execs calls already wait. /v1/containers/{action}/{ident} is "
                "accepted too.",
                params=(
                    path_param("action", enum(PUT_ACTIONS), "what to do"),
                    query("command", STRING, "execute only: the command line to run"),
                ),
                response={"anyOf": [{"type": "null"}, OUTPUT]},
                errors=(400, 403, 404, 405, 409, 500, 503, 504),
            ),
            Operation(
                method="GET",
                status=200,
                summary="Read a container's logs",
                description="The most recent [api] max_exec_output bytes (truncated: true "
                "when there were more).",
                params=(path_param("action", enum(GET_ACTIONS), "what to read"),),
                response=OUTPUT,
                errors=(400, 403, 404, 405, 409, 500, 503, 504),
            ),
        ),
    ),
    Route(
        path="/v1/mservices",
        resource=MSERVICES,
        tag="mservices",
        collection="mservices",
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="The conductors and whether they are up",
                response=obj({"mservices": {"type": "array", "items": MSERVICE}}),
                errors=(400, 403),
            ),
        ),
    ),
    Route(
        path="/v1/certificates",
        resource=CERTIFICATES,
        tag="certificates",
        collection="certificates",
        operations=(
            Operation(
                method="POST",
                status=201,
                summary="Sign a CSR with the bay's CA",
                request=certificates.CertificateBody,
                response=SIGNED,
                errors=(400, 403, 409),
            ),
        ),
    ),
    Route(
        path="/v1/certificates/{ident}",
        resource=CERTIFICATE,
        tag="certificates",
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="The bay's CA certificate",
                response=CA,
                errors=(400, 403, 404, 409),
            ),
        ),
    ),
)


def collections(version: microversions.Version) -> tuple[str, ...]:
    """What the /v1 document lists at `version`."""
    return routing.collections(TABLE, version)


def own_bodies() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The operations that read their own bodies (for middleware.Bodies)."""
    return routing.own_bodies(TABLE)
