# SPDX-License-Identifier: Apache-2.0
"""Periodic cost benchmark: what the conductor's periodic work on settled clusters costs.

For each size (default 100 and 1,000 clusters) a fresh PostgreSQL database is created,
migrated and seeded through the objects tier (bench/seeding.py) with CREATE_COMPLETE
clusters of 1 master + 2 workers and a few Running containers each. The drivers are
test doubles that answer at once (InstantInfra lists a cluster's nodes from its counts,
InstantCoe is healthy and its containers report exactly what the rows say), so what is
measured is the conductor's own work and its database traffic.

  sweeps  one sweep each of the health checks (HealthChecker.run), the container status
          sync (ContainerSync.sync) and the orphan scan (ClusterOperations.adopt_orphans),
          every cluster due: the SQL statements it issues (a before_cursor_execute
          listener), and its time
  cpu     (--duration, default 60 s, at the largest size) a real magnum-conductor
          (service.Conductor: heartbeat, orphan scan, health, container sync, event
          prune threads at the configured default intervals, inproc transport) after one
          warm-up round: the process's CPU seconds (getrusage, every thread) and those of
          its PostgreSQL backends (/proc/<pid>/stat), as % of one core, and the
          statements per thread

Run:  .venv/bin/python bench/periodic_bench.py [--sizes 100,1000] [--duration 60]
      [--containers-per-cluster 3]
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from magnum_testdrivers import fake

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import seeding

from magnum import conf as magnum_conf
from magnum.common import rpc
from magnum.conductor import container_sync, health, operations, service
from magnum.db import engine
from magnum.drivers import base, capabilities, registry
from magnum.objects import containers, fields


def load() -> str:
    return f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


# --- instant test doubles ----------------------------------------------------------
class InstantInfra(fake.FakeInfra):
    """A cluster's nodes, named as the default groups name them, from its counts."""

    name = "fake"

    def list_nodes(self, task: base.ClusterTask) -> list[base.Node]:
        c = task.cluster
        masters = [
            base.Node(
                name=f"master-{i}",
                role=base.Role.MASTER,
                address=f"10.0.0.{i + 2}",
                nodegroup="default-master",
            )
            for i in range(c.master_count)
        ]
        workers = [
            base.Node(
                name=f"node-{i}",
                role=base.Role.WORKER,
                address=f"10.0.1.{i + 2}",
                nodegroup="default-worker",
            )
            for i in range(c.node_count)
        ]
        return masters + workers


class InstantContainers(fake.FakeContainers):
    """Each node's containers: what the seed put there, all running."""

    def __init__(
        self, known: dict[tuple[str, str], dict[str, capabilities.ContainerState]]
    ) -> None:
        super().__init__()
        self.known = known

    def states(
        self, task: base.ClusterTask, node: base.Node
    ) -> dict[str, capabilities.ContainerState]:
        return self.known.get((task.cluster.uuid, node.name), {})


