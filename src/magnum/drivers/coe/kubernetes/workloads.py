# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes driver's workloads (drivers.capabilities.WorkloadInterface): pods,
services and replication controllers in namespace "default", through the official
`kubernetes` client's ApiClient for the cluster (TLS, the conductor's credentials).

Manifests are sent as they are (with `apiVersion: v1` and their `kind` filled in where
they leave them out), and objects read as Kubernetes renders them: the client's typed
methods would first coerce a manifest into its models, dropping what they do not know
and refusing on the client side what the cluster should judge. So each call is the
client's own request (`param_serialize` + `call_api`) on the path the typed method uses.

Before a create or replace names container images, the nodes' reports are read
(`status.images`): an image that no node has, on a cluster whose nodes listed all of
theirs, and that names no registry to pull from (anything but Docker Hub, which nodes
here cannot reach) is ImageNotAvailable. A node that reports MAX_NODE_IMAGES images may
have more (the kubelet's --node-status-max-images): then nothing is refused.

Errors are mapped once, here (`_mapped`): Kubernetes' 400 and 422 are
InvalidParameterValue, 404 WorkloadNotFound, 409 WorkloadConflict, each with the
message of Kubernetes' Status; 401 and 403 (the conductor's credentials, not the
tenant's) and any other status WorkloadAPIError; no answer at all NodeUnavailable.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import urllib3.exceptions

from magnum.common import exceptions, lazy
from magnum.drivers import base, capabilities

if TYPE_CHECKING:
    import kubernetes.client
    from kubernetes.client import exceptions as k8s_errors
else:
    kubernetes = lazy.module("kubernetes")
    k8s_errors = lazy.module("kubernetes.client.exceptions")


Kind = capabilities.WorkloadKind
NAMESPACE = capabilities.NAMESPACE
TIMEOUT = 10.0  # seconds per request to the cluster's API
MAX_NODE_IMAGES = 50  # what a kubelet reports at most by default
# kind -> (the collection in /api/v1/namespaces/{ns}/..., the manifest's `kind`)
RESOURCES = {
    Kind.POD: ("pods", "Pod"),
    Kind.SERVICE: ("services", "Service"),
    Kind.REPLICATION_CONTROLLER: ("replicationcontrollers", "ReplicationController"),
}
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")

Connect = Callable[[base.ClusterTask], "kubernetes.client.ApiClient"]


class KubernetesWorkloads(capabilities.WorkloadInterface):
    """Workloads of the cluster whose ApiClient `connect(task)` gives (it raises
    NodeUnavailable while the cluster has no API)."""

    def __init__(self, connect: Connect, *, timeout: float = TIMEOUT) -> None:
        self._connect = connect
        self._timeout = timeout

    # --- the interface ------------------------------------------------------------------
    def create(
        self, task: base.ClusterTask, kind: Kind, manifest: Mapping[str, Any]
    ) -> capabilities.Workload:
        body = _filled(kind, manifest)
        self._check_images(task, kind, body)
        made = self._call(task, "POST", _path(kind), body=body)
        return _workload(kind, made)

    def list(self, task: base.ClusterTask, kind: Kind) -> Sequence[capabilities.Workload]:
        listed = self._call(task, "GET", _path(kind))
        items = listed.get("items") if isinstance(listed, Mapping) else None
        return [_workload(kind, item) for item in items or () if isinstance(item, Mapping)]

    def show(self, task: base.ClusterTask, kind: Kind, name: str) -> capabilities.Workload:
        return _workload(kind, self._call(task, "GET", _path(kind, name)))

    def replace(
        self, task: base.ClusterTask, kind: Kind, name: str, manifest: Mapping[str, Any]
    ) -> capabilities.Workload:
        body = _filled(kind, manifest)
        named = _name_of(body)
        if named != name:
            raise exceptions.InvalidParameterValue(
                err=f"The manifest names {RESOURCES[kind][1]} {exceptions.shorten(named)}, "
                f"not {name}: a replace cannot rename it."
            )
        self._check_images(task, kind, body)
        current = self._call(task, "GET", _path(kind, name))
        merged = _over(current, body, keep=kind is Kind.POD)
        return _workload(kind, self._call(task, "PUT", _path(kind, name), body=merged))

    def delete(self, task: base.ClusterTask, kind: Kind, name: str) -> None:
        # Services are deleted without a body, the others with DeleteOptions (Magnum's). An
        # RC takes its pods with it (kubectl's default): the v1 API alone would orphan them.
        body: dict[str, Any] | None = None
        if kind is not Kind.SERVICE:
            body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if kind is Kind.REPLICATION_CONTROLLER:
            body = {**(body or {}), "propagationPolicy": "Background"}
        self._call(task, "DELETE", _path(kind, name), body=body)  # none of that name: 404

    # --- requests -------------------------------------------------------------------------
    def _call(
        self, task: base.ClusterTask, method: str, path: str, *, body: Any = None
    ) -> Mapping[str, Any]:
        """The JSON answer of `method path`; Kubernetes' refusals as magnum errors."""
        with _mapped(task):
            api = self._connect(task)
            request = api.param_serialize(
                method, path, header_params=dict(_JSON), body=body, auth_settings=["BearerToken"]
            )
            answer = api.call_api(*request, _request_timeout=self._timeout)
            answer.read()  # type: ignore[no-untyped-call]
            if not 200 <= answer.status <= 299:
                raise k8s_errors.ApiException(http_resp=answer)
            data = answer.data or b"{}"
        try:
            decoded = json.loads(data)
        except ValueError:
            raise exceptions.WorkloadAPIError(
                detail=f"The Kubernetes API of bay {task.cluster.uuid} answered {method} "
                f"{path} with no JSON.",
                http_status=502,
            ) from None
        return decoded if isinstance(decoded, Mapping) else {}

    def _check_images(
        self, task: base.ClusterTask, kind: Kind, manifest: Mapping[str, Any]
    ) -> None:
        wanted = _images(kind, manifest)
        if not wanted:
            return
        nodes = self._call(task, "GET", "/api/v1/nodes").get("items") or []
        reports = [_node_images(n) for n in nodes if isinstance(n, Mapping)]
        if not reports or any(len(r) >= MAX_NODE_IMAGES for r in reports):
            return  # no node says (yet), or one may have more than it says
        present = {_normal(name) for report in reports for names in report for name in names}
        for image in wanted:
            if _normal(image) not in present and not _pullable(image):
                raise exceptions.ImageNotAvailable(
                    image=image,
                    cluster=task.cluster.uuid,
                    why=" (no node has it, and the nodes cannot pull it: load it with "
                    "POST /v1/bays/{bay}/images, or push it to the bay's registry)",
                )


@contextlib.contextmanager
def _mapped(task: base.ClusterTask) -> Iterator[None]:
    """Kubernetes' refusals and a silent API as magnum errors (see the module's doc)."""
    try:
        yield
    except k8s_errors.ApiException as exc:
        raise error(exc, cluster=task.cluster.uuid) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise exceptions.NodeUnavailable(
            detail=f"The Kubernetes API of bay {task.cluster.uuid} does not answer ({_why(exc)})."
        ) from exc


def error(exc: k8s_errors.ApiException, *, cluster: str) -> exceptions.MagnumError:
    """The magnum error for Kubernetes' answer `exc` (status 0: the client's own failure to
    reach the API, such as TLS)."""
    status = int(exc.status or 0)
    message = _message(exc)
    if status == 0:
        return exceptions.NodeUnavailable(
            detail=f"The Kubernetes API of bay {cluster} does not answer ({message})."
        )
    if status in (400, 422):
        return exceptions.InvalidParameterValue(err=message)
    if status == 404:
        return exceptions.WorkloadNotFound(detail=message)
    if status == 409:
        return exceptions.WorkloadConflict(detail=message)
    if status in (401, 403):
        return exceptions.WorkloadAPIError(
            detail=f"The Kubernetes API of bay {cluster} refused the conductor's credentials: "
            f"{message}",
            http_status=500,
        )
    return exceptions.WorkloadAPIError(detail=message, http_status=status)


def _message(exc: k8s_errors.ApiException) -> str:
    """Kubernetes' Status message (its reason, else the HTTP reason, else the status)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            status = json.loads(body)
        except ValueError:
            status = None
        if isinstance(status, Mapping):
            for key in ("message", "reason"):
                if isinstance(status.get(key), str) and status[key]:
                    return str(status[key])
    reason = str(exc.reason or "").strip()
    return reason.splitlines()[-1] if reason else f"HTTP {exc.status}"


def _why(exc: BaseException) -> str:
    return exceptions.shorten(str(getattr(exc, "reason", None) or exc), 200)


# --- manifests and objects ----------------------------------------------------------------
def _path(kind: Kind, name: str | None = None) -> str:
    collection = f"/api/v1/namespaces/{NAMESPACE}/{RESOURCES[kind][0]}"
    if name is None:
        return collection
    return f"{collection}/{urllib.parse.quote(name, safe='')}"


def _filled(kind: Kind, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """`manifest` with apiVersion and kind, where it leaves them out."""
    body = dict(manifest)
    body.setdefault("apiVersion", "v1")
    body.setdefault("kind", RESOURCES[kind][1])
    return body


# Maps a manifest gives whole: a key it leaves out of them is meant to go.
_WHOLE = frozenset(
    {"labels", "annotations", "selector", "matchLabels", "nodeSelector", "limits", "requests"}
)


def _over(current: Any, new: Any, *, keep: bool) -> Any:
    """The new manifest laid over the object as the cluster has it, for a PUT: what the
    manifest names is set, what it leaves out and the cluster or its controllers set
    (a pod's nodeName and priority, a service's clusterIP, the metadata's uid and
    resourceVersion) stays, so that Kubernetes judges only the change asked for (a pod
    whose spec lost its nodeName would be refused). The maps of _WHOLE (labels,
    selectors, annotations, resource limits) and unnamed lists are the manifest's whole; lists of
    named items (containers, volumes, ports with names) are matched by name, and items the
    manifest does not name are dropped, or kept when `keep` (a pod: admission added its
    service-account volume and mounts, and a pod's spec cannot lose anything anyway)."""
    if isinstance(new, Mapping) and isinstance(current, Mapping):
        merged = dict(current)
        merged.update(
            {k: v if k in _WHOLE else _over(current.get(k), v, keep=keep) for k, v in new.items()}
        )
        return merged
    if isinstance(new, list) and isinstance(current, list) and _named(new) and _named(current):
        old = {item["name"]: item for item in current}
        named = {item["name"] for item in new}
        extra = [item for item in current if item["name"] not in named] if keep else []
        return [_over(old.get(item["name"]), item, keep=keep) for item in new] + extra
    return new


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, Mapping) and "name" in i for i in items)


