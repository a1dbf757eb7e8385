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
from collections.abc import Mapping, MutableMapping, Sequence
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
    # Whether the nodes get floating IPs (reachable from outside their network on every
    # port), and a load balancer fronts the masters' API; fields older sources may lack.
    floating_ip_enabled: bool = True
    master_lb_enabled: bool = False

    @classmethod
    def of(cls, source: Any) -> ClusterTemplateView:
        """Build from anything with these attributes (a database row, a validated body);
        an attribute with a default may be missing, or None."""
        values = {}
        for f in dataclasses.fields(cls):
            if f.default is dataclasses.MISSING:
                values[f.name] = getattr(source, f.name)
            elif (value := getattr(source, f.name, None)) is not None:
                values[f.name] = value
        values["coe"] = values["coe"] or ""
        # today's labels may hold numbers and booleans; drivers read them as strings
        values["labels"] = cls.of_labels(values["labels"] or {})
        return cls(**values)

    @staticmethod
    def of_labels(labels: Mapping[str, Any]) -> dict[str, str]:
        return {k: _label_text(v) for k, v in labels.items()}


def _label_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeGroupView:
    """A group of nodes with one role, flavor and image. `node_labels` and `node_taints`
    (1.14) are what its nodes should carry as COE node metadata; `is_default` marks the
    cluster's default master and worker groups."""

    name: str
    role: Role
    flavor_id: str | None
    image_id: str | None
    node_count: int
    labels: dict[str, str]
    node_labels: dict[str, str] = dataclasses.field(default_factory=dict)
    node_taints: tuple[dict[str, str], ...] = ()
    is_default: bool = False


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
class NodeProfile:
    """How a COE wants its nodes' hosts prepared (CoeDriver.node_profile).

    `engine_networking`: the node's container engine networks its containers itself (its
    own bridge and NAT, as Swarm's engines do); False when the COE's own networking (CNI)
    does, so the engine must leave bridges and iptables alone. `private_dirs`: host
    paths every node sees as its own empty directory (Kubernetes' kubelet writes fixed
    paths such as /var/lib/kubelet and /var/log/pods, which nodes on one host must not
    share); nothing a node mounts there is seen by the host or other nodes.
    """

    engine_networking: bool = True
    private_dirs: tuple[str, ...] = ()


DEFAULT_PROFILE = NodeProfile()  # what a Swarm node needs: a plain container engine


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """A node the conductor wants. `name` is stable across retries (e.g. master-0, node-3);
    `nodegroup` names the group it belongs to; `profile` is the COE's (node_profile)."""

    name: str
    role: Role
    flavor: str | None
    image: str | None
    nodegroup: str
    profile: NodeProfile = DEFAULT_PROFILE


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A node that exists, and the nodegroup it belongs to. `address` is its own, on its
    cluster's network (what the cluster's nodes know it by); `floating_ip` is where it is
    reached from outside that network (the conductor, tenants) when its own address is
    private to the cluster, or None. COE drivers reach nodes at `reachable_address`."""

    name: str
    role: Role
    address: str
    nodegroup: str
    floating_ip: str | None = None

    @property
    def reachable_address(self) -> str:
        return self.floating_ip or self.address


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


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Daemon:
    """A long-running process of the COE on a node (etcd, kube-apiserver, kubelet...).

    `argv[0]` is a program of the host. `files` (relative path -> content) are written,
    readable by root only, into the daemon's directory on the node before it starts;
    every "{dir}" in `argv` and in `files`' contents stands for that directory. `env` is
    its whole environment (PATH is added).
    """

    name: str
    argv: tuple[str, ...]
    files: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)


class NodeHost(abc.ABC):
    """What an infrastructure offers a COE that is more than a container engine: its own
    daemons run on the nodes, as cloud-init and systemd units would run them on a cloud's
    servers (InfraDriver.hosts; None when the infrastructure cannot).

    Daemons run on the node (its network, hostname, private directories and cgroup, so
    its flavor bounds them) and die with it. Every method is idempotent; `start` of a
    daemon that runs already changes nothing, even if its files differ.
    """

    @abc.abstractmethod
    def daemon_dir(self, task: ClusterTask, node: Node, name: str) -> str:
        """The directory on `node` that holds the files of daemon `name` ("{dir}")."""

    @abc.abstractmethod
    def start(self, task: ClusterTask, node: Node, daemons: Sequence[Daemon]) -> None:
        """Write each daemon's files and start it unless it runs, in the given order."""

    @abc.abstractmethod
    def running(self, task: ClusterTask, node: Node, name: str) -> bool:
        """Whether daemon `name` runs on `node` now. A daemon that exits is started again
        (as systemd's Restart=always does), so this is False only until its restart,
        unless its node is gone or it was stopped."""

    @abc.abstractmethod
    def exits(self, task: ClusterTask, node: Node, name: str) -> int:
        """How many times daemon `name` has exited since it was started (a daemon that
        keeps exiting cannot start: its log says why)."""

    @abc.abstractmethod
    def log_tail(self, task: ClusterTask, node: Node, name: str, *, lines: int = 3) -> str:
        """The last lines daemon `name` printed (for failure reasons), one line."""

    @abc.abstractmethod
    def stop(self, task: ClusterTask, node: Node, name: str) -> None:
        """Kill daemon `name` (and what it started) on `node`. A daemon not running is fine."""

    @abc.abstractmethod
    def set_routes(self, task: ClusterTask, node: Node, routes: Mapping[str, str]) -> None:
        """Make `node` route each CIDR of `routes` via the address it maps to (another
        node of the cluster), or out of its own interface where it maps to ""; routes of
        CIDRs not named stay as they are. Also lets the node forward traffic between its
        interfaces (a node routing for its containers)."""


