# SPDX-License-Identifier: Apache-2.0
"""Request schemas. The same models validate bodies and generate /v1/openapi.json.

Validation failures are reported in the wording Magnum's clients know
("Invalid input for field/attribute node_count. Value: '0'. Value should be
greater or equal to 1"), one error element per bad field.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from magnum.api import errors
from magnum.common import exceptions, utils
from magnum.db import models
from magnum.objects import fields

_TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE = frozenset({"0", "f", "false", "off", "n", "no"})
BOOL_CHOICES = "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"


def _parse_bool(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        shown = exceptions.shorten(value)
        raise ValueError(f"Unrecognized value '{shown}', acceptable values are: {BOOL_CHOICES}")
    return value


def parse_bool(text: str) -> bool:
    """A boolean query parameter, with the words a body's boolean accepts."""
    value = _parse_bool(text)
    assert isinstance(value, bool)
    return value


def _check_uuid(value: str) -> str:
    if not utils.is_uuid_like(value):
        raise ValueError(f"Expected a uuid but received {exceptions.shorten(value)}.")
    return value


def _check_ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("Value should be IPv4 format") from None
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL cannot store it; refuse it everywhere alike
        raise ValueError("Value should not contain NUL characters")
    return value


NoNul = pydantic.AfterValidator(_no_nul)
MAX_INT = models.MAX_INT  # the INTEGER columns' range on every backend
Bool = Annotated[bool, pydantic.BeforeValidator(_parse_bool)]
Str255 = Annotated[str, Field(min_length=1, max_length=255), NoNul]
Uuid = Annotated[
    str, pydantic.AfterValidator(_check_uuid), Field(json_schema_extra={"format": "uuid"})
]
IPv4 = Annotated[
    str, pydantic.AfterValidator(_check_ipv4), Field(json_schema_extra={"format": "ipv4"})
]
_LabelStr = Annotated[str, Field(max_length=255), NoNul]
Labels = dict[_LabelStr, _LabelStr]
BAY_NAME = r"^[a-zA-Z][a-zA-Z0-9_.-]*$"


def _null_defaults(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The published schema says what `_Body._null_means_default` accepts: `null` for every
    optional field (it then takes its default)."""
    for name, prop in schema.get("properties", {}).items():
        field = model.model_fields.get(name)
        if field is None or field.is_required() or field.default is None:
            continue  # required, or null is already one of its values
        if "anyOf" in prop and {"type": "null"} in prop["anyOf"]:
            continue
        keep = {k: prop.pop(k) for k in ("title", "default", "description") if k in prop}
        schema["properties"][name] = keep | {"anyOf": [dict(prop), {"type": "null"}]}


class _Body(BaseModel):
    """Common rules: unknown keys are errors, types are strict, `null` means "use the default"."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_null_defaults)
    ARGUMENT: ClassVar[str]
    READ_ONLY: ClassVar[frozenset[str]] = frozenset({"links", "created_at", "updated_at"})

    @pydantic.model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v
                for k, v in data.items()
                if v is not None
                or cls.model_fields.get(k) is None
                or cls.model_fields[k].default is None
            }
        return data


def _coe_required(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """`coe` is optional to the parser (Magnum then answers "Requested COE type Unset is not
    supported.") but a create without it always fails, so the published schema requires it,
    and not as null."""
    _null_defaults(schema, model)
    required = schema.setdefault("required", [])
    if "coe" not in required:
        required.append("coe")
    coe = schema.get("properties", {}).get("coe", {})
    named = [s for s in coe.pop("anyOf", []) if s.get("type") != "null"]
    coe.pop("default", None)
    for choice in named[:1]:
        coe.update(choice)


class BayModelBody(_Body):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_coe_required)
    ARGUMENT = "baymodel"

    uuid: Uuid | None = None
    name: Str255 | None = None
    coe: Literal[tuple(c.value for c in fields.COE)] | None = None  # type: ignore[valid-type]
    image_id: Str255
    flavor_id: Str255 | None = None
    master_flavor_id: Str255 | None = None
    dns_nameserver: IPv4 | None = None
    keypair_id: Str255
    external_network_id: Str255 | None = None
    fixed_network: Str255 | None = None
    network_driver: Str255 | None = None
    volume_driver: Str255 | None = None
    apiserver_port: Annotated[int, Field(ge=1024, le=65535)] | None = None
    docker_volume_size: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None
    cluster_distro: Str255 | None = None
    http_proxy: Str255 | None = None
    https_proxy: Str255 | None = None
    no_proxy: Str255 | None = None
    registry_enabled: Bool = False
    labels: Labels = Field(default_factory=dict)
    tls_disabled: Bool = False
    public: Bool = False
    server_type: Str255 = "vm"