def _name_of(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return str(name) if name is not None else ""


def _workload(kind: Kind, obj: Mapping[str, Any]) -> capabilities.Workload:
    metadata = obj.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    return capabilities.Workload(
        kind=kind, name=_name_of(obj), namespace=str(namespace or NAMESPACE), manifest=obj
    )


def _at(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _images(kind: Kind, manifest: Mapping[str, Any]) -> list[str]:
    """The container images `manifest` names (init containers' too)."""
    spec = _at(manifest, "spec")
    if kind is Kind.REPLICATION_CONTROLLER:
        spec = _at(spec, "template", "spec")
    elif kind is not Kind.POD:
        return []
    found = []
    for key in ("initContainers", "containers"):
        for container in _at(spec, key) or ():
            image = container.get("image") if isinstance(container, Mapping) else None
            if isinstance(image, str) and image:
                found.append(image)
    return found


def _node_images(node: Mapping[str, Any]) -> list[list[str]]:
    """The names of each image a node reports having."""
    images = _at(node, "status", "images") or []
    return [
        [str(n) for n in image.get("names") or ()] for image in images if isinstance(image, Mapping)
    ]


def _normal(image: str) -> str:
    """An image reference as the engines name it: no docker.io/library/ prefix, a tag."""
    name = image
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last:
        name = f"{name}:latest"
    return name


def _pullable(image: str) -> bool:
    """Whether `image` names a registry other than Docker Hub (a bay's own registry, say),
    which a node may pull from."""
    first, slash, _ = image.partition("/")
    registry = slash and ("." in first or ":" in first or first == "localhost")
    return bool(registry) and first not in _DOCKER_HUB
