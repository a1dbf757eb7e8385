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
    INTEGER,
    LINKS,
    STRING,
    UUID,
    Component,
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
    actions,
    certificates,
    cluster_templates,
    clusters,
    containers,
    credentials,
    events,
    images,
    mservices,
    root,
    stats,
    upgrade,
    views,
    workloads,
)
from magnum.api.v1 import nodegroups as nodegroups_api
from magnum.api.v1 import quotas as quota_api
from magnum.db import models
from magnum.objects import events as timeline
from magnum.objects import fields
from magnum.objects import nodegroups as ng_records
from magnum.objects import quotas as quota_records

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
# An asynchronous create or update: the cluster's uuid, the operation recorded.
ACCEPTED = obj({"uuid": UUID})
ASYNC_BAYS = "from microversion 1.2 bay create and update are asynchronous"
ROLLBACK_PARAM = query(
    "rollback", openapi.BOOLEAN_TEXT, "from 1.3: a failed resize puts the old count back"
)
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
    ("id", "host", "binary", "state", "report_count", "disabled", "disabled_reason"),
    overrides={"state": enum(fields.ServiceState)},
    links=False,
    timestamps=True,
)
# Certificates name the cluster under both keys, as Newton does.
CA_CERT_TYPE = enum(certificates.CA_CERT_TYPES)
SIGNED = obj(
    {
        "bay_uuid": UUID,
        "cluster_uuid": UUID,
        "csr": STRING,
        "pem": STRING,
        "ca_cert_type": CA_CERT_TYPE,
        "links": LINKS,
    },
    optional=("ca_cert_type",),
)
CA = obj({"bay_uuid": UUID, "cluster_uuid": UUID, "pem": STRING, "links": LINKS})
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
    created: tuple[int, Any] | None = None,
    also: tuple[tuple[int, Any, str], ...] = (),
) -> tuple[Route, ...]:
    """GET (brief items) and POST on a collection, GET on its /detail (full items). The
    POST answers 201 with the full item, or `created` (status, schema), or `also`; it
    links to its item's operations, and to `links`."""
    post_status, post_response = created or (201, full)
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
                    status=post_status,
                    summary=f"Create one of the {key}",
                    request=body,
                    response=post_response,
                    errors=(400, 403, 404, 409),
                    links=links,
                    also=also,
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
    updated: tuple[int, Any] | None = None,
    also: tuple[tuple[int, Any, str], ...] = (),
    patch_params: tuple[Any, ...] = (),
    get_params: tuple[Any, ...] = (),
) -> Route:
    """GET, PATCH (JSON Patch of the `patchable` paths; 200 with the item, or `updated`
    (status, schema), or `also`) and DELETE on one item."""
    patch_status, patch_response = updated or (200, full)
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
                params=get_params,
                response=full,
                errors=(400, 403, 404, 409),
            ),
            Operation(
                method="PATCH",
                status=patch_status,
                summary=f"Update a {noun} with a JSON Patch",
                request=openapi.patch_body(patchable),
                response=patch_response,
                params=patch_params,
                errors=(400, 403, 404, 409),
                also=also,
                link_body=(
                    [{"op": "replace", "path": "/name", "value": "renamed"}]
                    if "/name" in patchable
                    else None
                ),
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


def _bay_workloads() -> tuple[Link, ...]:
    """From a new bay to its pods, services and rcs: the lists, and the delete and update
    of an object named like the bay (the bay as `bay_ident`)."""
    bay = {"bay_ident": "$response.body#/uuid"}
    named = bay | {"ident": "$response.body#/name"}
    links = []
    for collection, noun in (("pods", "Pod"), ("services", "Service"), ("rcs", "Rc")):
        item = f"/v1/{collection}/{{ident}}/{{bay_ident}}"
        links += [
            Link(name=f"List{noun}s", path=f"/v1/{collection}", method="GET", parameters=bay),
            Link(name=f"Delete{noun}", path=item, method="DELETE", parameters=named),
            Link(name=f"Patch{noun}", path=item, method="PATCH", parameters=named),
        ]
    return tuple(links)


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
CLUSTERTEMPLATES = Resource(lambda api: cluster_templates.Collection(api, views.CLUSTER_TEMPLATE))
CLUSTERTEMPLATE = Resource(lambda api: cluster_templates.Item(api, views.CLUSTER_TEMPLATE))
CLUSTERS = Resource(lambda api: clusters.Collection(api, views.CLUSTER))
CLUSTER = Resource(lambda api: clusters.Item(api, views.CLUSTER))
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
        get_params=(openapi.ALL_PROJECTS,),
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
        also=((202, ACCEPTED, ASYNC_BAYS),),
        links=(
            _uses("CreateContainer", "/v1/containers", "POST", body="bay_uuid"),
            _uses("SignCertificate", "/v1/certificates", "POST", body="bay_uuid"),
            _uses("GetCertificate", "/v1/certificates/{ident}", "GET"),
            _uses("GetClusterEvents", "/v1/clusters/{ident}/events", "GET"),
            *_bay_workloads(),
        ),
    ),
    _item(
        "/v1/bays/{ident}",
        BAY,
        noun="bay",
        tag="bays",
        full=view(views.BAY),
        get_params=(openapi.ALL_PROJECTS,),
        patchable=("/node_count",),  # the one field a bay update may change
        gate=MITAKA,
        also=((202, ACCEPTED, ASYNC_BAYS),),
        patch_params=(ROLLBACK_PARAM,),
    ),
    *_listed(
        "/v1/clustertemplates",
        CLUSTERTEMPLATES,
        key="clustertemplates",
        tag="clustertemplates",
        brief=view(views.CLUSTER_TEMPLATE, brief=True),
        full=view(views.CLUSTER_TEMPLATE),
        body=schemas.ClusterTemplateBody,
        params=listing_params(views.CLUSTER_TEMPLATE),
        links=(_uses("CreateCluster", "/v1/clusters", "POST", body="cluster_template_id"),),
    ),
    _item(
        "/v1/clustertemplates/{ident}",
        CLUSTERTEMPLATE,
        noun="cluster template",
        tag="clustertemplates",
        full=view(views.CLUSTER_TEMPLATE),
        get_params=(openapi.ALL_PROJECTS,),
        patchable=tuple(f"/{f}" for f in sorted(cluster_templates.TODAY_MUTABLE)),
    ),
    *_listed(
        "/v1/clusters",
        CLUSTERS,
        key="clusters",
        tag="clusters",
        brief=view(views.CLUSTER, brief=True),
        full=view(views.CLUSTER),
        body=schemas.ClusterBody,
        params=listing_params(views.CLUSTER),
        created=(202, ACCEPTED),
        links=(
            _uses("SignClusterCertificate", "/v1/certificates", "POST", body="cluster_uuid"),
            _uses("GetClusterCertificate", "/v1/certificates/{ident}", "GET"),
            _uses("GetClusterEventsOfNew", "/v1/clusters/{ident}/events", "GET"),
        ),
    ),
    _item(
        "/v1/clusters/{ident}",
        CLUSTER,
        noun="cluster",
        tag="clusters",
        full=view(views.CLUSTER),
        get_params=(openapi.ALL_PROJECTS,),
        patchable=("/node_count", "/health_status", "/health_status_reason"),
        updated=(202, ACCEPTED),
        patch_params=(ROLLBACK_PARAM,),
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
                description="During a CA rotation, a bundle: the CA that signs first, then "
                "the other one, until the old CA is retired. ca_cert_type etcd and "
                "front_proxy answer 400: a cluster here has one CA, for everything.",
                params=(query("ca_cert_type", CA_CERT_TYPE, "which CA (default kubernetes)"),),
                response=CA,
                errors=(400, 403, 404, 409),
            ),
            Operation(
                method="PATCH",
                status=202,
                summary="Rotate the cluster's CA (no body)",
                description="Runs as an operation (UPDATE_IN_PROGRESS, then UPDATE_COMPLETE "
                "or UPDATE_FAILED), in four phases shown in the cluster's events: nodes "
                "trust the old and the new CA, node certificates are reissued, the new CA "
                "signs, the old CA is retired (certificates it signed are refused from "
                "then on). Containers keep running. 400 for a TLS-disabled cluster, 409 "
                "unless the cluster is settled.",
                response=ACCEPTED,
                errors=(400, 403, 404, 409),
                gate=certificates.ROTATE_CA,
            ),
        ),
    ),
)