class BayBody(_Body):
    ARGUMENT = "bay"
    READ_ONLY = _Body.READ_ONLY | {"api_address", "node_addresses", "master_addresses", "stack_id"}

    uuid: Uuid | None = None
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=BAY_NAME)] | None = None
    baymodel_id: Str255
    node_count: Annotated[int, Field(ge=1, le=MAX_INT)] = 1
    master_count: Annotated[int, Field(ge=1, le=MAX_INT)] = 1
    bay_create_timeout: Annotated[int, Field(ge=0, le=MAX_INT)] | None = 0
    discovery_url: Str255 | None = None
    status: Literal[tuple(s.value for s in fields.ClusterStatus)] | None = None  # type: ignore[valid-type]
    status_reason: Annotated[str, NoNul] | None = None


# --- today's clusters and cluster templates (Newton and later) -----------------------------
def _check_nameservers(value: str) -> str:
    """Today's dns_nameserver: a comma-separated list of IP addresses."""
    for part in value.split(","):
        try:
            ipaddress.ip_address(part.strip())
        except ValueError:
            raise ValueError("Value should be a comma-separated list of IP addresses") from None
    return value


_LabelValue = _LabelStr | int | float | bool
TodayLabels = dict[_LabelStr, _LabelValue]
CLUSTER_NAME = Annotated[str, Field(min_length=1, max_length=242, pattern=BAY_NAME)]
Nameservers = Annotated[
    str, Field(max_length=255), NoNul, pydantic.AfterValidator(_check_nameservers)
]


class ClusterTemplateBody(BayModelBody):
    """A cluster template as today's clients send it: the baymodel's fields with
    keypair_id optional, and Newton's additions."""

    ARGUMENT = "clustertemplate"
    READ_ONLY = _Body.READ_ONLY | {"project_id", "user_id"}

    keypair_id: Str255 | None = None  # type: ignore[assignment]
    dns_nameserver: Nameservers | None = None
    labels: TodayLabels = Field(default_factory=dict)  # type: ignore[assignment]
    fixed_subnet: Str255 | None = None
    insecure_registry: Str255 | None = None
    docker_storage_driver: Str255 | None = None
    master_lb_enabled: Bool = False
    floating_ip_enabled: Bool = True
    hidden: Bool = False
    tags: Annotated[str, Field(max_length=255), NoNul] | None = None
    driver: Str255 | None = None


class ClusterBody(_Body):
    """A cluster as today's clients send it; what it leaves out comes from its template."""

    ARGUMENT = "cluster"
    READ_ONLY = _Body.READ_ONLY | {
        "api_address",
        "node_addresses",
        "master_addresses",
        "stack_id",
        "cluster_id",
        "coe_version",
        "container_version",
        "project_id",
        "user_id",
        "faults",
        "labels_overridden",
        "labels_added",
        "labels_skipped",
    }

    uuid: Uuid | None = None
    name: CLUSTER_NAME | None = None
    cluster_template_id: Str255
    keypair: Str255 | None = None
    node_count: Annotated[int, Field(ge=0, le=MAX_INT)] = 1
    master_count: Annotated[int, Field(ge=1, le=MAX_INT)] = 1
    docker_volume_size: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None
    labels: TodayLabels | None = None
    merge_labels: Bool = False
    master_flavor_id: Str255 | None = None
    flavor_id: Str255 | None = None
    fixed_network: Str255 | None = None
    fixed_subnet: Str255 | None = None
    floating_ip_enabled: Bool | None = None
    master_lb_enabled: Bool | None = None
    create_timeout: Annotated[int, Field(ge=0, le=MAX_INT)] | None = 60
    discovery_url: Str255 | None = None
    status: Literal[tuple(s.value for s in fields.ClusterStatus)] | None = None  # type: ignore[valid-type]
    status_reason: Annotated[str, NoNul] | None = None
    health_status: Literal[tuple(s.value for s in fields.HealthStatus)] | None = None  # type: ignore[valid-type]
    health_status_reason: dict[_LabelStr, _LabelValue] | None = None


def _check_command(value: str) -> str:
    try:
        shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"Value is not a command line: {exc}") from None
    return value


MEMORY = r"^[0-9]+[bkmg]?$"
# What /v1/openapi.json declares: MEMORY above zero. Docker reads 0 as "no limit", which a
# container says by having no memory at all; "0" is refused, with a message that says so.
MEMORY_LIMIT = r"^0*[1-9][0-9]*[bkmg]?$"
ENV_NAME = r"^[^=\x00]+$"
_EnvStr = Annotated[str, Field(max_length=4096), NoNul]