class InfraDriver(abc.ABC):
    """Where nodes come from. `hosts` is the NodeHost for COEs that run daemons of their
    own, or None."""

    name: ClassVar[str]
    hosts: NodeHost | None = None

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

    def api_frontend(
        self, task: ClusterTask, masters: Sequence[Node], *, port: int | None = None
    ) -> str | None:
        """host:port of one stable address in front of the API of every node in `masters`
        (it keeps answering while any of them does), started or updated now; None when the
        infrastructure has none (then master-0 is the bay's API address). `port` is the
        masters' API port (the COE's api_port; None: their container engines'). Idempotent.
        Optional: the default has none."""
        del task, masters, port
        return None

    # --- TLS rotation (CA rotation and credentials rotation) -----------------------------
    # Optional, all three or none. The conductor drives the phases (conductor.handlers.
    # rotation) and keeps the credentials in the driver state (magnum.common.pki); the
    # infrastructure changes what its nodes' TLS endpoints trust and present, without
    # restarting what the nodes run.
    def supports_tls_rotation(self, cluster_template: ClusterTemplateView) -> bool:
        """Whether `set_node_trust` and `reissue_node_certificates` work for clusters of
        this template. Cheap: the API asks before it records a rotation."""
        del cluster_template
        return False

    def set_node_trust(self, task: ClusterTask, nodes: Sequence[Node], trust: bytes) -> None:
        """Make every node in `nodes` verify its clients against `trust` (PEM: CA
        certificates, and a CRL for each, whose listed certificates are refused), in
        effect when this returns, without restarting the node's engine or containers;
        idempotent. Raises ClusterOperationFailed naming a node that cannot."""
        del task, nodes, trust
        raise exceptions.NotSupported(operation="Rotating the TLS material of nodes")

    def reissue_node_certificates(
        self, task: ClusterTask, nodes: Sequence[Node], *, ca_cert: bytes, ca_key: bytes
    ) -> None:
        """Give every node in `nodes` a new server certificate (new key, same names)
        issued by this CA (`ca_key` decrypted PEM), in effect when this returns, without
        restarting anything; a node whose certificate this CA issued already keeps it."""
        del task, nodes, ca_cert, ca_key
        raise exceptions.NotSupported(operation="Rotating the TLS material of nodes")

    # --- upgrade: replacement nodes built from another template ---------------------------
    # Optional, both or none. The conductor (conductor.handlers.upgrade) replaces a
    # cluster's nodes a batch at a time: it builds each replacement from the target
    # template, joins it, moves its workloads over, then drains and deletes the old node.
    def check_upgrade(self, current: ClusterTemplateView, target: ClusterTemplateView) -> None:
        """Cheap checks (no remote calls) that nodes built from `target` can replace nodes
        built from `current` in one running cluster. Raises NotSupported (the default),
        or Invalid naming what cannot change."""
        del current, target
        raise exceptions.NotSupported(
            operation=f"Upgrading clusters on the {self.name} infrastructure"
        )

    def create_nodes_from(
        self, task: ClusterTask, specs: Sequence[NodeSpec], template: ClusterTemplateView
    ) -> list[Node]:
        """As create_nodes, but the nodes of `specs` that do not exist yet are built from
        `template` (an upgrade's target) instead of the cluster's own; returns every node.
        Idempotent like create_nodes."""
        del task, specs, template
        raise exceptions.NotSupported(
            operation=f"Upgrading clusters on the {self.name} infrastructure"
        )


