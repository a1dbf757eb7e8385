# SPDX-License-Identifier: Apache-2.0
"""API throughput benchmark: requests/s and p50/p99 latency at a fixed concurrency.

Two deployments, each started and stopped by this script, traffic on 127.0.0.1 only:

  aio    magnum-aio (SQLite, in-process transport, cheroot)
  multi  magnum-api (gunicorn, [api] workers=2) + one magnum-conductor,
         a fresh PostgreSQL database and RabbitMQ

Scenarios (keep-alive http.client connections, one per client thread), each on Mitaka's
/v1/baymodels and on today's /v1/clustertemplates (at microversion "latest"; upstream's
figures are for this one, the only one it still serves):

  list         GET /v1/<collection> with 100 templates present
  get          GET /v1/<collection>/<uuid>
  post+delete  POST /v1/<collection> then DELETE it (one "op" = one pair)

Auth (--auth): noauth (the default), keystone (a real Keystone beside them,
magnum.cli.devkeystone, from .venv-keystone: [api] auth_strategy = keystone and every
request carries a project member's token, validated by keystonemiddleware, its validation
cached as deployed: token_cache_time 300 s), or both, one after the other.

Run:  .venv/bin/python bench/api_bench.py [--only aio|multi] [--auth noauth|keystone|both]
      [--duration 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa

from magnum.cli import devkeystone

VENV_BIN = pathlib.Path(sys.executable).parent
PG_ADMIN = os.environ.get("MAGNUM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RABBIT = os.environ.get("MAGNUM_TEST_RABBIT", "rabbit://guest:guest@127.0.0.1:5672/")
HEADERS = {
    "X-Auth-Token": "bench",
    "X-Project-Id": "bench",
    "X-User-Id": "bench-user",
    "Accept": "application/json",
    "Content-Type": "application/json",
}
# upstream magnum 23.0.0 on the same kind of machine (ops/s)
REFERENCE = {"list": 56.0, "get": 310.0, "post+delete": 48.0}


def cluster_template_body(name: str) -> bytes:
    return json.dumps(
        {
            "name": name,
            "image_id": "fedora-atomic",
            "keypair_id": "kp",
            "external_network_id": "public",
            "coe": "swarm",
            "labels": {"bench": "yes"},
        }
    ).encode()


class Http:
    """One keep-alive connection to the API."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.failures: collections.Counter[str] = collections.Counter()  # "GET 503": count

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=HEADERS | (headers or {}))
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 400:
            self.failures[f"{method} {resp.status}"] += 1
        if resp.will_close:
            self.conn.close()
        return resp.status, data

    def close(self) -> None:
        self.conn.close()


# --- the load generator --------------------------------------------------------------
Op = Callable[[Http], bool]


def run_load(
    host: str, port: int, op: Op, *, concurrency: int, warmup: float, duration: float
) -> dict[str, Any]:
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + duration
    # Throughput and latency count the operations that succeeded; a failed one is an error
    # (a quick 5xx is no work served), and the failing answers are counted by status.
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    failures: collections.Counter[str] = collections.Counter()

    def worker(i: int) -> None:
        client = Http(host, port)
        try:
            while (t0 := time.monotonic()) < stop_at:
                ok = op(client)
                t1 = time.monotonic()
                if t0 >= measure_from:
                    if ok:
                        latencies[i].append(t1 - t0)
                    else:
                        errors[i] += 1
        finally:
            client.close()
            failures.update(client.failures)  # under the GIL, one update at a time

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples = sorted(x for per in latencies for x in per)
    if not samples:
        return {
            "ops": 0.0,
            "p50": float("nan"),
            "p99": float("nan"),
            "n": 0,
            "errors": sum(errors),
            "failures": dict(failures),
        }
    q = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else samples
    return {
        "ops": len(samples) / duration,
        "p50": statistics.median(samples) * 1000,
        "p99": (q[98] if len(q) > 1 else q[0]) * 1000,
        "n": len(samples),
        "errors": sum(errors),
        "failures": dict(failures),
    }


COLLECTIONS = {
    "baymodels": {},
    "clustertemplates": {"OpenStack-API-Version": "container-infra latest"},
}


def scenarios(host: str, port: int) -> dict[str, Op]:
    ops: dict[str, Op] = {}
    for collection, version in COLLECTIONS.items():
        for name, op in _scenarios(host, port, collection, version).items():
            ops[f"{collection} {name}"] = op
    return ops


