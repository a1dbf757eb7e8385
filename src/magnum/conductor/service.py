# SPDX-License-Identifier: Apache-2.0
"""The conductor process: RPC server, operation runner, heartbeats and periodic scans."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

from magnum.common import hostpaths, images, lazy, pki, rpc
from magnum.conductor import container_sync, endpoints, health, incarnation, operations
from magnum.conductor.handlers import container, workloads
from magnum.db import engine
from magnum.drivers import capabilities, registry
from magnum.objects import clusters, events, services

LOG = logging.getLogger(__name__)
BINARY = "magnum-conductor"


def service_host(conf: cfg.ConfigOpts) -> str:
    return str(conf.host or socket.gethostname())


class _Every(threading.Thread):
    """Calls `fn` every `interval` seconds until stopped; an exception never ends the loop."""

    def __init__(
        self, name: str, interval: float, fn: Callable[[], None], stop: threading.Event
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._interval, self._fn, self._halt = interval, fn, stop

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self._fn()
            except Exception:
                LOG.exception("periodic %s failed", self.name)
            self._halt.wait(self._interval)


class Conductor:
    def __init__(
        self,
        conf: cfg.ConfigOpts,
        db: engine.Database,
        *,
        transport: Any,
        drivers: registry.Drivers | None = None,
    ) -> None:
        self.conf = conf
        self.db = db
        hostpaths.register_conf(conf)  # no error message names them (see the module)
        self.host = service_host(conf)
        self.owner = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        drivers = drivers if drivers is not None else registry.load(conf)
        self.health = health.HealthChecker(
            db, drivers, interval=conf.conductor.health_interval, conductor=self.owner
        )
        self.ops = operations.ClusterOperations(
            db,
            drivers,
            owner=self.owner,
            ttl=conf.conductor.lease_ttl,
            workers=conf.conductor.workers,
            key_secret=pki.key_secret(conf),
        )
        self.drivers = drivers
        self.containers = container.Containers(
            db,
            drivers,
            limits=capabilities.Limits(
                timeout=conf.api.exec_timeout, max_bytes=conf.api.max_exec_output
            ),
            max_calls=conf.conductor.max_concurrent_execs,
        )
        self.workloads = workloads.Workloads(db, drivers)
        self.container_sync = container_sync.ContainerSync(
            db,
            drivers,
            interval=conf.conductor.container_sync_interval,
            grace=conf.conductor.container_create_grace,
        )
        self._stop = threading.Event()
        self._incarnation: incarnation.Incarnation | None = None
        self._server = messaging.get_rpc_server(
            transport,
            rpc.target(conf, server=self.owner),
            [
                endpoints.ConductorEndpoint(self.ops, uploads=images.upload_dir(conf)),
                endpoints.ContainerEndpoint(self.containers),
                endpoints.WorkloadEndpoint(self.workloads),
            ],
        )
        interval = conf.conductor.heartbeat_interval
        self._threads = [
            _Every("heartbeat", interval, self._heartbeat, self._stop),
            _Every(
                "adopt-orphans", conf.conductor.sync_interval, self.ops.adopt_orphans, self._stop
            ),
        ]
        if conf.conductor.health_interval > 0:
            # Wake often; each bay is checked only once its own interval has passed.
            wake = min(conf.conductor.health_interval, conf.conductor.sync_interval)
            self._threads.append(_Every("health", wake, self.health.run, self._stop))
        if conf.conductor.container_sync_interval > 0:
            wake = conf.conductor.container_sync_interval
            sync = self.container_sync.sync
            self._threads.append(_Every("container-sync", wake, sync, self._stop))
        if conf.conductor.event_prune_interval > 0:
            wake = conf.conductor.event_prune_interval
            self._threads.append(_Every("event-prune", wake, self.prune_events, self._stop))

    def prune_events(self) -> None:
        removed = events.prune(
            self.db,
            max_age=self.conf.conductor.event_max_age,
            max_per_cluster=self.conf.conductor.event_max_per_cluster,
        )
        if removed:
            LOG.info("pruned %d old events and operation records", removed)

    def _heartbeat(self) -> None:
        self.ops.heartbeat()
        with self.db.session() as session:
            services.report(session, host=self.host, binary=BINARY)

    def start(self) -> None:
        lazy.preload()  # the drivers' SDKs, now rather than in a bay's first operation
        self._take_over_predecessors()
        self._server.start()
        for thread in self._threads:
            thread.start()
        LOG.info("conductor %s serving topic %s", self.owner, self.conf.conductor.topic)

    def _take_over_predecessors(self) -> None:
        """Free at once the leases of this host's dead conductors on this state directory
        (an earlier incarnation of this one): the scan that starts next takes them over."""
        self._incarnation = incarnation.Incarnation(
            self.conf.state_path, host=self.host, owner=self.owner
        )
        dead = self._incarnation.claim()
        if freed := clusters.free_leases_of(self.db, dead):
            LOG.info("conductor %s: taking over %s from %s", self.owner, freed, dead)

    def stop(self) -> None:
        self._stop.set()
        self._server.stop()
        self._server.wait()
        self.ops.shutdown(wait=True)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._incarnation is not None:
            self._incarnation.release()
        for driver in self.drivers.coe.values():
            driver.close()
