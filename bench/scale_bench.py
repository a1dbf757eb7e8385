# SPDX-License-Identifier: Apache-2.0
"""Scale benchmark: list latency, paging linearity and the query plans of every list query,
on a PostgreSQL database holding 10,000 clusters (30,000 nodes in their nodegroups) and
100,000 containers.

A fresh database is created, migrated and seeded through the objects tier (bench/seeding.py:
clusters.create and the conductor's acquire/start/settle per cluster, containers.insert_many),
then the API (noauth: the caller is admin and member of X-Project-Id) is served in this
process by the cheroot server magnum-aio uses, on 127.0.0.1. Requests go one at a time over
one keep-alive connection, with the microversion header the clients send
(OpenStack-API-Version: container-infra latest). Figures:

  latency   p50/p99 of the first page of /v1/clusters, /v1/clusters/detail, /v1/containers
            (the default page, which is [api] max_limit = 1000, and limit=100), and of a page
            deep in by marker
  paging    ?limit=&marker= through all of them (clusters of every project with
            all_projects=true, containers of one project), the time of each page by depth
  plans     EXPLAIN (ANALYZE, BUFFERS) of each distinct statement the API issued while
            listing, with its real parameters: the indexes used, and any Seq Scan or Sort of
            a big table flagged

The database is dropped at the end (unless --seed-cache keeps a template copy of the seed,
which later runs with the same sizes clone instead of seeding again).

Run:  .venv/bin/python bench/scale_bench.py [--clusters 10000] [--projects 10]
      [--containers-per-cluster 10] [--requests 200] [--seed-cache] [--plans-only]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pathlib
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import seeding

from magnum import conf as magnum_conf
from magnum.api import app as api_app
from magnum.cli import common as cli_common
from magnum.cli import httpserver
from magnum.common import rpc
from magnum.db import engine, migration

BIG_TABLES = ("cluster", "nodegroup", "container", "cluster_event", "operation")
MICROVERSION = {"OpenStack-API-Version": "container-infra latest"}


def load() -> str:
    return f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


# --- database ------------------------------------------------------------------------
@contextlib.contextmanager
def seeded_database(args: argparse.Namespace) -> Iterator[str]:
    """A fresh seeded database: seeded now, or cloned from the cache template."""
    admin = sa.create_engine(seeding.PG_ADMIN, isolation_level="AUTOCOMMIT")
    head = migration_head()
    cache = (
        f"magnum_bench_seed_{args.clusters}_{args.projects}_{args.containers_per_cluster}_{head}"
    )
    with admin.connect() as conn:
        cached = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": cache})
    if args.seed_cache and cached:
        name = f"magnum_scale_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {cache}"))
        print(f"seed: cloned {cache}")
        url = sa.make_url(seeding.PG_ADMIN).set(database=name).render_as_string(False)
        try:
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
        return
    with seeding.fresh_database("magnum_scale") as url:
        db = engine.Database(url)
        print(
            f"seed: {args.clusters} clusters x (1 master + 2 workers) over {args.projects} "
            f"projects, {args.clusters * args.containers_per_cluster} containers ({load()})"
        )
        started = time.monotonic()
        seeding.seed(
            db,
            clusters_total=args.clusters,
            projects=args.projects,
            masters=1,
            workers=2,
            containers_per_cluster=args.containers_per_cluster,
        )
        db.dispose()
        print(f"seed: done in {time.monotonic() - started:.0f}s")
        with engine_counts(url) as counts:
            print("seed: rows " + ", ".join(f"{t}={n}" for t, n in counts.items()))
        if args.seed_cache:
            with admin.connect() as conn:
                source = sa.make_url(url).database
                conn.execute(sa.text(f"CREATE DATABASE {cache} TEMPLATE {source}"))
            print(f"seed: kept as {cache}")
        yield url
    admin.dispose()


def migration_head() -> str:
    versions = pathlib.Path(migration.__file__).parent / "migrations" / "versions"
    return max(p.name[:4] for p in versions.glob("0*.py"))


@contextlib.contextmanager
def engine_counts(url: str) -> Iterator[dict[str, int]]:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            counts = {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) or 0 for t in BIG_TABLES}
            counts["nodes"] = conn.scalar(sa.text("SELECT sum(node_count) FROM nodegroup")) or 0
        yield counts
    finally:
        eng.dispose()


# --- the API -------------------------------------------------------------------------
class Api:
    """The WSGI app on cheroot, in this process, and the SQL it issues while `capturing`."""

    def __init__(self, url: str, state: pathlib.Path) -> None:
        self.conf = magnum_conf.load(
            [],
            config_files=[],
            overrides={
                "DEFAULT": {"transport_url": "inproc://", "state_path": str(state)},
                "database": {"connection": url},
                "conductor": {
                    "enabled_infra_drivers": ["fake"],
                    "enabled_coe_drivers": ["fakecoe"],
                },
            },
        )
        self.db = cli_common.database(self.conf)
        self.transport = rpc.transport(self.conf)
        app = api_app.build(self.conf, self.db, self.transport)
        cli_common.settle_heap()  # as magnum-api's workers and magnum-aio do once started
        self.server = httpserver.Server(
            ("127.0.0.1", 0), app, numthreads=4, request_queue_size=64, api=self.conf.api
        )
        # each distinct statement: its parameters the first time, and the requests issuing it
        self.statements: dict[str, tuple[Any, list[str]]] = {}
        self.capturing: str | None = None
        self.per_request: list[int] = []
        for eng in self.db.engines:  # the API's GETs read through the reader's engine
            sa.event.listen(eng, "before_cursor_execute", self._seen)
        self._thread = threading.Thread(target=self.server.serve, daemon=True)

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.per_request:
            self.per_request[-1] += 1
        if self.capturing is None:
            return
        _, names = self.statements.setdefault(statement, (parameters, []))
        if self.capturing not in names:
            names.append(self.capturing)

    def __enter__(self) -> Api:
        self.server.prepare()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self._thread.join(timeout=10)
        self.transport.cleanup()
        self.db.dispose()

    @property
    def port(self) -> int:
        return int(self.server.bind_addr[1])


class Client:
    def __init__(self, port: int, project: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {
            "X-Auth-Token": "bench",
            "X-Project-Id": project,
            "X-User-Id": f"{project}-user",
            "Accept": "application/json",
            **MICROVERSION,
        }

    def get(self, path: str) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        took = time.perf_counter() - started
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {body[:300]!r}")
        return took, json.loads(body)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def latency(client: Client, api: Api, name: str, path: str, n: int) -> dict[str, Any]:
    client.get(path)  # warm
    api.capturing = name
    api.per_request.append(0)
    _, body = client.get(path)
    queries = api.per_request.pop()
    api.capturing = None
    times = [client.get(path)[0] for _ in range(n)]
    items = next((len(v) for v in body.values() if isinstance(v, list)), 0)
    return {
        "name": name,
        "path": path,
        "items": items,
        "queries": queries,
        "p50": pct(times, 0.5),
        "p99": pct(times, 0.99),
        "mean": statistics.fmean(times) * 1000,
    }


def page_through(client: Client, api: Api, name: str, path: str, key: str) -> list[float]:
    """Every page's time, following each page's last uuid as the next marker."""
    times: list[float] = []
    marker = None
    sep = "&" if "?" in path else "?"
    first = True
    while True:
        url = path if marker is None else f"{path}{sep}marker={marker}"
        if first:
            api.capturing = f"{name} (first page)"
        elif len(times) == 1:
            api.capturing = f"{name} (marker page)"
        took, body = client.get(url)
        api.capturing = None
        first = False
        items = body[key]
        if not items:
            break
        times.append(took)
        marker = items[-1]["uuid"]
    return times


def linearity(times: list[float]) -> str:
    """Per-tenth mean page time: flat when a page costs the same at any depth."""
    n = len(times)
    tenths = [times[i * n // 10 : (i + 1) * n // 10] for i in range(10)]
    means = [statistics.fmean(t) * 1000 for t in tenths if t]
    first, last = means[0], means[-1]
    return (
        f"{n} pages, total {sum(times):.2f}s; mean ms per tenth of the way: "
        + " ".join(f"{m:.1f}" for m in means)
        + f"  (last/first {last / first:.2f})"
    )


# --- plans ---------------------------------------------------------------------------
PLAN_INDEX = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\S+)"
)
PLAN_SEQ = re.compile(r"Seq Scan on (\S+)")


def explain_all(api: Api, url: str) -> list[str]:
    problems: list[str] = []
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            for statement, (params, names) in api.statements.items():
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cur = raw.cursor()
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                plan = [r[0] for r in cur.fetchall()]
                cur.close()
                raw.rollback()
                text = "\n".join(plan)
                indexes = sorted({m.group(2) for m in PLAN_INDEX.finditer(text)})
                seqs = [t for t in PLAN_SEQ.findall(text) if t in BIG_TABLES]
                sorts = [line.strip() for line in plan if "Sort Key" in line]
                took = next((line for line in plan if line.startswith("Execution Time")), "")
                flag = " <-- SEQ SCAN of " + ",".join(seqs) if seqs else ""
                print(f"\n* {'; '.join(names)}{flag}")
                print("  SQL: " + " ".join(statement.split())[:400])
                print(f"  params: {params}")
                print(f"  indexes: {', '.join(indexes) or '-'}; {took}")
                if sorts:
                    print("  sorts: " + "; ".join(sorts))
                for line in plan:
                    print("    " + line)
                if seqs:
                    problems.append(f"{names[0]}: seq scan of {seqs}")
    finally:
        eng.dispose()
    return problems


# --- main ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=10000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--containers-per-cluster", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed-cache", action="store_true")
    parser.add_argument("--plans-only", action="store_true", help="skip the latency runs")
    args = parser.parse_args(argv)
    project = "bench-p00"
    with (
        seeded_database(args) as url,
        tempfile.TemporaryDirectory() as tmp,
        Api(url, pathlib.Path(tmp)) as api,
    ):
        client = Client(api.port, project)
        # Markers deep in: the 90 % point of the project's clusters and containers, and of all.
        _, mine = client.get("/v1/clusters?limit=1000")
        _, every = client.get("/v1/clusters?all_projects=true&limit=1000")
        _, cts = client.get("/v1/containers?limit=1000")
        deep_c = mine["clusters"][int(len(mine["clusters"]) * 0.9)]["uuid"]
        deep_ct = cts["containers"][-1]["uuid"]
        pages_ct: list[dict[str, Any]] = []
        marker = deep_ct
        for _ in range(8):  # containers ~9,000 deep
            _, b = client.get(f"/v1/containers?limit=1000&marker={marker}")
            if not b["containers"]:
                break
            pages_ct.append(b)
            marker = b["containers"][-1]["uuid"]
        deep_ct = marker
        deep_all = every["clusters"][-1]["uuid"]
        for _ in range(8):  # all_projects clusters ~9,000 deep
            _, b = client.get(f"/v1/clusters?all_projects=true&limit=1000&marker={deep_all}")
            if not b["clusters"]:
                break
            deep_all = b["clusters"][-1]["uuid"]
        cases = [
            ("clusters default page", "/v1/clusters"),
            ("clusters limit=100", "/v1/clusters?limit=100"),
            ("clusters limit=100 deep marker", f"/v1/clusters?limit=100&marker={deep_c}"),
            ("clusters/detail default page", "/v1/clusters/detail"),
            ("clusters/detail limit=100", "/v1/clusters/detail?limit=100"),
            (
                "clusters/detail limit=100 deep marker",
                f"/v1/clusters/detail?limit=100&marker={deep_c}",
            ),
            ("clusters all_projects limit=100", "/v1/clusters?all_projects=true&limit=100"),
            (
                "clusters all_projects limit=100 deep marker",
                f"/v1/clusters?all_projects=true&limit=100&marker={deep_all}",
            ),
            ("clusters sort_key=name limit=100", "/v1/clusters?limit=100&sort_key=name"),
            ("containers default page", "/v1/containers"),
            ("containers limit=100", "/v1/containers?limit=100"),
            ("containers limit=100 deep marker", f"/v1/containers?limit=100&marker={deep_ct}"),
            ("containers/detail limit=100", "/v1/containers/detail?limit=100"),
        ]
        print(f"\nlatency ({args.requests} sequential requests each; {load()})")
        print(f"  {'request':46} {'items':>5} {'SQL':>4} {'p50 ms':>8} {'p99 ms':>8}")
        for name, path in cases:
            if args.plans_only:
                api.capturing = name
                client.get(path)
                api.capturing = None
                continue
            r = latency(client, api, name, path, args.requests)
            mark = "" if r["p99"] < 50 else "  (p99 >= 50 ms)"
            print(
                f"  {name:46} {r['items']:5d} {r['queries']:4d} {r['p50']:8.2f} "
                f"{r['p99']:8.2f}{mark}"
            )
        print(f"\npaging ({load()})")
        for name, path, key in [
            (
                "clusters all_projects limit=100",
                "/v1/clusters?all_projects=true&limit=100",
                "clusters",
            ),
            (
                "clusters all_projects limit=1000",
                "/v1/clusters?all_projects=true&limit=1000",
                "clusters",
            ),
            (
                "clusters/detail all_projects limit=100",
                "/v1/clusters/detail?all_projects=true&limit=100",
                "clusters",
            ),
            ("containers (one project) limit=100", "/v1/containers?limit=100", "containers"),
            ("containers (one project) limit=1000", "/v1/containers?limit=1000", "containers"),
        ]:
            times = page_through(client, api, f"paging {name}", path, key)
            print(f"  {name}: {linearity(times)}")
        print(f"\nplans (EXPLAIN ANALYZE of each distinct statement issued; {load()})")
        problems = explain_all(api, url)
        if not api.statements:  # a listener on the wrong engine would see nothing at all
            problems.append("no list statement was captured: nothing was EXPLAINed")
        print("\nsummary: " + ("; ".join(problems) if problems else "no seq scan of a big table"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
