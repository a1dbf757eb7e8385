# SPDX-License-Identifier: Apache-2.0
"""One model, two vocabularies: how a cluster and a cluster template are shown as Mitaka's
bay and baymodel, or as today's cluster and cluster template.

A view maps the fields an API shows to the attributes of the row, and names the
collection, the policy prefix, the body argument and the words of its errors. One resource
implementation serves every view; nothing else knows which vocabulary it speaks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from magnum.common import utils
from magnum.objects import vocabulary


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class View:
    collection: str  # bays, clusters, baymodels, clustertemplates
    policy: str  # the policy prefix: bay, cluster, baymodel, clustertemplate
    argument: str  # the body's name in "Missing argument" errors
    vocab: vocabulary.Vocabulary
    brief: tuple[str, ...]  # API field names of a brief item
    full: tuple[str, ...]  # API field names of a detailed item
    # API field name -> row attribute, where they differ
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def attr(self, field: str) -> str:
        return self.columns.get(field, field)

    @property
    def brief_columns(self) -> tuple[str, ...]:
        return tuple(self.attr(f) for f in self.brief)

    def values(self, row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
        return {field: getattr(row, self.attr(field)) for field in fields}

    def to_internal(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """API field names -> row attributes."""
        return {self.attr(key): value for key, value in values.items()}

    def links(self, prefix: str, uuid: str) -> list[dict[str, str]]:
        return [
            {"href": f"{prefix}/v1/{self.collection}/{uuid}", "rel": "self"},
            {"href": f"{prefix}/{self.collection}/{uuid}", "rel": "bookmark"},
        ]

    def render(self, row: Any, prefix: str, *, brief: bool = False) -> dict[str, Any]:
        body = self.values(row, self.brief if brief else self.full)
        body["links"] = self.links(prefix, row.uuid)
        if not brief:
            body["created_at"] = utils.isotime(row.created_at)
            body["updated_at"] = utils.isotime(row.updated_at)
        return body


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
    brief=_BAY_BRIEF,
    full=(*_BAY_BRIEF, *_STATE_FIELDS),
    columns={"baymodel_id": "cluster_template_id", "bay_create_timeout": "create_timeout"},
)
_CLUSTER_BRIEF = (
    "uuid",
    "name",
    "cluster_template_id",
    "node_count",
    "master_count",
    "create_timeout",
    "status",
    "stack_id",
)
CLUSTER = View(
    collection="clusters",
    policy="cluster",
    argument="cluster",
    vocab=vocabulary.CLUSTER,
    brief=_CLUSTER_BRIEF,
    full=(*_CLUSTER_BRIEF, *_STATE_FIELDS),
)

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
BAYMODEL = View(
    collection="baymodels",
    policy="baymodel",
    argument="baymodel",
    vocab=vocabulary.BAY,
    brief=_TEMPLATE_BRIEF,
    full=_TEMPLATE_FULL,
)
CLUSTER_TEMPLATE = View(
    collection="clustertemplates",
    policy="clustertemplate",
    argument="clustertemplate",
    vocab=vocabulary.CLUSTER,
    brief=_TEMPLATE_BRIEF,
    full=_TEMPLATE_FULL,
)
