# SPDX-License-Identifier: Apache-2.0
"""The conductor's clients for clusters' Kubernetes APIs (the official `kubernetes`
client), one cached ApiClient per cluster, keys in memory only (engines.MemFiles).

The conductor authenticates as `magnum-conductor` in group system:masters, with a client
certificate of the cluster's CA that the driver keeps in the driver state (key
encrypted); the apiserver's certificate is verified against the cluster's trust bundle.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magnum.common import exceptions, lazy, pki
from magnum.drivers import base
from magnum.drivers.coe import engines

if TYPE_CHECKING:
    import kubernetes.client
else:
    kubernetes = lazy.module("kubernetes")


STATE = "kubernetes"
TIMEOUT = 10.0  # seconds per API request


class _Entry:
    def __init__(
        self, fingerprint: str, api: kubernetes.client.ApiClient, files: engines.MemFiles
    ) -> None:
        self.fingerprint = fingerprint
        self.api = api
        self.files = files

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]
        self.files.close()


class Clients:
    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret = secret
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def api(self, task: base.ClusterTask) -> kubernetes.client.ApiClient:
        """The cluster's ApiClient. Raises NodeUnavailable when the cluster has no API yet."""
        mine: dict[str, Any] = task.state.get(STATE) or {}
        creds = task.state.get(pki.STATE_KEY)
        if not mine.get("server") or not mine.get("admin") or not creds:
            raise exceptions.NodeUnavailable(
                detail=f"Cluster {task.cluster.uuid} has no Kubernetes API yet."
            )
        fingerprint = hashlib.sha256(
            json.dumps([mine["server"], mine["admin"], creds["ca_cert"]], sort_keys=True).encode()
        ).hexdigest()
        with self._lock:
            entry = self._entries.get(task.cluster.uuid)
            if entry is not None and entry.fingerprint == fingerprint:
                return entry.api
            stale = self._entries.pop(task.cluster.uuid, None)
            files = engines.MemFiles()
            config = kubernetes.client.Configuration()
            config.host = mine["server"]
            config.ssl_ca_cert = files.add("ca", pki.ClusterCredentials.from_state(creds).ca_cert)
            config.cert_file = files.add("cert", mine["admin"]["cert"].encode())
            config.key_file = files.add(
                "key", pki.decrypt_key(mine["admin"]["key"].encode(), self._secret())
            )
            config.verify_ssl = True
            config.retries = 0
            entry = self._entries[task.cluster.uuid] = _Entry(
                fingerprint, kubernetes.client.ApiClient(config), files
            )
        if stale is not None:
            stale.close()
        return entry.api

    def forget(self, cluster_uuid: str) -> None:
        with self._lock:
            entry = self._entries.pop(cluster_uuid, None)
        if entry is not None:
            entry.close()

    def close(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            entry.close()
