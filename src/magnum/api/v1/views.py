# SPDX-License-Identifier: Apache-2.0
"""One model, two vocabularies: how a cluster and a cluster template are shown as Mitaka's
bay and baymodel, or as today's cluster and cluster template.

A view maps the fields an API shows to the attributes of the row, and names the
collection, the policy prefix, the body argument and the words of its errors. One resource
implementation serves every view; nothing else knows which vocabulary it speaks.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from magnum.api import microversions
from magnum.common import utils
from magnum.drivers import capabilities
from magnum.objects import vocabulary

# a View's way of reading some fields: their column names, a reader of those columns' values
# (in that order), and the computed fields with how each is computed
_Plan = tuple[
    tuple[str, ...], Callable[[Any], tuple[Any, ...]], tuple[tuple[str, Callable[[Any], Any]], ...]
]


def _one(attrs: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A reader of zero or one column, returning a tuple like attrgetter of several."""
    if not attrs:
        return lambda row: ()
    get = operator.attrgetter(attrs[0])
    return lambda row: (get(row),)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class View:
    collection: str  # bays, clusters, baymodels, clustertemplates
    policy: str  # the policy prefix: bay, cluster, baymodel, clustertemplate
    argument: str  # the body's name in "Missing argument" errors
    vocab: vocabulary.Vocabulary
    brief_fields: microversions.Fields  # API field names of a brief item, by version
    full_fields: microversions.Fields  # API field names of a detailed item, by version
    # API field name -> row attribute, where they differ
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # API field name -> how it is computed from the row (no column of that name)
    computed: Mapping[str, Callable[[Any], Any]] = dataclasses.field(default_factory=dict)
    # Fields a resource adds to some full items (not from the row alone)
    extra_fields: tuple[str, ...] = ()
    # fields shown -> how they are read from a row (made at the first item of those fields)
    _plans: dict[tuple[str, ...], _Plan] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def brief(self) -> tuple[str, ...]:
        """Every field a brief item shows in some version."""
        return tuple(self.brief_fields)

    @property
    def full(self) -> tuple[str, ...]:
        """Every field a detailed item shows in some version."""
        return tuple(self.full_fields)

    def attr(self, field: str) -> str:
        return self.columns.get(field, field)

    def brief_columns(self, version: microversions.Version) -> tuple[str, ...]:
        return tuple(self.attr(f) for f in self.brief_fields.at(version) if f not in self.computed)

    def values(self, row: Any, fields: Iterable[str]) -> dict[str, Any]:
        """`fields` of `row`: its columns first (read by one C call), then the computed."""
        shown = fields if isinstance(fields, tuple) else tuple(fields)
        plan = self._plans.get(shown)
        if plan is None:
            plan = self._plans[shown] = self._plan(shown)
        names, read, computed = plan
        body = dict(zip(names, read(row), strict=True))
        for field, compute in computed:
            body[field] = compute(row)
        return body

    def _plan(self, shown: tuple[str, ...]) -> _Plan:
        names = tuple(f for f in shown if f not in self.computed)
        attrs = [self.attr(f) for f in names]
        # attrgetter of one name returns the value, of several a tuple: always a tuple here
        read = operator.attrgetter(*attrs) if len(attrs) > 1 else _one(attrs)
        computed = tuple((f, self.computed[f]) for f in shown if f in self.computed)
        return names, read, computed

    def to_internal(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """API field names -> row attributes."""
        return {self.attr(key): value for key, value in values.items()}

    def links(self, prefix: str, uuid: str) -> list[dict[str, str]]:
        return [
            {"href": f"{prefix}/v1/{self.collection}/{uuid}", "rel": "self"},
            {"href": f"{prefix}/{self.collection}/{uuid}", "rel": "bookmark"},
        ]

    def render(
        self,
        row: Any,
        prefix: str,
        *,
        brief: bool = False,
        version: microversions.Version = microversions.MIN_VERSION,
    ) -> dict[str, Any]:
        shown = (self.brief_fields if brief else self.full_fields).at(version)
        body = self.values(row, shown)
        body["links"] = self.links(prefix, row.uuid)
        if not brief:
            body["created_at"] = utils.isotime(row.created_at)
            body["updated_at"] = utils.isotime(row.updated_at)
        return body


def _fields(*entries: str | microversions.Gated) -> microversions.Fields:
    return microversions.Fields(*entries)


_BAY_BRIEF = (
    "uuid",
    "name",
    "baymodel_id",
    "node_count",
    "master_count",
    "bay_create_timeout",
    "status",
    "stack_id",
)
_STATE_FIELDS = (
    "status_reason",
    "discovery_url",
    "api_address",
    "node_addresses",
    "master_addresses",
    "health_status",
    "health_status_reason",
)
BAY = View(
    collection="bays",
    policy="bay",
    argument="bay",
    vocab=vocabulary.BAY,
    brief_fields=_fields(*_BAY_BRIEF),
    full_fields=_fields(*_BAY_BRIEF, *_STATE_FIELDS),
    columns={"baymodel_id": "cluster_template_id", "bay_create_timeout": "create_timeout"},
)


def health_reason(row: Any) -> dict[str, Any] | None:
    """Today's API shows health_status_reason as an object: what a PATCH or a check stored as
    one, or the checker's sentence under "summary"."""
    text = row.health_status_reason
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"summary": text}
    return value if isinstance(value, dict) else {"summary": text}


