# SPDX-License-Identifier: Apache-2.0
"""Docker SDK clients for a bay's nodes, speaking TLS with the conductor's client
certificate from the bay's driver state (or plain TCP when the baymodel disables TLS).

docker-py reads certificates from files, so the decrypted client key lives in a private
temporary directory only while a `Connections` context is open.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
import threading
from collections.abc import Iterator

import docker
import docker.errors
import docker.tls
import requests.exceptions

from magnum.common import exceptions, pki
from magnum.drivers import base

API_VERSION = "1.41"  # dockerd 20.10's; newer daemons accept it too
TLS_PORT = 2376
PLAIN_PORT = 2375
TIMEOUT = 30

# What a node that is down, unreachable or refusing raises through the SDK.
ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def api_url(address: str, *, tls: bool) -> str:
    return f"tcp://{address}:{TLS_PORT if tls else PLAIN_PORT}"


class Connections:
    """Opens (and caches) one client per node address; closes all on exit."""

    def __init__(self, task: base.ClusterTask, secret: bytes) -> None:
        self._tls = not task.cluster_template.tls_disabled
        self._task = task
        self._secret = secret
        self._dir: pathlib.Path | None = None
        self._clients: dict[str, docker.DockerClient] = {}
        self._lock = threading.Lock()  # joins run on several threads

    def __enter__(self) -> Connections:
        if self._tls:
            self._dir = self._write_credentials()
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients.values():
            with contextlib.suppress(*ERRORS):
                client.close()
        self._clients.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _write_credentials(self) -> pathlib.Path:
        data = self._task.state.get(pki.STATE_KEY)
        if not data:
            raise exceptions.ClusterOperationFailed(
                reason="The bay has no TLS credentials: its nodes were not made by a driver "
                "that creates them."
            )
        creds = pki.ClusterCredentials.from_state(data)
        path = pathlib.Path(tempfile.mkdtemp(prefix="magnum-tls-"))  # mode 0700
        (path / "ca.pem").write_bytes(creds.ca_cert)
        (path / "cert.pem").write_bytes(creds.client_cert)
        fd = os.open(path / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pki.decrypt_key(creds.client_key, self._secret))
        return path

    def client(self, address: str) -> docker.DockerClient:
        with self._lock:
            if address not in self._clients:
                self._clients[address] = self._open(address)
            return self._clients[address]

    def _open(self, address: str) -> docker.DockerClient:
        tls: docker.tls.TLSConfig | bool = False
        if self._dir is not None:
            tls = docker.tls.TLSConfig(
                client_cert=(str(self._dir / "cert.pem"), str(self._dir / "key.pem")),
                ca_cert=str(self._dir / "ca.pem"),
                verify=True,
            )
        client = docker.DockerClient(
            base_url=api_url(address, tls=self._tls), tls=tls, version=API_VERSION, timeout=TIMEOUT
        )
        # Without this, requests replaces our bay CA with $REQUESTS_CA_BUNDLE when it is set.
        client.api.trust_env = False
        return client


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """SDK and network errors become BayOperationFailed naming what was being done."""
    try:
        yield
    except ERRORS as exc:
        raise exceptions.ClusterOperationFailed(reason=f"{what}: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