# --- nodegroups (1.9) and the resize action (1.7) ------------------------------------------
_ANY_LABELS = {
    "type": "object",
    "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
}
_TAINT = obj(
    {"key": STRING, "value": STRING, "effect": enum(ng_records.TAINT_EFFECTS)},
    optional=("value",),
)
NODEGROUP_BRIEF = record(
    "NodeGroupBrief",
    models.NodeGroup,
    nodegroups_api.BRIEF,
    overrides={"status": enum(fields.ClusterStatus, null=True)},
    links=False,
)
NODEGROUP = record(
    "NodeGroup",
    models.NodeGroup,
    nodegroups_api.FULL,
    columns=nodegroups_api.COLUMNS,
    overrides={
        "cluster_id": UUID,
        "status": enum(fields.ClusterStatus, null=True),
        "labels": _ANY_LABELS,
        "labels_overridden": _ANY_LABELS,
        "labels_added": _ANY_LABELS,
        "labels_skipped": _ANY_LABELS,
        "merge_labels": {"type": "boolean"},
        "node_addresses": {"type": "array", "items": STRING},
        "node_labels": {"type": "object", "additionalProperties": STRING},
        "node_taints": {"type": "array", "items": _TAINT},
    },
    timestamps=True,
)
NODEGROUPS = Resource(nodegroups_api.Collection)
NODEGROUP_ITEM = Resource(nodegroups_api.Item)
RESIZE = Resource(actions.Resize)
NODEGROUP_ROUTES: tuple[Route, ...] = (
    Route(
        path="/v1/clusters/{ident}/actions/resize",
        resource=RESIZE,
        tag="clusters",
        gate=actions.GATE,
        operations=(
            Operation(
                method="POST",
                status=202,
                summary="Resize a worker nodegroup",
                description="node_count (0 from 1.10) within the group's min_node_count and "
                "max_node_count; nodes_to_remove names (or addresses) of the group's nodes to "
                "remove first; nodegroup (name or uuid) defaults to the default worker group. "
                "409 while the cluster has an operation in progress.",
                request=schemas.ResizeBody,
                response=ACCEPTED,
                errors=(400, 403, 404, 409),
            ),
        ),
    ),
    Route(
        path="/v1/clusters/{ident}/nodegroups",
        resource=NODEGROUPS,
        tag="nodegroups",
        gate=nodegroups_api.GATE,
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="List a cluster's nodegroups (brief items)",
                params=(
                    *openapi.page_params(sorted(nodegroups_api.SORTABLE)),
                    query("role", STRING, "only the nodegroups of this role"),
                    openapi.ALL_PROJECTS,
                ),
                response=page("nodegroups", NODEGROUP_BRIEF),
                errors=(400, 403, 404),
            ),
            Operation(
                method="POST",
                status=202,
                summary="Add a worker nodegroup: its nodes are built and join the cluster",
                description="Records an update of the cluster (409 while one is in "
                "progress, or before the cluster has an API address); the nodegroup shows "
                "CREATE_IN_PROGRESS until its nodes have joined.",
                request=schemas.NodeGroupBody,
                response=NODEGROUP,
                errors=(400, 403, 404, 409),
            ),
        ),
    ),
    Route(
        path="/v1/clusters/{ident}/nodegroups/{nodegroup}",
        resource=NODEGROUP_ITEM,
        tag="nodegroups",
        gate=nodegroups_api.GATE,
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="Show a nodegroup",
                params=(openapi.ALL_PROJECTS,),
                response=NODEGROUP,
                errors=(400, 403, 404, 409),
            ),
            Operation(
                method="PATCH",
                status=202,
                summary="Change a nodegroup's count bounds, node labels or taints",
                request=openapi.patch_body(tuple(f"/{f}" for f in nodegroups_api.PATCHABLE)),
                response=NODEGROUP,
                errors=(400, 403, 404, 409),
            ),
            Operation(
                method="DELETE",
                status=204,
                summary="Delete a nodegroup: its nodes are drained and removed, then it",
                description="400 for a default nodegroup; 409 while the cluster has an "
                "operation in progress.",
                errors=(400, 403, 404, 409),
            ),
        ),
    ),
)
# --- the upgrade action (1.8) ----------------------------------------------------------------
UPGRADE_ROUTES: tuple[Route, ...] = (
    Route(
        path="/v1/clusters/{ident}/actions/upgrade",
        resource=Resource(upgrade.Upgrade),
        tag="clusters",
        gate=upgrade.ROUTE,
        operations=(
            Operation(
                method="POST",
                status=202,
                summary="Upgrade the cluster, or a nodegroup, to another cluster template",
                description="From 1.8 (1.7 answers 400). Runs as an operation "
                "(UPDATE_IN_PROGRESS, then UPDATE_COMPLETE or UPDATE_FAILED): the nodes are "
                "replaced at most max_batch_size at a time (masters one at a time), each "
                "replacement built from the template, joined, given the old node's "
                "containers (make-before-break), then the old node drained and removed; the "
                "events tell each step. A non-default nodegroup can only be upgraded to the "
                "cluster's current template (409).",
                request=schemas.ClusterUpgradeBody,
                response=ACCEPTED,
                errors=(400, 403, 404, 409),
            ),
        ),
    ),
)
# --- CA rotation (1.5) and credentials rotation (1.12) ---------------------------------------
CREDENTIALS = Resource(credentials.Item)
ROTATION_ROUTES: tuple[Route, ...] = (
    Route(
        path="/v1/credentials/{ident}",
        resource=CREDENTIALS,
        tag="credentials",
        gate=microversions.gate(since="1.12"),
        operations=(
            Operation(
                method="PATCH",
                status=202,
                summary="Rotate the cluster's credentials (no body)",
                description="The conductor's client certificate for the cluster's nodes is "
                "replaced and the old one revoked (the nodes refuse it once the operation "
                "completes). Runs as an operation shown as UPDATE_IN_PROGRESS.",
                response=ACCEPTED,
                errors=(400, 403, 404, 409),
            ),
        ),
    ),
)
# --- quotas (1.6) and stats (1.4) ------------------------------------------------------------
QUOTAS_GATE = microversions.gate(since="1.6")
STATS_GATE = microversions.gate(since="1.4")
_COUNT = {"type": "integer", "minimum": 0}
_QUOTA_FIELDS = {
    "id": INTEGER,
    "project_id": STRING,
    "resource": enum(quota_records.RESOURCES),
    "hard_limit": _COUNT,
    "created_at": openapi.DATETIME,
    "updated_at": openapi.nullable(openapi.DATETIME),
}
QUOTA = Component("Quota", lambda: obj(_QUOTA_FIELDS))
# GET of a project's quota: its record, or (none) the default it has, without id or times
QUOTA_OR_DEFAULT = Component(
    "QuotaOrDefault", lambda: obj(_QUOTA_FIELDS, optional=("id", "created_at", "updated_at"))
)
STATS = obj({"clusters": _COUNT, "nodes": _COUNT})
_QUOTA_ITEM = "/v1/quotas/{project_id}/{resource}"
_QUOTA_LINK = {"project_id": "$response.body#/project_id", "resource": "$response.body#/resource"}
QUOTAS = Resource(quota_api.Collection)
QUOTA_ITEM = Resource(quota_api.Item)
STATS_RESOURCE = Resource(stats.Collection)
QUOTA_ROUTES: tuple[Route, ...] = (
    Route(
        path="/v1/quotas",
        resource=QUOTAS,
        tag="quotas",
        gate=QUOTAS_GATE,
        collection="quotas",
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="List quota records (an admin's)",
                description="The caller's project's records; with all_tenants=true, an "
                "admin's, every project's. Pages follow the integer id of the last record "
                "(marker). A project without a record has the [quotas] default.",
                params=(
                    openapi.LIMIT,
                    query("marker", INTEGER, "the id of the last record of the previous page"),
                    query("sort_key", enum(quota_records.SORTABLE)),
                    query("sort_dir", enum(("asc", "desc"))),
                    query("all_tenants", STRING, "true: every project's records (admins)"),
                ),
                response=page("quotas", QUOTA),
                errors=(400, 403, 404),
            ),
            Operation(
                method="POST",
                status=201,
                summary="Set a project's limit on a resource (an admin's)",
                description="resource Cluster (Magnum's: clusters of the project) or Node "
                "(ours: masters and workers of all its clusters). 409 when the project has a "
                "record for it already.",
                request=quota_api.QuotaBody,
                response=QUOTA,
                errors=(400, 403, 404, 409),
                links=tuple(
                    Link(
                        name=f"{m.title()}Quota", path=_QUOTA_ITEM, method=m, parameters=_QUOTA_LINK
                    )
                    for m in ("GET", "PATCH", "DELETE")
                ),
            ),
        ),
    ),
    Route(
        path=_QUOTA_ITEM,
        resource=QUOTA_ITEM,
        tag="quotas",
        gate=QUOTAS_GATE,
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="A project's limit on a resource",
                description="Its record, or the [quotas] default it has without one. A "
                "project's readers read their own; only an admin another project's.",
                response=QUOTA_OR_DEFAULT,
                errors=(400, 403),
            ),
            Operation(
                method="PATCH",
                status=202,
                summary="Change a project's limit (an admin's)",
                description='A plain object {"hard_limit": N}, not a JSON Patch; project_id '
                "and resource may be sent too, equal to the path's.",
                request=quota_api.QuotaPatch,
                response=QUOTA,
                errors=(400, 403, 404),
            ),
            Operation(
                method="DELETE",
                status=204,
                summary="Remove a project's record: it has the default again (an admin's)",
                errors=(400, 403, 404),
            ),
        ),
    ),
    Route(
        path="/v1/stats",
        resource=STATS_RESOURCE,
        tag="stats",
        gate=STATS_GATE,
        collection="stats",
        operations=(
            Operation(
                method="GET",
                status=200,
                summary="How many clusters and nodes a project has",
                description="The caller's project's, or project_id's (an admin may name "
                "any; without project_id, an admin gets every project's totals). Nodes are "
                "masters and workers. type must be cluster.",
                params=(
                    query("project_id", STRING, "the project (an admin may name any)"),
                    query("type", enum(stats.TYPES)),
                ),
                response=STATS,
                errors=(400, 403),
            ),
        ),
    ),
)