# Newer than stack_id: the same value under the name 1.13 gives it.
_STACK = (
    microversions.field("stack_id", until="1.13"),
    microversions.field("cluster_id", since="1.13"),
)
_CLUSTER_BRIEF: tuple[str | microversions.Gated, ...] = (
    "uuid",
    "name",
    "cluster_template_id",
    "keypair",
    "docker_volume_size",
    "labels",
    "node_count",
    "status",
    "master_flavor_id",
    "flavor_id",
    "create_timeout",
    "master_count",
    "health_status",
    *_STACK,
)
CLUSTER = View(
    collection="clusters",
    policy="cluster",
    argument="cluster",
    vocab=vocabulary.CLUSTER,
    brief_fields=_fields(*_CLUSTER_BRIEF),
    full_fields=_fields(
        *_CLUSTER_BRIEF,
        "status_reason",
        "discovery_url",
        "api_address",
        "coe_version",
        "container_version",
        "project_id",
        "user_id",
        "node_addresses",
        "master_addresses",
        "health_status_reason",
        "fixed_network",
        "fixed_subnet",
        "floating_ip_enabled",
        "master_lb_enabled",
        "merge_labels",
    ),
    columns={"cluster_id": "stack_id"},
    computed={
        "merge_labels": lambda row: False,  # an input flag; shown with its default
        "health_status_reason": health_reason,
    },
    extra_fields=(*("labels_overridden", "labels_added", "labels_skipped"), "faults"),
)


def label_diffs(
    cluster_labels: Mapping[str, Any], template_labels: Mapping[str, Any]
) -> dict[str, Any]:
    """How a cluster's labels differ from its template's: overridden (the template's value
    of a key the cluster changed), added (the cluster's keys the template lacks), skipped
    (the template's keys the cluster lacks)."""
    return {
        "labels_overridden": {
            k: v
            for k, v in template_labels.items()
            if k in cluster_labels and cluster_labels[k] != v
        },
        "labels_added": {k: v for k, v in cluster_labels.items() if k not in template_labels},
        "labels_skipped": {k: v for k, v in template_labels.items() if k not in cluster_labels},
    }


_TEMPLATE_BRIEF = ("uuid", "name", "image_id", "apiserver_port", "coe")
_TEMPLATE_FULL = (
    "uuid",
    "name",
    "coe",
    "image_id",
    "flavor_id",
    "master_flavor_id",
    "dns_nameserver",
    "keypair_id",
    "external_network_id",
    "fixed_network",
    "network_driver",
    "volume_driver",
    "apiserver_port",
    "docker_volume_size",
    "cluster_distro",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "registry_enabled",
    "labels",
    "tls_disabled",
    "public",
    "server_type",
)
# What Newton and later releases added to a template (clustertemplates only; baymodels
# show Mitaka's fields, which is all the bay-era clients know).
_TEMPLATE_TODAY = (
    "fixed_subnet",
    "insecure_registry",
    "docker_storage_driver",
    "master_lb_enabled",
    "floating_ip_enabled",
    "hidden",
    "tags",
    "driver",
    "project_id",
    "user_id",
)
BAYMODEL = View(
    collection="baymodels",
    policy="baymodel",
    argument="baymodel",
    vocab=vocabulary.BAY,
    brief_fields=_fields(*_TEMPLATE_BRIEF),
    full_fields=_fields(*_TEMPLATE_FULL),
)
# Today's list and detail are alike: every item is full.
CLUSTER_TEMPLATE = View(
    collection="clustertemplates",
    policy="clustertemplate",
    argument="clustertemplate",
    vocab=vocabulary.CLUSTER,
    brief_fields=_fields(*_TEMPLATE_FULL, *_TEMPLATE_TODAY),
    full_fields=_fields(*_TEMPLATE_FULL, *_TEMPLATE_TODAY),
)


# --- Kubernetes objects as Magnum Mitaka showed them (pods, services, rcs) ---------------------
# These are no rows: every item is an object the cluster's API rendered (Kubernetes' JSON),
# and a view says which of its parts each field shows.
def _at(obj: Mapping[str, Any], *path: str) -> Any:
    """obj[path[0]][path[1]]..., or None where a part is missing or no mapping."""
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _images(containers: Any) -> list[str]:
    if not isinstance(containers, list):
        return []
    return [str(c["image"]) for c in containers if isinstance(c, Mapping) and c.get("image")]