def _scenarios(
    host: str,
    port: int,
    collection: str,
    version: dict[str, str],
    template_body: Callable[[str], bytes] = cluster_template_body,
) -> dict[str, Op]:
    """The three scenarios on `collection`, after seeding it to 100 templates, each made
    by `template_body(name)` (as are the ones post+delete makes)."""
    seed = Http(host, port)
    existing = json.loads(seed.call("GET", f"/v1/{collection}?limit=1000", None, version)[1])
    for i in range(len(existing[collection]), 100):
        body = template_body(f"seed-{i:03d}")
        status, _ = seed.call("POST", f"/v1/{collection}", body, version)
        assert status == 201, status
    status, data = seed.call("GET", f"/v1/{collection}", None, version)
    listed = json.loads(data)[collection]
    assert status == 200 and len(listed) == 100, (status, len(listed))
    one = listed[0]["uuid"]
    seed.close()

    def list_(c: Http) -> bool:
        status, data = c.call("GET", f"/v1/{collection}", None, version)
        # orjson: the client shares the two cores with the servers it measures, and the
        # standard json module spent about a third of a core decoding these 115 KB lists
        return status == 200 and len(orjson.loads(data)[collection]) == 100

    def get(c: Http) -> bool:
        return c.call("GET", f"/v1/{collection}/{one}", None, version)[0] == 200

    def post_delete(c: Http) -> bool:
        body = template_body(f"b-{uuid.uuid4().hex[:12]}")
        status, data = c.call("POST", f"/v1/{collection}", body, version)
        if status != 201:
            return False
        uuid_ = orjson.loads(data)["uuid"]
        return c.call("DELETE", f"/v1/{collection}/{uuid_}", None, version)[0] == 204

    return {"list": list_, "get": get, "post+delete": post_delete}


