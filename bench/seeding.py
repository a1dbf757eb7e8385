# SPDX-License-Identifier: Apache-2.0
"""Shared by scale_bench and periodic_bench: a fresh PostgreSQL database migrated by
Alembic, and settled clusters, their nodegroups and containers seeded through the objects
tier (clusters.create, then each create's conductor path: acquire, start, settle;
containers.insert_many), never by hand-written SQL.

Not run by itself (imported by the benchmarks in this directory).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent import futures
from typing import Any

import sqlalchemy as sa

from magnum.common import context
from magnum.db import engine, migration, models
from magnum.objects import cluster_templates, clusters, containers, events, fields

PG_ADMIN = os.environ.get("MAGNUM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
OWNER = "seed-conductor"
TEMPLATE = {
    "name": "bench-template",
    "image_id": "fedora-atomic",
    "keypair_id": "kp",
    "external_network_id": "public",
    "coe": "swarm",
    "labels": {},
}


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database migrated to head; dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        migration.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def project_ctx(project: str) -> context.RequestContext:
    return context.RequestContext(project_id=project, user_id=f"{project}-user")


def _settle_one(db: engine.Database, row: Any, masters: int, workers: int) -> None:
    """What a conductor's create does to the database, the instant drivers' way."""
    assert clusters.acquire(db, row.uuid, owner=OWNER, ttl=600)
    fence = clusters.Fence(
        cluster_uuid=row.uuid,
        project_id=row.project_id,
        owner=OWNER,
        operation_id=row.operation_id,
        operation_uuid=row.operation_uuid,
        actor=events.Actor(user_id=row.user_id, project_id=row.project_id),
    )
    clusters.start(db, fence)
    base = abs(hash(row.uuid)) % 60000
    ip = [
        f"10.{(base + i) // 62500 % 250}.{(base + i) // 250 % 250}.{i % 250 + 2}"
        for i in range(masters + workers)
    ]
    names = {
        "default-master": [f"master-{i}" for i in range(masters)],
        "default-worker": [f"node-{i}" for i in range(workers)],
    }
    clusters.settle(
        db,
        fence,
        fields.ClusterStatus.CREATE_COMPLETE,
        "Stack CREATE completed successfully",
        {"infra": "fake"},
        nodegroup_addresses={"default-master": ip[:masters], "default-worker": ip[masters:]},
        nodegroup_names=names,
        api_address=f"tcp://{ip[0]}:2376",
        master_addresses=ip[:masters],
        node_addresses=ip[masters:],
    )


class _Created:
    """What settling a created cluster needs, read before its session closes."""

    def __init__(self, row: Any, operation_uuid: str) -> None:
        self.uuid: str = row.uuid
        self.project_id: str = row.project_id
        self.user_id: str | None = row.user_id
        self.operation_id: int = row.operation_id
        self.operation_uuid = operation_uuid


def seed(
    db: engine.Database,
    *,
    clusters_total: int,
    projects: int,
    masters: int = 1,
    workers: int = 2,
    containers_per_cluster: int = 0,
    threads: int = 4,
    say: Any = print,
) -> dict[str, list[str]]:
    """Seed `clusters_total` CREATE_COMPLETE clusters over `projects` projects (each with
    one template), each with a default master group of `masters` nodes and a default
    worker group of `workers`, and `containers_per_cluster` Running containers spread over
    its worker nodes. Returns {project: [cluster uuid, ...]}."""
    started = time.monotonic()
    names = [f"bench-p{i:02d}" for i in range(projects)]
    templates: dict[str, str] = {}
    with db.session() as session:
        for project in names:
            templates[project] = cluster_templates.create(
                session, project_ctx(project), TEMPLATE
            ).uuid
    created: list[_Created] = []
    per_project: dict[str, list[str]] = {p: [] for p in names}
    batch = 200
    for first in range(0, clusters_total, batch):
        with db.session() as session:
            for i in range(first, min(first + batch, clusters_total)):
                project = names[i % projects]
                row = clusters.create(
                    session,
                    project_ctx(project),
                    {
                        "name": f"c{i:05d}",
                        "cluster_template_id": templates[project],
                        "master_count": masters,
                        "node_count": workers,
                    },
                    default_timeout=60,
                )
                session.flush()
                op = session.get(models.Operation, row.operation_id)
                assert op is not None
                created.append(_Created(row, op.uuid))
                per_project[project].append(row.uuid)
    say(f"  created {clusters_total} clusters in {time.monotonic() - started:.1f}s")
    with futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda c: _settle_one(db, c, masters, workers), created))
    say(f"  settled them by {time.monotonic() - started:.1f}s")
    if containers_per_cluster:
        seed_containers(db, created, containers_per_cluster, workers=workers)
        say(
            f"  {clusters_total * containers_per_cluster} containers by "
            f"{time.monotonic() - started:.1f}s"
        )
    with db.engine.connect() as conn:  # fresh statistics for the planner, as autovacuum would
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return per_project


def seed_containers(
    db: engine.Database, created: Sequence[_Created], per_cluster: int, *, workers: int
) -> None:
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        with db.session() as session:
            containers.insert_many(session, rows)
        rows.clear()

    for c in created:
        for j in range(per_cluster):
            rows.append(
                {
                    "uuid": str(uuid.uuid4()),
                    "project_id": c.project_id,
                    "user_id": c.user_id,
                    "name": f"ct{j}",
                    "image": "busybox",
                    "command": "sleep 1000",
                    "cluster_uuid": c.uuid,
                    "status": fields.ContainerStatus.RUNNING.value,
                    "memory": "64m",
                    "host": f"node-{j % max(workers, 1)}",
                    "docker_id": uuid.uuid4().hex,
                }
            )
        if len(rows) >= 5000:
            flush()
    if rows:
        flush()
