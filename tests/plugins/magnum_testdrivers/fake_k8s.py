# SPDX-License-Identifier: Apache-2.0
"""FakeWorkloads: a WorkloadInterface (drivers.capabilities) kept in memory, per bay, with
the rules and the words of Kubernetes' API where Magnum's clients see them:

  - names are DNS-1123 subdomains (else 400, Kubernetes' 422 "is invalid" message);
  - a create of an existing name is WorkloadConflict (`pods "web" already exists`), a read
    or replace of a missing one WorkloadNotFound (`pods "web" not found`);
  - an object gets a uid, its namespace, a resourceVersion; a pod runs (phase Running) on
    node-0, a service gets a cluster IP and its ports' targetPort, a replication
    controller status.replicas = spec.replicas (1 by default);
  - a replace keeps the uid; a pod's replace may change only container images (else 400,
    Kubernetes' "pod updates may not change fields" message), a service keeps its IP;
  - a container image must be one of the node images given (else ImageNotAvailable).

Tests steer it: a bay uuid in `down` makes its API not answer (NodeUnavailable), and a
manifest annotated `fake.magnum/status: "503"` (with `fake.magnum/message`) is refused
with that status (WorkloadAPIError), as any other Kubernetes refusal would be. `calls`
counts the calls per method.
"""

from __future__ import annotations

import collections
import copy
import itertools
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from magnum.common import exceptions
from magnum.drivers import base, capabilities

Kind = capabilities.WorkloadKind
RESOURCE = {
    Kind.POD: ("pods", "Pod"),
    Kind.SERVICE: ("services", "Service"),
    Kind.REPLICATION_CONTROLLER: ("replicationcontrollers", "ReplicationController"),
}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
STATUS = "fake.magnum/status"
MESSAGE = "fake.magnum/message"


