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
import pathlib
from collections.abc import MutableMapping, Sequence
from typing import Any, ClassVar, Protocol

from oslo_config import cfg

from magnum.common import exceptions


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


class ContainerAction(enum.StrEnum):
    """Container actions of the API, each one Docker call (reboot is Docker's restart)."""

    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    PAUSE = "pause"
    UNPAUSE = "unpause"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerSpec:
    """A container to create (not start) on a node. `uuid` is Magnum's; the driver labels
    the container with it (and the bay's uuid) so that it can find it again."""

    uuid: str
    name: str | None
    image: str
    command: str | None
    environment: dict[str, str]
    memory_bytes: int | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerState:
    """What the engine says of a container: a magnum.objects.fields.ContainerStatus value
    (Running, Stopped, Paused, Error) and, for Error, why."""

    status: str
    reason: str | None = None


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
        self, cluster_template: ClusterTemplateView, *, master_count: int, node_count: int
    ) -> None:
        """Cheap checks before anything is built. Raises Invalid subclasses."""
        del cluster_template, master_count, node_count

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
    """What runs on the nodes."""

    coe: ClassVar[str]

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

    def load_image(self, task: ClusterTask, nodes: Sequence[Node], path: pathlib.Path) -> list[str]:
        """Load the image archive at `path` (what `docker save` writes, possibly compressed)
        into the container engine of every node in `nodes`; return the repo:tags it held.

        Called on a settled bay whose lease the caller holds, with a read-only task
        (progress and checkpoint do nothing). Loading the same archive again is harmless.
        Raises InvalidParameterValue when the engines refuse the archive, BayOperationFailed
        when a node cannot be reached. Optional: the default says the COE cannot.
        """
        del task, nodes, path
        raise exceptions.NotSupported(operation=f"Loading images into {self.coe} bays")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the driver keeps between calls (the conductor is stopping)."""

    # --- containers on the bay's nodes (Magnum's /v1/containers) -------------------------
    # Called on a settled bay with a read-only task. Every method raises NodeUnavailable
    # (409) when the node's engine does not answer, InvalidState (409) when the engine
    # refuses the action in the container's state (pause a stopped container) or no
    # longer has the container, and InvalidParameterValue (400) for requests the engine
    # calls bad. Optional: the defaults say the COE has no containers.
    def container_create(self, task: ClusterTask, node: Node, spec: ContainerSpec) -> str:
        """Create (do not start) the container on `node`; return the engine's id for it.
        Raises ImageNotAvailable when the node does not have the image (and cannot pull it)."""
        del task, node, spec
        raise exceptions.NotSupported(operation=f"Containers on {self.coe} bays")

    def container_action(
        self, task: ClusterTask, node: Node, container_id: str, action: ContainerAction
    ) -> None:
        del task, node, container_id, action
        raise exceptions.NotSupported(operation=f"Containers on {self.coe} bays")

    def container_logs(self, task: ClusterTask, node: Node, container_id: str) -> str:
        del task, node, container_id
        raise exceptions.NotSupported(operation=f"Containers on {self.coe} bays")

    def container_exec(
        self, task: ClusterTask, node: Node, container_id: str, argv: Sequence[str]
    ) -> str:
        """Run `argv` in the running container; return its stdout and stderr combined."""
        del task, node, container_id, argv
        raise exceptions.NotSupported(operation=f"Containers on {self.coe} bays")

    def container_remove(self, task: ClusterTask, node: Node, container_id: str) -> None:
        """Remove the container, running or not. A container already gone is fine."""
        del task, node, container_id
        raise exceptions.NotSupported(operation=f"Containers on {self.coe} bays")

    def container_states(self, task: ClusterTask, node: Node) -> dict[str, ContainerState]:
        """{magnum uuid: state} of every container this bay has on `node` (one engine call)."""
        del task, node
        raise exceptions.NotSupported(operation=f"Containers on {self.coe} bays")

    def container_state(self, task: ClusterTask, node: Node, container_id: str) -> ContainerState:
        """The state of one container; status Error with a reason if the engine lacks it."""
        del task, node, container_id
        raise exceptions.NotSupported(operation=f"Containers on {self.coe} bays")
