# SPDX-License-Identifier: Apache-2.0
"""Contract between the conductor and its drivers.

A bay is built by two drivers together: an *infrastructure* driver makes nodes
(hosts with an address and a container engine), a *COE* driver turns those nodes
into a cluster (Swarm managers and workers, ...). Only the conductor calls drivers.

Drivers receive a `BayTask`, never a database session or the conductor itself.
Every method must be idempotent: a conductor that takes over an operation after
its owner died calls the same methods again, and they must find what already
exists instead of failing or building it twice. Drivers report failure by raising
magnum.common.exceptions.MagnumError subclasses (BayOperationFailed with a reason
a tenant can act on; RetryLater for transient trouble).
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import MutableMapping, Sequence
from typing import Any, ClassVar, Protocol

from oslo_config import cfg


class Role(enum.StrEnum):
    MASTER = "master"
    WORKER = "worker"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BayModelView:
    """The template fields a driver may read."""

    uuid: str
    coe: str
    image_id: str | None
    flavor_id: str | None
    master_flavor_id: str | None
    keypair_id: str | None
    external_network_id: str | None
    fixed_network: str | None
    network_driver: str | None
    volume_driver: str | None
    dns_nameserver: str | None
    docker_volume_size: int | None
    http_proxy: str | None
    https_proxy: str | None
    no_proxy: str | None
    server_type: str | None
    labels: dict[str, str]
    registry_enabled: bool
    tls_disabled: bool

    @classmethod
    def of(cls, source: Any) -> BayModelView:
        """Build from anything with these attributes (a database row, a validated body)."""
        values = {f.name: getattr(source, f.name) for f in dataclasses.fields(cls)}
        values["coe"] = values["coe"] or ""
        values["labels"] = dict(values["labels"] or {})
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BayView:
    """The bay fields a driver may read."""

    uuid: str
    name: str | None
    project_id: str
    master_count: int
    node_count: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """A node the conductor wants. `name` is stable across retries (e.g. master-0, node-3)."""

    name: str
    role: Role
    flavor: str | None
    image: str | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A node that exists."""

    name: str
    role: Role
    address: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """Where a bay is reached once its COE is up."""

    api_address: str
    master_addresses: tuple[str, ...]
    node_addresses: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    healthy: bool
    reason: str


class BayTask(Protocol):
    """What a driver is handed. Implemented by magnum.conductor, so drivers never import it."""

    @property
    def bay(self) -> BayView: ...

    @property
    def baymodel(self) -> BayModelView: ...

    @property
    def state(self) -> MutableMapping[str, Any]:
        """Driver-private JSON state kept with the bay; persisted by `checkpoint`."""
        ...

    def progress(self, reason: str) -> None:
        """Say what is happening now ("2/3 nodes joined"). Raises LeaseLost if the
        operation was taken away (bay deleted meanwhile, lease expired)."""
        ...

    def checkpoint(self) -> None:
        """Persist `state` now, so a conductor that takes over finds it."""
        ...


class InfraDriver(abc.ABC):
    """Where nodes come from."""

    name: ClassVar[str]

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def validate(self, baymodel: BayModelView, *, master_count: int, node_count: int) -> None:
        """Cheap checks before anything is built. Raises Invalid subclasses."""
        del baymodel, master_count, node_count

    @abc.abstractmethod
    def create_nodes(self, task: BayTask, specs: Sequence[NodeSpec]) -> list[Node]:
        """Make sure every node in `specs` exists and runs its engine; return them all."""

    @abc.abstractmethod
    def delete_nodes(self, task: BayTask, names: Sequence[str]) -> None:
        """Remove these nodes and everything they hold. Missing nodes are fine."""

    @abc.abstractmethod
    def delete_bay(self, task: BayTask) -> None:
        """Remove every node and every shared resource of the bay. Nothing may remain."""

    @abc.abstractmethod
    def list_nodes(self, task: BayTask) -> list[Node]:
        """The nodes that exist now."""


class CoeDriver(abc.ABC):
    """What runs on the nodes."""

    coe: ClassVar[str]

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def validate(self, baymodel: BayModelView, *, master_count: int, node_count: int) -> None:
        """Cheap checks before anything is built. Raises Invalid subclasses."""
        del baymodel, master_count, node_count

    @abc.abstractmethod
    def bootstrap(self, task: BayTask, nodes: Sequence[Node]) -> Endpoints:
        """Form the cluster from `nodes` (masters first); idempotent."""

    @abc.abstractmethod
    def add_workers(self, task: BayTask, nodes: Sequence[Node], new: Sequence[Node]) -> Endpoints:
        """Join `new` workers to the running cluster made of `nodes`."""

    @abc.abstractmethod
    def remove_workers(self, task: BayTask, nodes: Sequence[Node], gone: Sequence[Node]) -> None:
        """Drain `gone` workers and take them out of the cluster (before they are deleted)."""

    @abc.abstractmethod
    def health(self, task: BayTask, nodes: Sequence[Node]) -> Health:
        """Whether every node is up and part of the cluster."""