def _ports(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    ports = _at(obj, "spec", "ports")
    return [
        {
            "name": p.get("name") or "k8s-service",  # Magnum's name for an unnamed port
            "protocol": p.get("protocol"),
            "port": p.get("port"),
            "target_port": p.get("targetPort"),
            "node_port": p.get("nodePort"),
        }
        for p in (ports if isinstance(ports, list) else [])
        if isinstance(p, Mapping)
    ]


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


_OBJECT_FIELDS: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
    "uuid": lambda o: _at(o, "metadata", "uid"),
    "name": lambda o: _at(o, "metadata", "name"),
    "labels": lambda o: _mapping(_at(o, "metadata", "labels")),
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadView:
    """A kind of Kubernetes object as Magnum Mitaka showed it: its collection, policy
    prefix, body argument, its noun in errors, the fields of a brief and a full item and
    how each is read from the object. `bay_uuid` is the bay's; `manifest`, `manifest_url`
    (and a pod's `desc`) are shown as the create's body gave them, and null otherwise:
    Magnum keeps nothing of a workload but what the cluster has."""

    kind: capabilities.WorkloadKind
    collection: str  # pods, services, rcs
    policy: str  # pod, service, rc
    argument: str  # the body's name in "Missing argument" errors
    noun: str  # Pod, Service, ReplicationController
    brief: tuple[str, ...]
    full: tuple[str, ...]
    read: Mapping[str, Callable[[Mapping[str, Any]], Any]]  # field -> from the object
    internal: frozenset[str]  # PATCH paths besides common.BASE_INTERNAL
    echoed: tuple[str, ...] = ("manifest", "manifest_url")  # from the create's body

    def render(
        self,
        obj: Mapping[str, Any],
        bay_uuid: str,
        prefix: str,
        *,
        brief: bool = False,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in self.brief if brief else self.full:
            if field == "bay_uuid":
                out[field] = bay_uuid
            elif field in self.echoed:
                out[field] = (body or {}).get(field)
            else:
                out[field] = self.read[field](obj)
        out["links"] = [
            {"href": f"{prefix}/v1/{self.collection}/{out['uuid']}", "rel": "self"},
            {"href": f"{prefix}/{self.collection}/{out['uuid']}", "rel": "bookmark"},
        ]
        return out


_POD_BRIEF = ("uuid", "name", "desc", "bay_uuid", "images", "labels", "status", "host")
POD = WorkloadView(
    kind=capabilities.WorkloadKind.POD,
    collection="pods",
    policy="pod",
    argument="pod",
    noun="Pod",
    brief=_POD_BRIEF,
    full=(*_POD_BRIEF, "manifest", "manifest_url"),
    read={
        **_OBJECT_FIELDS,
        "images": lambda o: _images(_at(o, "spec", "containers")),
        "status": lambda o: _at(o, "status", "phase"),
        "host": lambda o: _at(o, "spec", "nodeName"),
    },
    internal=frozenset({"/name", "/labels", "/images", "/status", "/host"}),
    echoed=("desc", "manifest", "manifest_url"),
)
_SERVICE_BRIEF = ("uuid", "name", "bay_uuid", "labels", "selector", "ip", "ports")
SERVICE = WorkloadView(
    kind=capabilities.WorkloadKind.SERVICE,
    collection="services",
    policy="service",
    argument="service",
    noun="Service",
    brief=_SERVICE_BRIEF,
    full=(*_SERVICE_BRIEF, "manifest", "manifest_url"),
    read={
        **_OBJECT_FIELDS,
        "selector": lambda o: _mapping(_at(o, "spec", "selector")),
        "ip": lambda o: _at(o, "spec", "clusterIP"),
        "ports": _ports,
    },
    internal=frozenset({"/name", "/labels", "/selector", "/ports", "/ip"}),
)
_RC_BRIEF = ("uuid", "name", "images", "bay_uuid", "labels", "replicas")
RC = WorkloadView(
    kind=capabilities.WorkloadKind.REPLICATION_CONTROLLER,
    collection="rcs",
    policy="rc",
    argument="rc",
    noun="ReplicationController",
    brief=_RC_BRIEF,
    full=(*_RC_BRIEF, "manifest", "manifest_url"),
    read={
        **_OBJECT_FIELDS,
        "images": lambda o: _images(_at(o, "spec", "template", "spec", "containers")),
        # Kubernetes leaves status.replicas out while it is 0
        "replicas": lambda o: int(_at(o, "status", "replicas") or 0),
    },
    internal=frozenset({"/name", "/labels", "/images", "/replicas"}),
)
WORKLOADS = (POD, SERVICE, RC)
