# SPDX-License-Identifier: Apache-2.0
"""Contract between the conductor and its drivers.

A bay is built by two drivers together: an *infrastructure* driver makes nodes
(hosts with an address and a container engine), a *COE* driver turns those nodes
into a cluster (Swarm managers and workers, ...). Only the conductor calls drivers.
This module is the lifecycle; what a COE driver offers beyond it (containers, images,
workloads) are the capability interfaces of magnum.drivers.capabilities.

Drivers receive a `ClusterTask`, never a database session or the conductor itself.
Every method must be idempotent: a conductor that takes over an operation after
its owner died calls the same methods again, and they must find what already
exists instead of failing or building it twice. Drivers report failure by raising
magnum.common.exceptions.MagnumError subclasses (ClusterOperationFailed with a reason
a tenant can act on; RetryLater for transient trouble).
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from oslo_config import cfg

from magnum.common import exceptions

if TYPE_CHECKING:  # the capabilities are built on this module's types
    from magnum.drivers import capabilities


class Role(enum.StrEnum):
    MASTER = "master"
    WORKER = "worker"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClusterTemplateView:
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
    def of(cls, source: Any) -> ClusterTemplateView:
        """Build from anything with these attributes (a database row, a validated body)."""
        values = {f.name: getattr(source, f.name) for f in dataclasses.fields(cls)}
        values["coe"] = values["coe"] or ""
        values["labels"] = dict(values["labels"] or {})
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeGroupView:
    """A group of nodes with one role, flavor and image."""

    name: str
    role: Role
    flavor_id: str | None
    image_id: str | None
    node_count: int
    labels: dict[str, str]


DEFAULT_NODEGROUP = {Role.MASTER: "default-master", Role.WORKER: "default-worker"}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClusterView:
    """The cluster fields a driver may read. The counts are the sums over `nodegroups`."""

    uuid: str
    name: str | None
    project_id: str
    master_count: int
    node_count: int
    nodegroups: tuple[NodeGroupView, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """A node the conductor wants. `name` is stable across retries (e.g. master-0, node-3);
    `nodegroup` names the group it belongs to."""

    name: str
    role: Role
    flavor: str | None
    image: str | None
    nodegroup: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A node that exists, and the nodegroup it belongs to."""

    name: str
    role: Role
    address: str
    nodegroup: str


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


class ClusterTask(Protocol):
    """What a driver is handed. Implemented by magnum.conductor, so drivers never import it."""

    @property
    def cluster(self) -> ClusterView: ...

    @property
    def cluster_template(self) -> ClusterTemplateView: ...

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

    def validate(
        self,
        cluster_template: ClusterTemplateView,
        *,
        master_count: int,
        node_count: int,
        existing: int = 0,
    ) -> None:
        """Cheap checks before anything is built, for a cluster of these counts of which
        `existing` nodes are built already (a resize). Raises Invalid subclasses."""
        del cluster_template, master_count, node_count, existing

    def capacity(self) -> int | None:
        """Nodes this infrastructure holds in all, for every cluster together (the budget the
        API holds requests to); None when it sets no limit. Cheap: no remote calls."""
        return None

    @abc.abstractmethod
    def create_nodes(self, task: ClusterTask, specs: Sequence[NodeSpec]) -> list[Node]:
        """Make sure every node in `specs` exists and runs its engine; return them all."""

    @abc.abstractmethod
    def delete_nodes(self, task: ClusterTask, names: Sequence[str]) -> None:
        """Remove these nodes and everything they hold. Missing nodes are fine."""

    @abc.abstractmethod
    def delete_cluster(self, task: ClusterTask) -> None:
        """Remove every node and every shared resource of the bay. Nothing may remain."""

    @abc.abstractmethod
    def list_nodes(self, task: ClusterTask) -> list[Node]:
        """The nodes that exist now."""

    def node_memory_mb(self, task: ClusterTask, node: Node) -> int | None:
        """Memory of `node` in MB, which containers placed on it share; None if unknown
        (then placement counts containers only). Cheap: no remote calls."""
        del task, node
        return None

    def registry_address(self, task: ClusterTask) -> str | None:
        """host:port of the image registry this infrastructure runs for the bay (baymodels
        with registry_enabled), or None. Optional: the default runs none."""
        del task
        return None

    def api_frontend(self, task: ClusterTask, masters: Sequence[Node]) -> str | None:
        """host:port of one stable address in front of the API of every node in `masters`
        (it keeps answering while any of them does), started or updated now; None when the
        infrastructure has none (then master-0 is the bay's API address). Idempotent.
        Optional: the default has none."""
        del task, masters
        return None


class CoeDriver(abc.ABC):
    """What runs on the nodes: the cluster's lifecycle, and the capabilities it offers.

    `containers`, `images` and `workloads` are what the driver offers beyond the lifecycle
    (magnum.drivers.capabilities), or None when it offers no such thing. A driver sets
    them in its constructor; the registry checks their types when it loads the driver.
    """

    coe: ClassVar[str]
    containers: capabilities.ContainerInterface | None = None
    images: capabilities.ImageInterface | None = None
    workloads: capabilities.WorkloadInterface | None = None

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def validate(
        self, cluster_template: ClusterTemplateView, *, master_count: int, node_count: int
    ) -> None:
        """Cheap checks before anything is built. Raises Invalid subclasses."""
        del cluster_template, master_count, node_count

    @abc.abstractmethod
    def bootstrap(self, task: ClusterTask, nodes: Sequence[Node]) -> Endpoints:
        """Form the cluster from `nodes` (masters first); idempotent."""

    @abc.abstractmethod
    def add_workers(
        self, task: ClusterTask, nodes: Sequence[Node], new: Sequence[Node]
    ) -> Endpoints:
        """Join `new` workers to the running cluster made of `nodes`."""

    @abc.abstractmethod
    def remove_workers(
        self, task: ClusterTask, nodes: Sequence[Node], gone: Sequence[Node]
    ) -> None:
        """Drain `gone` workers and take them out of the cluster (before they are deleted)."""

    @abc.abstractmethod
    def health(self, task: ClusterTask, nodes: Sequence[Node]) -> Health:
        """Whether every node is up and part of the cluster."""

    def upgrade(
        self, task: ClusterTask, nodes: Sequence[Node], target: ClusterTemplateView
    ) -> Endpoints:
        """Move the running cluster made of `nodes` to what `target` asks for (its COE
        version, image, labels), a node at a time, keeping the cluster serving; idempotent.
        Optional: the default says the COE cannot."""
        del task, nodes, target
        raise exceptions.NotSupported(operation=f"Upgrading {self.coe} clusters")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the driver keeps between calls (the conductor is stopping)."""