def _check_memory(value: str) -> str:
    if int(value.rstrip("bkmg")) == 0:
        raise ValueError(
            "Value should be a limit above zero; leave memory out (or null) for no limit"
        )
    return value


def _check_env_name(value: str) -> str:
    if "=" in value:  # Docker would read NAME=A=B as NAME with the value A=B
        raise ValueError("Environment variable names cannot contain '='")
    return value


_EnvName = Annotated[
    str, Field(min_length=1, max_length=255), NoNul, pydantic.AfterValidator(_check_env_name)
]


class ContainerBody(_Body):
    ARGUMENT = "container"
    READ_ONLY = _Body.READ_ONLY | {"host", "status_reason"}

    uuid: Uuid | None = None
    name: Str255 | None = None
    image: Str255
    bay_uuid: Uuid
    command: (
        Annotated[str, Field(max_length=255), NoNul, pydantic.AfterValidator(_check_command)] | None
    ) = None
    memory: (
        Annotated[
            str,
            Field(pattern=MEMORY, max_length=32, json_schema_extra={"pattern": MEMORY_LIMIT}),
            pydantic.AfterValidator(_check_memory),
        ]
        | None
    ) = None
    environment: dict[_EnvName, _EnvStr] = Field(
        default_factory=dict,
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": 255, "pattern": ENV_NAME}
        },
    )
    status: Literal[tuple(s.value for s in fields.ContainerStatus)] | None = None  # type: ignore[valid-type]


# --- Kubernetes objects (/v1/pods, /v1/services, /v1/rcs) --------------------------------
# A manifest's size is bounded by [api] max_manifest_size (magnum.api.v1.manifests), a
# manifest_url's by what a URL is.
Manifest = Annotated[str, NoNul]
ManifestUrl = Annotated[str, Field(min_length=1, max_length=2048), NoNul]


class WorkloadBody(_Body):
    """What every workload create takes: the bay (a uuid, as Magnum Mitaka required) and
    the manifest, inline or as a URL the API fetches. The name and labels come from the
    manifest; a `uuid` is accepted and ignored (Kubernetes names the object's uid)."""

    READ_ONLY = _Body.READ_ONLY | {"name", "labels"}

    uuid: Uuid | None = None
    bay_uuid: Uuid
    manifest: Manifest | None = None
    manifest_url: ManifestUrl | None = None


class PodBody(WorkloadBody):
    ARGUMENT = "pod"

    desc: Annotated[str, Field(max_length=255), NoNul] | None = None
    # Accepted as Magnum Mitaka accepted them; what the pod shows is the cluster's.
    images: Annotated[list[Str255], Field(max_length=100)] | None = None
    status: Str255 | None = None
    host: Str255 | None = None


class ServiceBody(WorkloadBody):
    ARGUMENT = "service"
    READ_ONLY = WorkloadBody.READ_ONLY | {"selector", "ports"}

    ip: Str255 | None = None  # accepted; Kubernetes assigns the cluster IP


class ReplicationControllerBody(WorkloadBody):
    ARGUMENT = "rc"
    READ_ONLY = WorkloadBody.READ_ONLY | {"replicas"}

    images: Annotated[list[Str255], Field(max_length=100)] | None = None


class WorkloadPatched(_Body):
    """A workload's PATCH document once patched: a new manifest (or its URL) for the same
    bay. Magnum Mitaka replaced the object with it."""

    ARGUMENT = "patch"

    bay_uuid: Uuid
    manifest: Manifest | None = None
    manifest_url: ManifestUrl | None = None