class InstantCoe(fake.FakeCoe):
    def health(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Health:
        return base.Health(healthy=True, reason=f"{len(nodes)} nodes")


def drivers(conf: Any, db: engine.Database, cluster_uuids: Sequence[str]) -> registry.Drivers:
    known: dict[tuple[str, str], dict[str, capabilities.ContainerState]] = {}
    with db.session() as session:
        rows = [row for uuid in cluster_uuids for row in containers.on_cluster(session, uuid)]
        for row in rows:
            known.setdefault((row.cluster_uuid, row.host or ""), {})[row.uuid] = (
                capabilities.ContainerState(
                    status=fields.ContainerStatus.RUNNING, container_id=row.docker_id
                )
            )
    infra = InstantInfra(conf)
    coe = InstantCoe(conf)
    coe.containers = InstantContainers(known)
    coe.bind({"fake": infra})
    return registry.Drivers(infra={"fake": infra}, coe={"swarm": coe})


# --- counting --------------------------------------------------------------------------
class Statements:
    """SQL statements issued, by thread name, while `on`."""

    def __init__(self, db: engine.Database) -> None:
        self.by_thread: collections.Counter[str] = collections.Counter()
        self.kinds: collections.Counter[str] = collections.Counter()
        self.on = True
        for eng in db.engines:
            sa.event.listen(eng, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if self.on:
            self.by_thread[threading.current_thread().name] += 1
            self.kinds[statement.split(None, 1)[0].upper()] += 1

    def reset(self) -> None:
        self.by_thread.clear()
        self.kinds.clear()


def backend_cpu(db: engine.Database) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this database."""
    with db.engine.connect() as conn:
        pids = conn.scalars(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(stat[11]) + int(stat[12])) / ticks
    return total


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def conf_for(url: str, state: pathlib.Path) -> Any:
    return magnum_conf.load(
        [],
        config_files=[],
        overrides={
            "DEFAULT": {"transport_url": "inproc://", "state_path": str(state), "host": "bench"},
            "database": {"connection": url},
            "conductor": {"enabled_infra_drivers": ["fake"], "enabled_coe_drivers": ["fakecoe"]},
        },
    )


def one_sweep_each(
    db: engine.Database, drv: registry.Drivers, counted: Statements
) -> dict[str, tuple[int, float]]:
    """Each periodic job once with every cluster due: (statements, seconds)."""
    jobs = {
        "health": health.HealthChecker(db, drv, interval=0.0).run,
        "container sync": container_sync.ContainerSync(db, drv, interval=0.0).sync,
        "orphan scan": operations.ClusterOperations(
            db, drv, owner="bench", ttl=30, workers=2, key_secret=b"k" * 32
        ).adopt_orphans,
    }
    out = {}
    for name, job in jobs.items():
        job()  # the first health sweep records every cluster's health: steady state next
        counted.reset()
        started = time.perf_counter()
        job()
        out[name] = (sum(counted.by_thread.values()), time.perf_counter() - started)
    return out


def run_size(n: int, args: argparse.Namespace, *, measure_cpu: bool) -> dict[str, Any]:
    with seeding.fresh_database("magnum_periodic") as url, tempfile.TemporaryDirectory() as tmp:
        conf = conf_for(url, pathlib.Path(tmp))
        db = engine.Database(url)
        seeded = seeding.seed(
            db,
            clusters_total=n,
            projects=10,
            containers_per_cluster=args.containers_per_cluster,
            say=lambda s: print(f"  [{n}]{s}"),
        )
        drv = drivers(conf, db, [u for uuids in seeded.values() for u in uuids])
        counted = Statements(db)
        sweeps = one_sweep_each(db, drv, counted)
        result: dict[str, Any] = {"sweeps": sweeps}
        if measure_cpu:
            result["cpu"] = run_conductor(conf, db, drv, counted, args.duration)
        db.dispose()
        return result


def run_conductor(
    conf: Any, db: engine.Database, drv: registry.Drivers, counted: Statements, duration: float
) -> dict[str, Any]:
    transport = rpc.transport(conf)
    conductor = service.Conductor(conf, db, transport=transport, drivers=drv)
    conductor.start()
    try:
        time.sleep(min(12.0, duration))  # the first round of every job
        counted.reset()
        cpu0, db0, t0 = cpu_self(), backend_cpu(db), time.monotonic()
        time.sleep(duration)
        cpu1, db1, t1 = cpu_self(), backend_cpu(db), time.monotonic()
        threads = dict(counted.by_thread)
    finally:
        conductor.stop()
        transport.cleanup()
    wall = t1 - t0
    return {
        "wall": wall,
        "conductor_pct": 100 * (cpu1 - cpu0) / wall,
        "postgres_pct": 100 * (db1 - db0) / wall,
        "statements": threads,
        "intervals": {
            "health_interval": conf.conductor.health_interval,
            "container_sync_interval": conf.conductor.container_sync_interval,
            "sync_interval (orphan scan)": conf.conductor.sync_interval,
            "heartbeat_interval": conf.conductor.heartbeat_interval,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--containers-per-cluster", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for n in sizes:
        print(f"size {n}: seeding ({load()})")
        results[n] = run_size(n, args, measure_cpu=n == max(sizes))
    print(f"\nstatements per sweep, every cluster due ({load()})")
    print(f"  {'sweep':16}" + "".join(f" {f'{n} clusters':>22}" for n in sizes))
    for job in ("health", "container sync", "orphan scan"):
        cells = ""
        for n in sizes:
            statements, seconds = results[n]["sweeps"][job]
            cells += f" {statements:>9d} SQL {seconds * 1000:>7.1f} ms"
        print(f"  {job:16}{cells}")
    cpu = results[max(sizes)]["cpu"]
    print(
        f"\nconductor at {max(sizes)} settled clusters, {cpu['wall']:.0f}s at the default "
        f"intervals {cpu['intervals']} ({load()}):"
    )
    print(f"  conductor process CPU: {cpu['conductor_pct']:.2f} % of one core")
    print(f"  its PostgreSQL backends' CPU: {cpu['postgres_pct']:.2f} % of one core")
    print(f"  statements by thread: {cpu['statements']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
