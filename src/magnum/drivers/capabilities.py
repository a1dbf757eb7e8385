# SPDX-License-Identifier: Apache-2.0
"""What a COE driver may offer beyond the cluster's lifecycle, one interface per capability.

A COE driver (magnum.drivers.base.CoeDriver) exposes each as an attribute, in Ironic's
style: `containers`, `images` and `workloads` hold an implementation of the interface, or
None when the driver does not offer it. Callers ask the driver registry
(magnum.drivers.registry.Drivers.containers_for, ...), which answers 400 naming the COE for
a capability its driver lacks; nothing above the drivers asks which COE a cluster runs.

  ContainerInterface  plain containers on one node's engine (Magnum Mitaka's /v1/containers)
  ImageInterface      loading a tenant's image archive into every node's engine
  WorkloadInterface   objects of the cluster's own API: pods, services, replication
                      controllers (Magnum Mitaka's /v1/pods, /v1/services, /v1/rcs); the
                      Kubernetes driver's

Every method is called on a settled cluster with a read-only task (progress and checkpoint
do nothing) and no lease, except `ImageInterface.load_image`, whose caller holds it. They
raise magnum errors only (foreign library errors are mapped where the driver calls the
library, e.g. magnum.drivers.coe.docker_errors).

This module sits beside the lifecycle contract rather than under magnum.drivers.coe (the
COE implementations and what they share), which the API must never import.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from magnum.common import exceptions
from magnum.drivers import base


# --- containers ------------------------------------------------------------------------
class ContainerAction(enum.StrEnum):
    """Container actions of the API, each one engine call (reboot is Docker's restart)."""

    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    PAUSE = "pause"
    UNPAUSE = "unpause"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerSpec:
    """A container to create (not start) on a node. `uuid` is Magnum's; the driver labels
    the container with it (and the cluster's uuid) so that it can find it again."""

    uuid: str
    name: str | None
    image: str
    command: str | None
    environment: dict[str, str]
    memory_bytes: int | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerState:
    """What the engine says of a container: a magnum.objects.fields.ContainerStatus value
    (Running, Stopped, Paused, Error) and, for Error, why; `container_id` is the engine's
    id of it, where the engine listed it (`states`)."""

    status: str
    reason: str | None = None
    container_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The bounds of a call whose length and output the tenant decides (exec, logs):
    seconds it may take, and bytes of output it keeps."""

    timeout: float
    max_bytes: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Output:
    """What a command or a container's log printed, cut to Limits.max_bytes (`truncated`
    then says so)."""

    text: str
    truncated: bool = False


def timed_out(what: str, limits: Limits, outcome: str) -> exceptions.ContainerTimedOut:
    """The error for `what` ("The command", "Reading the logs") passing limits.timeout;
    `outcome` says what became of it ("it was killed")."""
    return exceptions.ContainerTimedOut(
        detail=f"{what} did not finish within {limits.timeout:g} s ([api] exec_timeout): {outcome}."
    )


class ContainerInterface(abc.ABC):
    """Containers on the cluster's nodes. The conductor chooses the node.

    Every method raises NodeUnavailable (409) when the node's engine does not answer,
    InvalidState (409) when the engine refuses the action in the container's state (pause
    a stopped container) or no longer has the container, and InvalidParameterValue (400)
    for requests the engine calls bad. `logs` and `exec`, whose length and output the
    tenant decides, keep to their Limits (raising ContainerTimedOut, 504, past the time).
    """

    @abc.abstractmethod
    def create(self, task: base.ClusterTask, node: base.Node, spec: ContainerSpec) -> str:
        """Create (do not start) the container on `node`; return the engine's id for it.
        Raises ImageNotAvailable when the node does not have the image (and cannot pull it)."""

    @abc.abstractmethod
    def action(
        self, task: base.ClusterTask, node: base.Node, container_id: str, action: ContainerAction
    ) -> None:
        """Do `action` to the container."""

    @abc.abstractmethod
    def logs(
        self, task: base.ClusterTask, node: base.Node, container_id: str, limits: Limits
    ) -> Output:
        """The container's stdout and stderr so far: the last limits.max_bytes of them
        (truncated when there were more). Raises ContainerTimedOut when the engine did not
        deliver them within limits.timeout."""

    @abc.abstractmethod
    def exec(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        argv: Sequence[str],
        limits: Limits,
    ) -> Output:
        """Run `argv` in the running container; return its stdout and stderr combined.

        A command that prints more than limits.max_bytes is stopped (its processes are
        killed, as a pipe into `head -c` would end it) and its output truncated. One still
        running after limits.timeout is killed, and ContainerTimedOut (504) raised saying
        whether that worked. Never blocks much longer than limits.timeout.
        """

    @abc.abstractmethod
    def find(self, task: base.ClusterTask, node: base.Node, uuid: str) -> str | None:
        """The engine's id of the container on `node` labelled with Magnum `uuid`, or None:
        how a container whose creator died before recording its id is found again."""

    @abc.abstractmethod
    def remove(self, task: base.ClusterTask, node: base.Node, container_id: str) -> None:
        """Remove the container, running or not. A container already gone is fine."""

    @abc.abstractmethod
    def states(self, task: base.ClusterTask, node: base.Node) -> dict[str, ContainerState]:
        """{magnum uuid: state, with its container_id} of every container the cluster has
        on `node` (one call)."""

    @abc.abstractmethod
    def state(self, task: base.ClusterTask, node: base.Node, container_id: str) -> ContainerState:
        """The state of one container; status Error with a reason if the engine lacks it."""


# --- images ----------------------------------------------------------------------------
class ImageInterface(abc.ABC):
    """Images loaded straight into the nodes' engines (for clusters without a registry)."""

    @abc.abstractmethod
    def load_image(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], path: pathlib.Path
    ) -> list[str]:
        """Load the image archive at `path` (what `docker save` writes, possibly compressed)
        into the container engine of every node in `nodes`; return the repo:tags it held.

        The caller holds the settled cluster's lease. Loading the same archive again is
        harmless. Raises InvalidParameterValue when the engines refuse the archive,
        ClusterOperationFailed when a node cannot be reached.
        """