# --- deployments ---------------------------------------------------------------------
def wait_http(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1", headers=HEADERS)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        pause.wait(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def keystone_sections(keystone: devkeystone.Keystone | None) -> tuple[str, str]:
    """(lines for [api], a [keystone_authtoken] section) of a deployment under Keystone."""
    if keystone is None:
        return "", ""
    options = keystone.authtoken_options()
    section = "[keystone_authtoken]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
    return "auth_strategy = keystone\n", section


@contextmanager
def aio(
    tmp: pathlib.Path, keystone: devkeystone.Keystone | None = None
) -> Iterator[tuple[str, int, list[int]]]:
    log = (tmp / "aio.log").open("wb")
    api_lines, section = keystone_sections(keystone)
    conf = tmp / "aio.conf"
    conf.write_text(f"[api]\n{api_lines}{section}")
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "magnum-aio"),
            "--bind",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp / "aio"),
            "--config-file",
            str(conf),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"API at http://([\d.]+):(\d+)/v1", line)
        if not match:
            raise RuntimeError(f"magnum-aio did not start: {line!r}; see {tmp / 'aio.log'}")
        yield match.group(1), int(match.group(2)), [proc.pid]
    finally:
        stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"magnum_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def multi(
    tmp: pathlib.Path,
    workers: int,
    keystone: devkeystone.Keystone | None = None,
    database: str | None = None,
    extra_conf: str = "",
) -> Iterator[tuple[str, int, list[int]]]:
    """magnum-api + one magnum-conductor on `database` (an empty one; by default a fresh
    PostgreSQL database, dropped after), `extra_conf` appended to their configuration;
    yields host, port, [api pid, conductor pid]."""
    port = free_port()
    api_lines, section = keystone_sections(keystone)
    with contextlib.ExitStack() as stack:
        url = database if database is not None else stack.enter_context(postgres_database())
        conf = tmp / "magnum.conf"
        conf.write_text(
            "[DEFAULT]\n"
            f"transport_url = {RABBIT}\n"
            f"state_path = {tmp / 'state'}\n"
            "host = bench\n"
            "[database]\n"
            f"connection = {url}\n"
            "[api]\n"
            "host = 127.0.0.1\n"
            f"port = {port}\n"
            f"workers = {workers}\n"
            f"{api_lines}"
            "[conductor]\n"
            f"topic = magnum-bench-{uuid.uuid4().hex[:8]}\n"
            f"{section}"
            f"{extra_conf}"
        )
        subprocess.run(
            [str(VENV_BIN / "magnum-db-manage"), "--config-file", str(conf), "upgrade"],
            check=True,
            capture_output=True,
        )
        logs = [(tmp / n).open("wb") for n in ("api.log", "conductor.log")]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for binary, log in zip(("magnum-api", "magnum-conductor"), logs, strict=True):
                procs.append(
                    subprocess.Popen(
                        [str(VENV_BIN / binary), "--config-file", str(conf)],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            wait_http(port, procs[0])
            yield "127.0.0.1", port, [p.pid for p in procs]
        finally:
            for proc in procs:
                stop(proc)
            for log in logs:
                log.close()


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of the server processes and their children (gunicorn workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("aio", "multi"))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2, help="[api] workers for magnum-api")
    parser.add_argument("--auth", choices=("noauth", "keystone", "both"), default="noauth")
    args = parser.parse_args()

    multi_name = f"api(w={args.workers})+conductor"
    kinds = {"aio": aio, multi_name: lambda tmp, ks: multi(tmp, args.workers, ks)}
    if args.only == "aio":
        kinds.pop(multi_name)
    elif args.only == "multi":
        kinds.pop("aio")
    auths = ("noauth", "keystone") if args.auth == "both" else (args.auth,)

    rows = []
    tmp_root = pathlib.Path(tempfile.mkdtemp(prefix="magnum-bench-"))
    with contextlib.ExitStack() as stack:
        keystone = None
        if "keystone" in auths:
            keystone = stack.enter_context(devkeystone.Keystone(tmp_root / "keystone"))
        deployments = [
            (name if auth == "noauth" else f"{name} keystone", start, auth)
            for auth in auths
            for name, start in kinds.items()
        ]
        try:
            _measure(args, deployments, keystone, tmp_root, rows)
        finally:
            shutil.rmtree(tmp_root, ignore_errors=True)
    _report(args, rows)
    return 0


def _measure(
    args: argparse.Namespace,
    deployments: list[tuple[str, Callable[..., Any], str]],
    keystone: devkeystone.Keystone | None,
    tmp_root: pathlib.Path,
    rows: list[tuple[str, str, dict[str, float], float]],
) -> None:
    for dep_name, start, auth in deployments:
        tmp = tmp_root / re.sub(r"\W", "_", dep_name)
        tmp.mkdir()
        ks = keystone if auth == "keystone" else None
        if ks is not None:  # a member of project alpha; noauth ignores the token
            HEADERS["X-Auth-Token"] = devkeystone.password_token(
                ks.url, devkeystone.persona("alpha", "member"), project="alpha"
            )
        else:
            HEADERS["X-Auth-Token"] = "bench"
        with start(tmp, ks) as (host, port, pids):
            for name, op in scenarios(host, port).items():
                cpu0 = cpu_seconds(pids)
                res = run_load(
                    host,
                    port,
                    op,
                    concurrency=args.concurrency,
                    warmup=args.warmup,
                    duration=args.duration,
                )
                cpu = (cpu_seconds(pids) - cpu0) / (args.warmup + args.duration)
                rows.append((dep_name, name, res, cpu))
                print(
                    f"  {dep_name:<28} {name:<29} {res['ops']:8.1f} ops/s",
                    file=sys.stderr,
                    flush=True,
                )


def _report(args: argparse.Namespace, rows: list[tuple[str, str, dict[str, float], float]]) -> None:
    print(
        f"\nconcurrency {args.concurrency}, {args.duration:g} s measured after "
        f"{args.warmup:g} s warm-up, {os.cpu_count()} CPUs shared by client and server\n"
    )
    head = (
        f"{'deployment':<28} {'scenario':<29} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} {'srv CPU':>7} {'upstream':>8} {'ratio':>6}"
    )
    print(head)
    print("-" * len(head))
    for dep_name, name, res, cpu in rows:
        ref = REFERENCE[name.split(" ", 1)[1]]
        print(
            f"{dep_name:<28} {name:<29} {res['ops']:8.1f} {res['p50']:8.2f} {res['p99']:8.2f} "
            f"{res['errors']:>6} {cpu:7.2f} {ref:8.1f} {res['ops'] / ref:5.1f}x"
        )
    print(
        "\nupstream = magnum 23.0.0 on /v1/clustertemplates (list 56 req/s, GET one 310 "
        "req/s, POST+DELETE 48 pairs/s); ratio = ours / upstream; srv CPU = server cores busy"
    )


if __name__ == "__main__":
    sys.exit(main())