class FakeWorkloads(capabilities.WorkloadInterface):
    def __init__(self, images: Iterable[str]) -> None:
        self.images = frozenset(images)
        self.objects: dict[tuple[str, Kind], dict[str, dict[str, Any]]] = {}
        self.down: set[str] = set()  # bay uuids whose API does not answer
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._versions = itertools.count(1)
        self._ips = itertools.count(10)

    # --- the interface ------------------------------------------------------------------
    def create(
        self, task: base.ClusterTask, kind: Kind, manifest: Mapping[str, Any]
    ) -> capabilities.Workload:
        store = self._store(task, kind, "create")
        obj = self._valid(task, kind, manifest)
        name = obj["metadata"]["name"]
        with self._lock:
            if name in store:
                raise exceptions.WorkloadConflict(
                    detail=f'{RESOURCE[kind][0]} "{name}" already exists'
                )
            obj["metadata"]["uid"] = str(uuid.uuid4())
            self._made(kind, obj)
            store[name] = obj
        return _workload(kind, obj)

    def list(self, task: base.ClusterTask, kind: Kind) -> Sequence[capabilities.Workload]:
        store = self._store(task, kind, "list")
        with self._lock:
            return [_workload(kind, store[name]) for name in sorted(store)]

    def show(self, task: base.ClusterTask, kind: Kind, name: str) -> capabilities.Workload:
        store = self._store(task, kind, "show")
        with self._lock:
            return _workload(kind, self._existing(store, kind, name))

    def replace(
        self, task: base.ClusterTask, kind: Kind, name: str, manifest: Mapping[str, Any]
    ) -> capabilities.Workload:
        store = self._store(task, kind, "replace")
        obj = self._valid(task, kind, manifest)
        if obj["metadata"]["name"] != name:
            raise exceptions.InvalidParameterValue(
                err=f"the name of the object ({obj['metadata']['name']}) does not match the "
                f"name on the URL ({name})"
            )
        with self._lock:
            old = self._existing(store, kind, name)
            if kind is Kind.POD and _pod_spec_but_images(old) != _pod_spec_but_images(obj):
                raise exceptions.InvalidParameterValue(
                    err=f'Pod "{name}" is invalid: spec: Forbidden: pod updates may not change '
                    "fields other than `spec.containers[*].image`"
                )
            obj["metadata"]["uid"] = old["metadata"]["uid"]
            self._made(kind, obj, old=old)
            store[name] = obj
        return _workload(kind, obj)

    def delete(self, task: base.ClusterTask, kind: Kind, name: str) -> None:
        store = self._store(task, kind, "delete")
        with self._lock:
            self._existing(store, kind, name)
            del store[name]

    # --- Kubernetes' rules ----------------------------------------------------------------
    def _store(self, task: base.ClusterTask, kind: Kind, call: str) -> dict[str, dict[str, Any]]:
        self.calls[call] += 1
        if task.cluster.uuid in self.down:
            raise exceptions.NodeUnavailable(
                detail=f"The Kubernetes API of bay {task.cluster.uuid} does not answer (fake)."
            )
        with self._lock:
            return self.objects.setdefault((task.cluster.uuid, kind), {})

    def _valid(self, task: base.ClusterTask, kind: Kind, manifest: Mapping[str, Any]) -> Any:
        obj = copy.deepcopy(dict(manifest))
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", RESOURCE[kind][1])
        metadata = obj.setdefault("metadata", {})
        annotations = metadata.get("annotations") or {}
        if STATUS in annotations:
            raise exceptions.WorkloadAPIError(
                detail=annotations.get(MESSAGE, "fake refusal"),
                http_status=int(annotations[STATUS]),
            )
        name = metadata.get("name", "")
        if not isinstance(name, str) or not NAME.match(name) or len(name) > 253:
            raise exceptions.InvalidParameterValue(
                err=f'{RESOURCE[kind][1]} "{name}" is invalid: metadata.name: Invalid value: '
                f'"{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character"
            )
        if metadata.get("namespace", capabilities.NAMESPACE) != capabilities.NAMESPACE:
            raise exceptions.InvalidParameterValue(
                err="the namespace of the provided object does not match the namespace sent "
                "on the request"
            )
        for image in _images(kind, obj):
            if image not in self.images:
                raise exceptions.ImageNotAvailable(
                    image=image, cluster=task.cluster.uuid, why=" (no node has it)"
                )
        return obj

    @staticmethod
    def _existing(store: Mapping[str, Any], kind: Kind, name: str) -> dict[str, Any]:
        found = store.get(name)
        if found is None:
            raise exceptions.WorkloadNotFound(detail=f'{RESOURCE[kind][0]} "{name}" not found')
        return dict(found)

    def _made(
        self, kind: Kind, obj: dict[str, Any], *, old: Mapping[str, Any] | None = None
    ) -> None:
        """What the cluster adds to an object it stores."""
        obj["metadata"]["namespace"] = capabilities.NAMESPACE
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        obj["metadata"].setdefault("creationTimestamp", "2016-04-07T12:00:00Z")
        spec = obj.setdefault("spec", {})
        if kind is Kind.POD:
            spec.setdefault("nodeName", "node-0")
            obj["status"] = {"phase": "Running"}
        elif kind is Kind.SERVICE:
            kept = (old or {}).get("spec", {}).get("clusterIP")
            spec["clusterIP"] = kept or f"10.254.0.{next(self._ips)}"
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        else:
            obj["status"] = {"replicas": int(spec.get("replicas", 1))}


def _workload(kind: Kind, obj: Mapping[str, Any]) -> capabilities.Workload:
    return capabilities.Workload(
        kind=kind,
        name=obj["metadata"]["name"],
        namespace=capabilities.NAMESPACE,
        manifest=copy.deepcopy(dict(obj)),
    )


def _images(kind: Kind, obj: Mapping[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    if kind is Kind.REPLICATION_CONTROLLER:
        spec = (spec.get("template") or {}).get("spec") or {}
    elif kind is Kind.SERVICE:
        return []
    return [c.get("image", "") for c in spec.get("containers") or [] if isinstance(c, dict)]


def _pod_spec_but_images(obj: Mapping[str, Any]) -> Any:
    spec = copy.deepcopy(dict(obj.get("spec") or {}))
    spec.pop("nodeName", None)
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            container.pop("image", None)
    return spec