# --- Kubernetes objects: /v1/pods, /v1/services, /v1/rcs (Mitaka) ---------------------------
_LABEL_MAP = {"type": "object", "additionalProperties": STRING}
_PORT = obj(
    {
        "name": STRING,
        "protocol": openapi.nullable(STRING),
        "port": openapi.nullable(INTEGER),
        "target_port": {"type": ["integer", "string", "null"]},
        "node_port": openapi.nullable(INTEGER),
    }
)
# field -> its schema, for every field a workload view shows (views.WorkloadView.full)
_WORKLOAD_FIELDS: dict[str, Any] = {
    "uuid": UUID,
    "name": STRING,
    "desc": openapi.nullable(STRING),
    "bay_uuid": UUID,
    "images": {"type": "array", "items": STRING},
    "labels": _LABEL_MAP,
    "status": openapi.nullable(STRING),
    "host": openapi.nullable(STRING),
    "manifest": openapi.nullable(STRING),
    "manifest_url": openapi.nullable(STRING),
    "selector": _LABEL_MAP,
    "ip": openapi.nullable(STRING),
    "ports": {"type": "array", "items": _PORT},
    "replicas": {"type": "integer", "minimum": 0},
}
_WORKLOAD_NAMES = {"pods": "Pod", "services": "Service", "rcs": "ReplicationController"}
# 429 and 5xx: the cluster's own API, passed on (exceptions.WorkloadAPIError.PASSED)
_WORKLOAD_ERRORS = (400, 403, 404, 409, 429, 500, 502, 503, 504)
_BAY_QUERY = query("bay_ident", STRING, "the bay (UUID or name)") | {"required": True}


