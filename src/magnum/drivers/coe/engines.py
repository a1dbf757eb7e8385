# SPDX-License-Identifier: Apache-2.0
"""Docker SDK clients for the engines (dockerd) of a cluster's nodes, shared by every COE
driver: the lifecycle steps, containers and image loads all go through one `Engines`.

A node's engine is reached over TCP+TLS with the conductor's client certificate, which the
infrastructure driver keeps in the cluster's driver state (magnum.common.pki.STATE_KEY),
or over plain TCP when the cluster template disables TLS.

Clients are cached per cluster and node (TLS handshakes and key decryption are most of the
cost of a short call), and dropped after IDLE seconds unused, when the cluster's
credentials change, or after the node stopped answering. The decrypted client key lives
in an anonymous memory file (memfd) only while its cluster's clients are cached: never on
disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from magnum.common import exceptions, lazy, pki
from magnum.drivers import base
from magnum.drivers.coe import docker_errors

if TYPE_CHECKING:
    import docker
    import docker.tls
else:
    docker = lazy.module("docker")


API_VERSION = "1.41"  # dockerd 20.10's; newer daemons accept it too
TLS_PORT = 2376
PLAIN_PORT = 2375
TIMEOUT = 30
IDLE = 300.0
POOL_SIZE = 64


def api_url(address: str, *, tls: bool) -> str:
    return f"tcp://{address}:{TLS_PORT if tls else PLAIN_PORT}"


class MemFiles:
    """Files that exist in this process's memory only (memfds), for libraries that want
    a path to a certificate or key: a decrypted key never touches a disk."""

    def __init__(self) -> None:
        self._fds: list[int] = []

    def add(self, name: str, data: bytes) -> str:
        """A path to a new in-memory file holding `data`."""
        fd = os.memfd_create(f"magnum-{name}", os.MFD_CLOEXEC)
        self._fds.append(fd)
        os.write(fd, data)
        return f"/proc/{os.getpid()}/fd/{fd}"

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


class _Creds(MemFiles):
    """A cluster's CA, client certificate and decrypted key in memfds."""

    def __init__(self, data: dict[str, str], secret: bytes) -> None:
        super().__init__()
        creds = pki.ClusterCredentials.from_state(data)
        ca = self.add("ca", creds.ca_cert)
        cert = self.add("cert", creds.client_cert)
        key = self.add("key", pki.decrypt_key(creds.client_key, secret))
        self.tls = docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)


class _Cluster:
    def __init__(self, fingerprint: str, creds: _Creds | None) -> None:
        self.fingerprint = fingerprint
        self.creds = creds
        self.clients: dict[str, docker.DockerClient] = {}
        self.used = time.monotonic()

    def close(self) -> None:
        for client in self.clients.values():
            _close(client)
        self.clients.clear()
        if self.creds is not None:
            self.creds.close()


def _close(client: docker.DockerClient) -> None:
    with contextlib.suppress(*docker_errors.errors()):
        client.close()


class Engines:
    """Cached docker clients for the nodes of the clusters a driver works on."""

    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret = secret
        self._clusters: dict[str, _Cluster] = {}
        self._lock = threading.Lock()  # clients are asked for on many threads

    def client(self, task: base.ClusterTask, node: base.Node) -> docker.DockerClient:
        """The node's client (its low-level API is `.api`). Raises ClusterOperationFailed
        when the cluster has TLS but no credentials."""
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
                client = entry.clients[node.address] = self._open(
                    node.reachable_address, entry.creds
                )
        for old in stale:
            old.close()
        return client

    @staticmethod
    def _open(address: str, creds: _Creds | None) -> docker.DockerClient:
        client = docker.DockerClient(
            base_url=api_url(address, tls=creds is not None),
            tls=creds.tls if creds is not None else False,
            version=API_VERSION,
            timeout=TIMEOUT,
            max_pool_size=POOL_SIZE,
        )
        client.api.trust_env = False  # keep $REQUESTS_CA_BUNDLE from replacing the cluster CA
        return client

    @contextlib.contextmanager
    def mapped(self, task: base.ClusterTask, node: base.Node, what: str) -> Iterator[None]:
        """Engine calls to `node` doing `what`, their errors mapped (docker_errors); the
        client of a node that does not answer is dropped, so the next call reconnects."""
        try:
            with docker_errors.mapped(what, node=node.name, cluster=task.cluster.uuid):
                yield
        except exceptions.NodeUnavailable:
            self.forget(task, node)
            raise

    @contextlib.contextmanager
    def on(
        self, task: base.ClusterTask, node: base.Node, what: str
    ) -> Iterator[docker.DockerClient]:
        """The node's client, for engine calls doing `what` (see `mapped`)."""
        client = self.client(task, node)
        with self.mapped(task, node, what):
            yield client

    def forget(self, task: base.ClusterTask, node: base.Node) -> None:
        """Drop a node's client."""
        with self._lock:
            entry = self._clusters.get(task.cluster.uuid)
            client = entry.clients.pop(node.address, None) if entry else None
        if client is not None:
            _close(client)

    def close(self) -> None:
        with self._lock:
            entries = list(self._clusters.values())
            self._clusters.clear()
        for entry in entries:
            entry.close()