# --- workloads -------------------------------------------------------------------------
NAMESPACE = "default"  # Magnum Mitaka's: every workload lives in it


class WorkloadKind(enum.StrEnum):
    """The kinds of Magnum Mitaka's Kubernetes resources."""

    POD = "pod"
    SERVICE = "service"
    REPLICATION_CONTROLLER = "replicationcontroller"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """One object of the cluster's API as it is now: its kind, name (unique per kind and
    namespace), namespace, and the object as the cluster's API renders it (Kubernetes'
    JSON: `metadata.uid`, `spec`, `status`, camelCase keys)."""

    kind: WorkloadKind
    name: str
    namespace: str
    manifest: Mapping[str, Any]

    @property
    def uid(self) -> str | None:
        """The cluster's id of the object (`metadata.uid`): Magnum's `uuid` of it."""
        metadata = self.manifest.get("metadata")
        uid = metadata.get("uid") if isinstance(metadata, Mapping) else None
        return str(uid) if uid is not None else None

    def as_dict(self) -> dict[str, Any]:
        """The workload as it crosses RPC (JSON values only)."""
        return {
            "kind": str(self.kind),
            "name": self.name,
            "namespace": self.namespace,
            "manifest": dict(self.manifest),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workload:
        return cls(
            kind=WorkloadKind(data["kind"]),
            name=str(data["name"]),
            namespace=str(data["namespace"]),
            manifest=data["manifest"],
        )


class WorkloadInterface(abc.ABC):
    """Objects of the cluster's own API, created from a manifest: Kubernetes pods, services
    and replication controllers, all in NAMESPACE. The Kubernetes COE driver offers it
    (magnum.drivers.coe.kubernetes.workloads); the API asks for the capability, never for
    the COE.

    A manifest reaches the driver parsed (a mapping) and checked by the API for what Magnum
    itself reads: `metadata.name`, and the containers, ports or selector of its kind. The
    driver fills in `apiVersion` and `kind` where the manifest leaves them out; anything
    else is the cluster's API's to judge.

    Every method raises, with the cluster's API's own message where it gave one:
      NodeUnavailable (409)        the cluster's API does not answer (connection refused,
                                   timed out, TLS failure, no API yet);
      WorkloadNotFound (404)       show, replace: the cluster has no object of that name;
      WorkloadConflict (409)       create: an object of that name exists; replace: the
                                   object changed meanwhile;
      InvalidParameterValue (400)  the cluster's API refuses the manifest (Kubernetes' 400
                                   and 422), or it names another object than the call;
      ImageNotAvailable (400)      create, replace: a container image that no node of the
                                   cluster has (and none can pull);
      WorkloadAPIError (its status, else 500)  any other refusal (429, 5xx, ...).
    """

    @abc.abstractmethod
    def create(
        self, task: base.ClusterTask, kind: WorkloadKind, manifest: Mapping[str, Any]
    ) -> Workload:
        """Create the object `manifest` describes (a parsed JSON or YAML document of
        `kind`); return it as the cluster made it (with its uid)."""

    @abc.abstractmethod
    def list(self, task: base.ClusterTask, kind: WorkloadKind) -> Sequence[Workload]:
        """Every object of `kind` in the namespace (one call)."""

    @abc.abstractmethod
    def show(self, task: base.ClusterTask, kind: WorkloadKind, name: str) -> Workload:
        """One object of `kind`, read by name."""

    @abc.abstractmethod
    def replace(
        self, task: base.ClusterTask, kind: WorkloadKind, name: str, manifest: Mapping[str, Any]
    ) -> Workload:
        """Replace the object `name` with what `manifest` describes (Kubernetes' PUT: the
        whole object, as Magnum Mitaka's update did); return it as it is now. A manifest
        naming another object is InvalidParameterValue."""

    @abc.abstractmethod
    def delete(self, task: base.ClusterTask, kind: WorkloadKind, name: str) -> None:
        """Delete one object of `kind`. An object already gone is fine."""