def _workload_item(view: views.WorkloadView, name: str, *, fields: tuple[str, ...]) -> Component:
    return Component(
        name, lambda: obj({**{f: _WORKLOAD_FIELDS[f] for f in fields}, "links": LINKS})
    )


def _workload_routes(view: views.WorkloadView) -> tuple[Route, ...]:
    noun = _WORKLOAD_NAMES[view.collection]
    collection = Resource(lambda api: workloads.Collection(api, view))
    item = Resource(lambda api: workloads.Item(api, view))
    full = _workload_item(view, noun, fields=view.full)
    brief = _workload_item(view, f"{noun}Brief", fields=view.brief)
    path = f"/v1/{view.collection}"
    listing = (
        *openapi.page_params(workloads.sortable(view)),
        _BAY_QUERY,
    )
    said = (
        "Read live from the bay's Kubernetes API (namespace default) through a conductor; "
        "its refusals come back with their status and message."
    )

    def one(method: str, status: int, summary: str, **kw: Any) -> Operation:
        return Operation(
            method=method,
            status=status,
            summary=summary,
            description=said,
            errors=_WORKLOAD_ERRORS,
            **kw,
        )

    def item_route(route_path: str, params: tuple[Any, ...]) -> Route:
        return Route(
            path=route_path,
            resource=item,
            tag=view.collection,
            gate=MITAKA,
            operations=(
                one("GET", 200, f"Show a {view.argument}", response=full, params=params),
                one(
                    "PATCH",
                    200,
                    f"Replace a {view.argument} with the manifest a JSON Patch sets",
                    request=openapi.patch_body(("/manifest", "/manifest_url")),
                    response=full,
                    params=params,
                ),
                one("DELETE", 204, f"Delete a {view.argument}", params=params),
            ),
        )

    return (
        Route(
            path=path,
            resource=collection,
            tag=view.collection,
            gate=MITAKA,
            collection=view.collection,
            operations=(
                one(
                    "GET",
                    200,
                    f"List {view.collection} (brief items)",
                    params=listing,
                    response=page(view.collection, brief),
                ),
                one(
                    "POST",
                    201,
                    f"Create one of the {view.collection} from a manifest (or manifest_url)",
                    request=workloads.BODIES[view.collection],
                    response=full,
                ),
            ),
        ),
        Route(
            path=f"{path}/detail",
            resource=collection,
            suffix="detail",
            tag=view.collection,
            gate=MITAKA,
            operations=(
                one(
                    "GET",
                    200,
                    f"List {view.collection} (full items)",
                    params=listing,
                    response=page(view.collection, full),
                ),
            ),
        ),
        item_route(f"{path}/{{ident}}", (_BAY_QUERY,)),
        item_route(f"{path}/{{ident}}/{{bay_ident}}", ()),
    )


WORKLOAD_ROUTES = tuple(r for v in views.WORKLOADS for r in _workload_routes(v))

TABLE += (
    *NODEGROUP_ROUTES,
    *UPGRADE_ROUTES,
    *ROTATION_ROUTES,
    *QUOTA_ROUTES,
    *WORKLOAD_ROUTES,
)


def collections(version: microversions.Version) -> tuple[str, ...]:
    """What the /v1 document lists at `version`."""
    return routing.collections(TABLE, version)


def own_bodies() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The operations that read their own bodies (for middleware.Bodies)."""
    return routing.own_bodies(TABLE)
