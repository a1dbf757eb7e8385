# SPDX-License-Identifier: Apache-2.0
"""Magnum's containers on a swarm bay: plain Docker containers on one node's engine.

The conductor chooses the node; this module talks to that node's dockerd over TLS with
the bay's conductor client certificate, through the low-level docker SDK client.

Clients are cached per bay and node (TLS handshakes and key decryption are most of the
cost of a short call), and dropped after IDLE seconds unused, when the bay's credentials
change, or after a connection error. The decrypted client key lives in an anonymous
memory file (memfd) only while its bay's clients are cached: never on disk.

Every container is labelled magnum.container=<magnum uuid> and magnum.bay=<bay uuid>,
named magnum-<uuid> (Magnum names are neither unique nor valid Docker names) with the
Magnum uuid as hostname, and runs under docker-init so that stop and reboot are prompt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import docker
import docker.errors
import docker.tls

from magnum.common import exceptions, pki
from magnum.drivers import base
from magnum.drivers.coe.swarm import clients
from magnum.objects import fields

LOG = logging.getLogger(__name__)
T = TypeVar("T")
IDLE = 300.0
STOP_TIMEOUT = 10
POOL_SIZE = 64
LABEL_UUID = "magnum.container"
LABEL_BAY = "magnum.bay"
LABEL_NAME = "magnum.name"
# A reference naming a registry host (host.domain/..., host:port/..., localhost/...).
_REGISTRY = re.compile(r"^(?:[^/]+\.[^/]+|[^/]+:\d+|localhost)/")
_EXITED = re.compile(r"^Exited \((-?\d+)\)")


class _Creds:
    """The bay's CA, client certificate and decrypted key in memfds."""

    def __init__(self, data: dict[str, str], secret: bytes) -> None:
        creds = pki.ClusterCredentials.from_state(data)
        self._fds: list[int] = []
        ca = self._file("ca", creds.ca_cert)
        cert = self._file("cert", creds.client_cert)
        key = self._file("key", pki.decrypt_key(creds.client_key, secret))
        self.tls = docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)

    def _file(self, name: str, data: bytes) -> str:
        fd = os.memfd_create(f"magnum-{name}", os.MFD_CLOEXEC)
        self._fds.append(fd)
        os.write(fd, data)
        return f"/proc/{os.getpid()}/fd/{fd}"

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


class _Cluster:
    def __init__(self, fingerprint: str, creds: _Creds | None) -> None:
        self.fingerprint = fingerprint
        self.creds = creds
        self.clients: dict[str, docker.APIClient] = {}
        self.used = time.monotonic()

    def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(*clients.ERRORS):
                client.close()
        self.clients.clear()
        if self.creds is not None:
            self.creds.close()


class Engines:
    """Cached docker API clients for the nodes of the bays whose containers we manage."""

    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret = secret
        self._clusters: dict[str, _Cluster] = {}
        self._lock = threading.Lock()

    def client(self, task: base.ClusterTask, node: base.Node) -> docker.APIClient:
        tls = not task.cluster_template.tls_disabled
        data = task.state.get(pki.STATE_KEY) if tls else None
        if tls and not data:
            raise exceptions.ClusterOperationFailed(
                reason="The bay has no TLS credentials: its nodes were not made by a driver "
                "that creates them."
            )
        fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        stale: list[_Cluster] = []
        with self._lock:
            now = time.monotonic()
            for uuid, other in list(self._clusters.items()):
                if now - other.used > IDLE and uuid != task.cluster.uuid:
                    stale.append(self._clusters.pop(uuid))
            found = self._clusters.get(task.cluster.uuid)
            if found is not None and found.fingerprint == fingerprint:
                entry = found
            else:
                if found is not None:
                    stale.append(found)
                creds = _Creds(data, self._secret()) if data else None
                entry = self._clusters[task.cluster.uuid] = _Cluster(fingerprint, creds)
            entry.used = now
            client = entry.clients.get(node.address)
            if client is None:
                client = entry.clients[node.address] = self._open(node.address, entry.creds)
        for old in stale:
            old.close()
        return client

    @staticmethod
    def _open(address: str, creds: _Creds | None) -> docker.APIClient:
        client = docker.APIClient(
            base_url=clients.api_url(address, tls=creds is not None),
            tls=creds.tls if creds is not None else False,
            version=clients.API_VERSION,
            timeout=clients.TIMEOUT,
            max_pool_size=POOL_SIZE,
        )
        client.trust_env = False  # keep $REQUESTS_CA_BUNDLE from replacing the bay CA
        return client

    def forget(self, task: base.ClusterTask, node: base.Node) -> None:
        """Drop a node's client (after a connection error: the next call reconnects)."""
        with self._lock:
            entry = self._clusters.get(task.cluster.uuid)
            client = entry.clients.pop(node.address, None) if entry else None
        if client is not None:
            with contextlib.suppress(*clients.ERRORS):
                client.close()

    def close(self) -> None:
        with self._lock:
            entries = list(self._clusters.values())
            self._clusters.clear()
        for entry in entries:
            entry.close()