class WithTemplate:
    """A ClusterTask that shows `template` instead of its cluster's template (for an
    infrastructure whose create_nodes reads the template from the task: its
    create_nodes_from is then `create_nodes(WithTemplate(task, template), specs)`). State,
    progress and checkpoints are the task's own."""

    def __init__(self, task: ClusterTask, template: ClusterTemplateView) -> None:
        self._task = task
        self._template = template

    @property
    def cluster(self) -> ClusterView:
        return self._task.cluster

    @property
    def cluster_template(self) -> ClusterTemplateView:
        return self._template

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._task.state

    def progress(self, reason: str) -> None:
        self._task.progress(reason)

    def checkpoint(self) -> None:
        self._task.checkpoint()


class CoeDriver(abc.ABC):
    """What runs on the nodes: the cluster's lifecycle, and the capabilities it offers.

    `containers`, `images` and `workloads` are what the driver offers beyond the lifecycle
    (magnum.drivers.capabilities), or None when it offers no such thing. A driver sets
    them in its constructor; the registry checks their types when it loads the driver.
    """

    coe: ClassVar[str]
    node_profile: ClassVar[NodeProfile] = DEFAULT_PROFILE
    # The masters' API port when it is not their container engines' (InfraDriver.api_frontend).
    api_port: ClassVar[int | None] = None
    # Whether the cluster keeps working through a CA or credentials rotation of its nodes'
    # TLS endpoints (InfraDriver.set_node_trust...): False when the COE's own components
    # hold certificates of the CA that the rotation does not reissue.
    tls_rotation: ClassVar[bool] = True
    containers: capabilities.ContainerInterface | None = None
    images: capabilities.ImageInterface | None = None
    workloads: capabilities.WorkloadInterface | None = None

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self.infra: Mapping[str, InfraDriver] = {}

    def bind(self, infra: Mapping[str, InfraDriver]) -> None:
        """Called once by the registry with the enabled infrastructure drivers (by name),
        for a COE driver that needs more of its nodes than their engines (NodeHost)."""
        self.infra = infra

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

    # --- upgrade (see InfraDriver.check_upgrade): nodes of any role join and leave --------
    def check_upgrade(self, current: ClusterTemplateView, target: ClusterTemplateView) -> None:
        """Cheap checks that a running cluster of `current` can take nodes of `target`
        (the API has checked that the COE is the same). Raises NotSupported (the
        default), or Invalid naming what cannot change."""
        del current, target
        raise exceptions.NotSupported(operation=f"Upgrading {self.coe} clusters")

    def add_nodes(self, task: ClusterTask, nodes: Sequence[Node], new: Sequence[Node]) -> Endpoints:
        """Join `new` nodes of either role to the running cluster made of `nodes` (which
        lists them too); idempotent. The default joins workers only (add_workers)."""
        if any(n.role is Role.MASTER for n in new):
            raise exceptions.NotSupported(operation=f"Adding masters to {self.coe} clusters")
        return self.add_workers(task, nodes, new)

    def remove_nodes(self, task: ClusterTask, nodes: Sequence[Node], gone: Sequence[Node]) -> None:
        """Drain `gone` nodes of either role and take them out of the cluster made of
        `nodes` (before they are deleted; at least one master stays); idempotent. The
        default removes workers only (remove_workers)."""
        if any(n.role is Role.MASTER for n in gone):
            raise exceptions.NotSupported(operation=f"Removing masters from {self.coe} clusters")
        self.remove_workers(task, nodes, gone)

    def copy_images(
        self, task: ClusterTask, source: Node, target: Node, images: Sequence[str]
    ) -> list[str]:
        """Copy those of `images` that `source`'s engine holds and `target`'s lacks (images
        loaded into the nodes rather than pulled) to `target`; return the ones copied.
        The default copies nothing."""
        del task, source, target, images
        return []

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the driver keeps between calls (the conductor is stopping)."""
