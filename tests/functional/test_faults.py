# SPDX-License-Identifier: Apache-2.0
"""RabbitMQ and PostgreSQL really stop and start under a running deployment: a
`magnum-api` process (gunicorn, few threads) and `magnum-conductor` processes on a fresh
PostgreSQL database (tests/functional/_cluster.py).

These stop services every other test shares, so they carry the `faults` mark and
scripts/test runs them alone, after everything else; whatever happens, both services
are running again when a test ends. During a broker outage: bay writes answer at once
(the conductors' scan runs them), reads answer, calls answer 503 with Retry-After within
a bound, and nothing waits on a thread. During a database outage: 503 with Retry-After
naming the database, never 500. After either: everything works again, no restart, no
operation lost or stuck. Timings are printed (pytest -s shows them)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from magnum.common import rpc
from magnum.db import engine, models
from tests.functional._cluster import BAYMODEL, VENV_BIN, Cluster, migrated_postgres, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.rabbit, pytest.mark.slow]

BROKER_TIMEOUT = 2.0  # [api] broker_timeout, its default
CALL_BOUND = BROKER_TIMEOUT + rpc.RECHECK + 1.5  # what a call may take in a broker outage
QUICK = 1.0  # what a request that needs no broker, or only a cast, may take in one
DB_BOUND = engine.CONNECT_TIMEOUT + 1.5  # what any request may take in a database outage
IMAGE = "local/busybox:latest"


# --- the shared services ------------------------------------------------------------------
def _run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _pg_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"))
    assert len(versions) == 1, versions
    return versions[0]


def pg_ready() -> bool:
    return _run("pg_isready", "-h", "127.0.0.1", timeout=10).returncode == 0


def pg(action: str) -> None:
    done = _run("pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", action)
    assert done.returncode == 0, done.stderr


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def rabbit_up() -> bool:
    return _port_open(5672) and _run("rabbitmqctl", "status", timeout=60).returncode == 0


def rabbit_stop() -> None:
    done = _run("rabbitmqctl", "stop")
    if done.returncode != 0:
        done = _run("rabbitmqctl", "shutdown")
    assert done.returncode == 0, done.stderr
    wait_until("RabbitMQ to close its port", lambda: not _port_open(5672), timeout=30)


def rabbit_start() -> None:
    done = _run("rabbitmq-server", "-detached")
    assert done.returncode == 0, done.stderr
    _run("rabbitmqctl", "await_startup", timeout=120)
    wait_until("RabbitMQ to listen", lambda: _port_open(5672), timeout=60)


@pytest.fixture(autouse=True)
def services_left_running() -> Iterator[None]:
    """Both services are up before a fault test and always again after it."""
    for tool in ("pg_ctlcluster", "pg_isready", "rabbitmqctl", "rabbitmq-server"):
        if not any((pathlib.Path(d) / tool).exists() for d in os.environ["PATH"].split(":")):
            pytest.skip(f"{tool} is not installed")
    assert pg_ready() and _port_open(5672), "PostgreSQL and RabbitMQ must be running"
    try:
        yield
    finally:
        if not pg_ready():
            pg("start")
            wait_until("PostgreSQL to accept connections", pg_ready, timeout=60)
        if not _port_open(5672):
            rabbit_start()
        assert pg_ready() and rabbit_up()


# --- the deployment -----------------------------------------------------------------------
class Api:
    """A real `magnum-api` (gunicorn: 1 worker, 4 threads) on a free port."""

    def __init__(self, cluster: Cluster, *, threads: int = 4) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        conf = cluster.tmp / "api.conf"
        conf.write_text(
            f"[api]\nhost = 127.0.0.1\nport = {port}\nworkers = 1\nthreads = {threads}\n"
            f"broker_timeout = {BROKER_TIMEOUT}\n"
        )
        self.log = cluster.tmp / "api.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(VENV_BIN / "magnum-api"),
                    "--config-file",
                    str(cluster.common_conf),
                    "--config-file",
                    str(conf),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(
            base_url=self.url,
            headers={"X-Project-Id": "p1", "X-User-Id": "u1"},
            timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=0),
        )
        wait_until("magnum-api to answer", self._answers, timeout=30, interval=0.2)

    def _answers(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text(errors="replace")
        try:
            return self.http.get("/").status_code == 200
        except httpx.TransportError:
            return False

    def request(self, method: str, path: str, body: Any = None) -> tuple[httpx.Response, float]:
        start = time.monotonic()
        res = self.http.request(method, path, json=body)
        return res, time.monotonic() - start

    def bay(self, name: str, baymodel: str = "m1") -> str:
        res, _ = self.request("POST", "/v1/bays", {"name": name, "baymodel_id": baymodel})
        assert res.status_code == 201, res.text
        return str(res.json()["uuid"])

    def status(self, ident: str) -> str | None:
        res, _ = self.request("GET", f"/v1/bays/{ident}")
        if res.status_code == 404:
            return None
        assert res.status_code == 200, res.text
        return str(res.json()["status"])

    def wait_status(self, ident: str, status: str | None, timeout: float = 30.0) -> None:
        wait_until(
            f"bay {ident} to be {status}", lambda: self.status(ident) == status, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def deployment(tmp_path: pathlib.Path) -> Iterator[Callable[[int], tuple[Cluster, Api]]]:
    made: list[tuple[Cluster, Api]] = []
    drops: list[Callable[[], None]] = []

    def make(conductors: int) -> tuple[Cluster, Api]:
        url, drop = migrated_postgres(tmp_path)
        drops.append(drop)
        groups = {
            "conductor": {"container_sync_interval": 0, "health_interval": 0},
            "quotas": {"max_clusters_per_project": 1000, "max_nodes_per_project": 10000},
        }
        cluster = Cluster(url, tmp_path, groups=groups)
        hosts = [f"c{i}" for i in range(conductors)]
        for host in hosts:
            cluster.start_conductor(host)
        cluster.wait_up(*hosts)
        api = Api(cluster)
        made.append((cluster, api))
        return cluster, api

    yield make
    for cluster, api in made:
        api.close()
        cluster.close()
    for drop in drops:
        try:
            drop()
        except sa.exc.OperationalError:  # its admin connection died with the restart
            drop()


def unavailable(res: httpx.Response, fragment: str) -> None:
    assert res.status_code == 503, res.text
    assert int(res.headers["retry-after"]) > 0, res.headers
    (error,) = res.json()["errors"]
    assert error["status"] == 503 and error["code"] == "server", error
    assert fragment in error["detail"], error


def settled(cluster: Cluster) -> list[dict[str, Any]]:
    """Every bay row once no operation is left waiting or held (none lost, none stuck)."""
    c = models.Cluster
    columns = (c.uuid, c.name, c.status, c.operation, c.lease_owner)

    def rows() -> list[dict[str, Any]]:
        with cluster.db.session() as session:
            return [dict(r._mapping) for r in session.execute(sa.select(*columns))]

    def done() -> bool:
        return all(r["operation"] is None and r["lease_owner"] is None for r in rows())

    wait_until("every operation to settle", done, timeout=30)
    final = rows()
    assert not [r for r in final if r["status"].endswith("IN_PROGRESS")], final
    return final


def report(title: str, timings: dict[str, float]) -> None:
    print(f"\n{title}", file=sys.stderr)
    for what, seconds in timings.items():
        print(f"  {what:<48} {seconds * 1000:8.1f} ms", file=sys.stderr)


# --- the broker ---------------------------------------------------------------------------
def test_rabbitmq_restart(deployment: Callable[[int], tuple[Cluster, Api]]) -> None:
    cluster, api = deployment(1)  # one conductor: the fake COE keeps containers in memory
    timings: dict[str, float] = {}
    res, _ = api.request("POST", "/v1/baymodels", BAYMODEL | {"name": "m1"})
    assert res.status_code == 201, res.text
    ready, doomed = api.bay("ready"), api.bay("doomed")
    api.wait_status(ready, "CREATE_COMPLETE")
    api.wait_status(doomed, "CREATE_COMPLETE")
    res, _ = api.request("POST", "/v1/containers", {"image": IMAGE, "bay_uuid": ready})
    assert res.status_code == 201, res.text
    container = f"/v1/containers/{res.json()['uuid']}"
    assert api.request("PUT", f"{container}/start")[0].status_code == 200

    start = time.monotonic()
    rabbit_stop()
    timings["rabbitmqctl stop"] = time.monotonic() - start
    outage = time.monotonic()
    try:
        res, took = api.request("POST", "/v1/bays", {"name": "during", "baymodel_id": "m1"})
        timings["POST /v1/bays (201)"] = took
        assert res.status_code == 201, res.text
        assert took < QUICK, took
        during = res.json()["uuid"]
        res, took = api.request("DELETE", f"/v1/bays/{doomed}")
        timings["DELETE /v1/bays/{doomed} (204)"] = took
        assert res.status_code == 204, res.text
        assert took < QUICK, took
        res, took = api.request("GET", f"/v1/bays/{during}")
        timings["GET /v1/bays/{bay} (200)"] = took
        assert res.status_code == 200, res.text
        assert took < QUICK, took

        # Twice as many calls as the API has threads, with reads beside them: every
        # call answers 503 within the bound, every read answers at once.
        calls = [
            ("GET", f"{container}/logs"),
            ("PUT", f"{container}/stop"),
            ("PUT", f"{container}/execute?command=echo+hi"),
            ("GET", container),
            ("DELETE", container),
            ("POST", "/v1/containers"),
            ("GET", f"{container}/logs"),
            ("PUT", f"{container}/reboot"),
        ]
        with futures.ThreadPoolExecutor(len(calls) + 1) as pool:
            answers = [
                pool.submit(
                    api.request,
                    method,
                    path,
                    {"image": IMAGE, "bay_uuid": ready} if method == "POST" else None,
                )
                for method, path in calls
            ]
            reads = []
            while not all(a.done() for a in answers):
                reads.append(api.request("GET", "/v1/bays"))
            for (method, path), answer in zip(calls, answers, strict=True):
                res, took = answer.result()
                timings.setdefault(f"{method} {path.split('/')[-1][:12]} (503)", took)
                unavailable(res, "The conductors cannot be reached")
                assert took < CALL_BOUND, (method, path, took)
        assert reads and all(r.status_code == 200 for r, _ in reads), reads
        timings["slowest GET /v1/bays beside the calls"] = max(t for _, t in reads)
        assert max(t for _, t in reads) < QUICK

        # The operations recorded meanwhile run all the same: the scan finds them.
        api.wait_status(during, "CREATE_COMPLETE")
        api.wait_status(doomed, None)
        timings["bay created and bay deleted, by the scan"] = time.monotonic() - outage
    finally:
        start = time.monotonic()
        rabbit_start()
        timings["rabbitmq-server start (await_startup)"] = time.monotonic() - start
    back = time.monotonic()
    res = wait_until(
        "calls to be answered again",
        lambda: (r := api.request("GET", f"{container}/logs")[0]).status_code != 503 and r,
        timeout=90,
        interval=0.5,
    )
    timings["first call answered after the broker is back"] = time.monotonic() - back
    assert res.status_code == 200, res.text
    assert api.request("PUT", f"{container}/stop")[0].status_code == 200
    after = api.bay("after")
    api.wait_status(after, "CREATE_COMPLETE")
    timings["bay created after the broker is back"] = time.monotonic() - back
    settled(cluster)
    report("RabbitMQ restart", timings)


# --- the database -------------------------------------------------------------------------
# (when, request, status, seconds taken, Retry-After, error detail)
Answer = tuple[float, str, int, float, str, str]


def _load(api: Api, worker: int, before: str, stop: threading.Event, out: list[Answer]) -> None:
    """Reads and writes in a loop until `stop`: each round reads, creates a bay and deletes
    the oldest one it created (once it has two: the older one's create is long done)."""
    mine: list[str] = []
    n = 0
    while not stop.is_set():
        n += 1
        steps: list[tuple[str, str, Any]] = [
            ("GET", "/v1/bays", None),
            ("GET", f"/v1/bays/{before}", None),
            ("GET", "/v1/baymodels", None),
            ("POST", "/v1/bays", {"name": f"w{worker}-{n}", "baymodel_id": "m1"}),
            ("GET", "/v1/mservices", None),
            ("DELETE", "", None),
        ]
        for method, route, body in steps:
            if method == "DELETE" and len(mine) < 2:
                continue
            path = f"/v1/bays/{mine[0]}" if method == "DELETE" else route
            try:
                res, took = api.request(method, path, body)
            except httpx.TransportError as exc:
                out.append((time.monotonic(), f"{method} {path}", 0, 0.0, "", repr(exc)))
                continue
            if method == "POST" and res.status_code == 201:
                mine.append(res.json()["uuid"])
            if method == "DELETE" and res.status_code == 204:
                mine.pop(0)
            detail = res.json()["errors"][0]["detail"] if res.status_code >= 400 else ""
            retry = res.headers.get("retry-after", "")
            out.append((time.monotonic(), f"{method} {path}", res.status_code, took, retry, detail))


def test_postgresql_restart(deployment: Callable[[int], tuple[Cluster, Api]]) -> None:
    cluster, api = deployment(2)
    timings: dict[str, float] = {}
    res, _ = api.request("POST", "/v1/baymodels", BAYMODEL | {"name": "m1"})
    assert res.status_code == 201, res.text
    before = api.bay("before")
    api.wait_status(before, "CREATE_COMPLETE")
    gated, gate, entered = cluster.gated_cluster("gated")  # its create is under way
    wait_until("the gated create to start", entered.exists)

    answers: list[Answer] = []
    stop = threading.Event()
    workers = [
        threading.Thread(target=_load, args=(api, i, before, stop, answers), daemon=True)
        for i in range(3)
    ]
    for thread in workers:
        thread.start()
    try:
        time.sleep(1.0)
        start = time.monotonic()
        pg("stop")
        timings["pg_ctlcluster stop"] = time.monotonic() - start
        time.sleep(3.0)
        gate.touch()  # the gated create goes on while nothing it does can be recorded
        time.sleep(1.0)
    finally:
        start = time.monotonic()
        pg("start")
        wait_until("PostgreSQL to accept connections", pg_ready, timeout=60)
        up = time.monotonic()
        timings["pg_ctlcluster start"] = up - start
    time.sleep(4.0)
    stop.set()
    for thread in workers:
        thread.join(60)

    assert not [a for a in answers if a[2] == 0], "the API dropped connections"
    statuses = sorted({a[2] for a in answers})
    # 409: a delete of a bay whose create the outage held up (it runs on once PostgreSQL
    # is back); the only answer besides success and 503.
    unexpected = [
        a
        for a in answers
        if a[2] not in (200, 201, 204, 503)
        and not (a[2] == 409 and "operation in progress" in a[5])
    ]
    assert not unexpected, unexpected
    outage = [a for a in answers if a[2] == 503]
    assert outage, "no request saw the outage"
    for _, what, _, took, retry, detail in outage:
        assert int(retry) == engine.DatabaseUnavailable.retry_after, (what, retry)
        assert "The database is unavailable" in detail, (what, detail)
        assert took < DB_BOUND, (what, took)
    timings["slowest 503"] = max(a[3] for a in outage)
    last_503 = max(a[0] for a in outage)
    timings["last 503, after PostgreSQL accepts connections"] = max(0.0, last_503 - up)
    assert last_503 - up < 3.0, "the API took too long to recover"
    late = [a for a in answers if a[0] > up + 3.0]
    assert late and not [a for a in late if a[2] == 503], late

    # Nothing lost or stuck: the gated create and every bay written meanwhile settle.
    rows = {r["uuid"]: r for r in settled(cluster)}
    print(
        f"\nPostgreSQL restart: {len(answers)} requests, {len(outage)} answered 503, "
        f"statuses seen {statuses}; the create under way settled {rows[gated]['status']}",
        file=sys.stderr,
    )
    assert rows[before]["status"] == "CREATE_COMPLETE"
    assert rows[gated]["status"] in ("CREATE_COMPLETE", "CREATE_FAILED"), rows[gated]
    others = [r for u, r in rows.items() if u not in (before, gated)]
    assert all(r["status"] == "CREATE_COMPLETE" for r in others), others
    report("PostgreSQL restart", timings)