def _explanation(exc: docker.errors.APIError) -> str:
    text = str(exc.explanation or exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class ContainerMixin:
    """The container methods of base.CoeDriver for Docker engines (mixed into SwarmDriver)."""

    _engines_lock: ClassVar[threading.Lock] = threading.Lock()
    conf: Any

    @property
    def engines(self) -> Engines:
        with self._engines_lock:
            engines: Engines | None = self.__dict__.get("_engines")
            if engines is None:
                engines = self.__dict__["_engines"] = Engines(lambda: pki.key_secret(self.conf))
            return engines

    def close(self) -> None:
        engines: Engines | None = self.__dict__.pop("_engines", None)
        if engines is not None:
            engines.close()

    @contextlib.contextmanager
    def _on(self, task: base.ClusterTask, node: base.Node, what: str) -> Iterator[docker.APIClient]:
        """A client for the node; Docker's refusals become our 4xx, silence NodeUnavailable."""
        client = self.engines.client(task, node)
        try:
            yield client
        except docker.errors.NotFound as exc:
            raise exceptions.InvalidState(
                detail=f"{what}: node {node.name} has no such container ({_explanation(exc)})."
            ) from None
        except docker.errors.APIError as exc:
            status = exc.status_code or 500
            message = _explanation(exc)
            if status == 409 or re.search(r"is not (running|paused)|already paused", message):
                raise exceptions.InvalidState(detail=f"{what}: {message}") from None
            if 400 <= status < 500:
                raise exceptions.InvalidParameterValue(err=f"{what}: {message}") from None
            raise exceptions.ClusterOperationFailed(
                reason=f"{what}: node {node.name} failed: {message}"
            ) from None
        except clients.ERRORS as exc:
            self.engines.forget(task, node)
            raise exceptions.NodeUnavailable(
                detail=f"{what}: node {node.name} of bay {task.cluster.uuid} is not answering "
                f"({clients._short(exc)})."
            ) from None

    # --- base.CoeDriver --------------------------------------------------------------
    def container_create(
        self, task: base.ClusterTask, node: base.Node, spec: base.ContainerSpec
    ) -> str:
        what = f"Creating container {spec.uuid}"
        argv = shlex.split(spec.command) if spec.command else None
        with self._on(task, node, what) as api:
            host_config = api.create_host_config(mem_limit=spec.memory_bytes or None, init=True)
            labels = {LABEL_UUID: spec.uuid, LABEL_BAY: task.cluster.uuid}
            if spec.name is not None:
                labels[LABEL_NAME] = spec.name

            def create() -> Any:
                return api.create_container(
                    spec.image,
                    command=argv,
                    hostname=spec.uuid,
                    name=f"magnum-{spec.uuid}",
                    environment=dict(spec.environment),
                    labels=labels,
                    host_config=host_config,
                )

            try:
                created = create()
            except docker.errors.ImageNotFound as exc:
                if not _REGISTRY.match(spec.image):
                    raise exceptions.ImageNotAvailable(
                        image=spec.image, cluster=task.cluster.uuid, why=f" (node {node.name})"
                    ) from None
                try:
                    api.pull(spec.image)
                except docker.errors.APIError as pull_exc:
                    raise exceptions.ImageNotAvailable(
                        image=spec.image,
                        cluster=task.cluster.uuid,
                        why=f": {_explanation(pull_exc)}",
                    ) from exc
                created = create()
        return str(created["Id"])

    def container_action(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        action: base.ContainerAction,
    ) -> None:
        with self._on(task, node, f"Container action {action}") as api:
            match action:
                case base.ContainerAction.START:
                    api.start(container_id)
                case base.ContainerAction.STOP:
                    api.stop(container_id, timeout=STOP_TIMEOUT)
                case base.ContainerAction.REBOOT:
                    api.restart(container_id, timeout=STOP_TIMEOUT)
                case base.ContainerAction.PAUSE:
                    api.pause(container_id)
                case base.ContainerAction.UNPAUSE:
                    api.unpause(container_id)

    def container_logs(self, task: base.ClusterTask, node: base.Node, container_id: str) -> str:
        with self._on(task, node, "Reading the container's logs") as api:
            out = api.logs(container_id, stdout=True, stderr=True)
        return bytes(out).decode("utf-8", "replace")

    def container_exec(
        self, task: base.ClusterTask, node: base.Node, container_id: str, argv: Sequence[str]
    ) -> str:
        with self._on(task, node, "Executing in the container") as api:
            exec_id = api.exec_create(container_id, list(argv), stdout=True, stderr=True)
            out = api.exec_start(exec_id["Id"], tty=False)
        return bytes(out).decode("utf-8", "replace")

    def container_remove(self, task: base.ClusterTask, node: base.Node, container_id: str) -> None:
        with self._on(task, node, "Removing the container") as api:
            try:
                api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                return

    def container_states(
        self, task: base.ClusterTask, node: base.Node
    ) -> dict[str, base.ContainerState]:
        with self._on(task, node, "Listing containers") as api:
            found = api.containers(all=True, filters={"label": f"{LABEL_BAY}={task.cluster.uuid}"})
        states: dict[str, base.ContainerState] = {}
        for item in found:
            uuid = (item.get("Labels") or {}).get(LABEL_UUID)
            if uuid:
                states[uuid] = _from_list(item)
        return states

    def container_state(
        self, task: base.ClusterTask, node: base.Node, container_id: str
    ) -> base.ContainerState:
        with self._on(task, node, "Inspecting the container") as api:
            try:
                info = api.inspect_container(container_id)
            except docker.errors.NotFound:
                return base.ContainerState(
                    status=fields.ContainerStatus.ERROR,
                    reason=f"the container is gone from node {node.name}",
                )
        return _from_inspect(info.get("State") or {})


def _from_list(item: dict[str, Any]) -> base.ContainerState:
    state = str(item.get("State", ""))
    if state == "paused":
        return base.ContainerState(status=fields.ContainerStatus.PAUSED)
    if state in ("running", "restarting"):
        return base.ContainerState(status=fields.ContainerStatus.RUNNING)
    if state == "dead":
        return base.ContainerState(status=fields.ContainerStatus.ERROR, reason="Docker: dead")
    match = _EXITED.match(str(item.get("Status", "")))
    reason = f"exited with code {match.group(1)}" if state == "exited" and match else None
    return base.ContainerState(status=fields.ContainerStatus.STOPPED, reason=reason)


def _from_inspect(state: dict[str, Any]) -> base.ContainerState:
    if state.get("Paused"):
        return base.ContainerState(status=fields.ContainerStatus.PAUSED)
    if state.get("Running") or state.get("Restarting"):
        return base.ContainerState(status=fields.ContainerStatus.RUNNING)
    if state.get("Dead"):
        return base.ContainerState(status=fields.ContainerStatus.ERROR, reason="Docker: dead")
    if state.get("Status") == "exited":
        reason = f"exited with code {state.get('ExitCode')}"
        if state.get("OOMKilled"):
            reason += " (killed: out of memory)"
        return base.ContainerState(status=fields.ContainerStatus.STOPPED, reason=reason)
    return base.ContainerState(status=fields.ContainerStatus.STOPPED)