class PatchOp(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ARGUMENT: ClassVar[str] = "patch"
    READ_ONLY: ClassVar[frozenset[str]] = frozenset()

    op: Literal["add", "replace", "remove"]
    path: Annotated[str, Field(pattern=r"^(/[\w-]+)+$", max_length=255)]
    value: str | int | bool | Labels | None = None


# --- turning pydantic errors into Magnum's wording --------------------------------------
def _reason(err: Mapping[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    simple = {
        "missing": "Mandatory field missing.",
        "string_type": "Value should be string",
        "int_type": "Value should be integer",
        "int_parsing": "Value should be integer",
        "bool_type": "Value should be boolean",
        "dict_type": "Value should be an object with string values",
        "list_type": "Value should be a list",
    }
    if kind in simple:
        return simple[kind]
    templates = {
        "greater_than_equal": "Value should be greater or equal to {ge}",
        "less_than_equal": "Value should be lower or equal to {le}",
        "string_too_short": "Value should have a minimum character requirement of {min_length}",
        "string_too_long": "Value should have a maximum character requirement of {max_length}",
        "string_pattern_mismatch": "Value should match the pattern {pattern}",
    }
    if kind in templates:
        return templates[kind].format(**ctx)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"Value should be one of: {', '.join(choices)}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"])


def _field_message(field: str, value: object, reason: str) -> str:
    field, shown = exceptions.shorten(field), exceptions.shorten(value)
    return f"Invalid input for field/attribute {field}. Value: '{shown}'. {reason}"


def validate(model: type[BaseModel], data: Any, *, argument: str | None = None) -> Any:
    """Validate a decoded JSON body; raise ValidationFailed naming every bad field."""
    arg = str(argument or getattr(model, "ARGUMENT", model.__name__.lower()))
    if not isinstance(data, dict):
        raise errors.ValidationFailed([f"Invalid input for argument {arg}: expected a JSON object"])
    read_only = sorted(k for k in data if k in getattr(model, "READ_ONLY", ()))
    if read_only:
        raise errors.ValidationFailed(
            [_field_message(k, data[k], "Cannot set read only field.") for k in read_only]
        )
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise errors.ValidationFailed(_messages(exc, data, arg)) from None


def _messages(exc: pydantic.ValidationError, data: dict[str, Any], arg: str) -> list[str]:
    unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    messages = []
    if unknown:
        noun = "attributes" if len(unknown) > 1 else "attribute"
        names = ", ".join(exceptions.shorten(name) for name in sorted(unknown))
        messages.append(f"Unknown {noun} for argument {arg}: {names}")
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        if err["type"] == "extra_forbidden" or not err["loc"]:
            continue
        field = str(err["loc"][0])
        if field in seen:  # a union reports each member; the first says it best
            continue
        seen.add(field)
        value = data.get(field) if field in data else None
        messages.append(_field_message(field, value, _reason(err)))
    return messages or [str(exc)]


# --- nodegroups (1.9) and the resize action (1.7) -------------------------------------------
# A nodegroup's name is the stem of its nodes' names (<name>-N), which become hostnames:
# Magnum's 255 characters would not fit in one, so names are shorter, and a cluster's name.
NODEGROUP_NAME = Annotated[str, Field(min_length=1, max_length=40, pattern=BAY_NAME)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
NodeLabels = dict[_LabelStr, _LabelStr]
# Taints are checked by magnum.objects.nodegroups (409, as Magnum answers); here only types.
NodeTaints = Annotated[list[dict[_LabelStr, _LabelStr]], Field(max_length=100)]


class NodeGroupBody(_Body):
    """A nodegroup to add to a cluster; what it leaves out comes from the cluster."""

    ARGUMENT = "nodegroup"
    READ_ONLY = _Body.READ_ONLY | {
        "id",
        "cluster_id",
        "project_id",
        "node_addresses",
        "is_default",
        "stack_id",
        "status",
        "status_reason",
        "version",
        "labels_overridden",
        "labels_added",
        "labels_skipped",
    }

    uuid: Uuid | None = None  # ignored: the API names every new nodegroup
    name: NODEGROUP_NAME
    docker_volume_size: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None
    labels: TodayLabels | None = None
    merge_labels: Bool = False
    flavor_id: Str255 | None = None
    image_id: Str255 | None = None
    node_count: Count = 1
    role: Literal["worker", "master"] = "worker"
    min_node_count: Count = 0
    max_node_count: Count | None = None
    node_labels: NodeLabels | None = None
    node_taints: NodeTaints | None = None


class NodeGroupPatched(_Body):
    """What a nodegroup PATCH may change, as the patched document."""

    ARGUMENT = "patch"

    min_node_count: Count = 0
    max_node_count: Count | None = None
    node_labels: NodeLabels = Field(default_factory=dict)
    node_taints: NodeTaints = Field(default_factory=list)


class ResizeBody(_Body):
    """POST /v1/clusters/{ident}/actions/resize."""

    ARGUMENT = "cluster_resize_req"

    node_count: Count
    nodes_to_remove: Annotated[list[Str255], Field(max_length=1000)] = Field(default_factory=list)
    nodegroup: Str255 | None = None


class ClusterUpgradeBody(_Body):
    """POST /v1/clusters/{ident}/actions/upgrade (magnum.api.v1.upgrade)."""

    ARGUMENT = "cluster_upgrade"
    cluster_template: Str255
    max_batch_size: Annotated[int, Field(ge=1, le=MAX_INT)] = 1
    nodegroup: Str255 | None = None
