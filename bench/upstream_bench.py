# SPDX-License-Identifier: Apache-2.0
"""Upstream OpenStack Magnum 23.0.0 and this Magnum side by side, Keystone on both.

Both APIs run at once on 127.0.0.1, against one real Keystone (magnum.cli.devkeystone,
from .venv-keystone), each on a fresh database of the host's MariaDB (127.0.0.1:3306,
root), both dropped at the end, and are driven by the same client (bench/api_bench.py's
closed-loop keep-alive http.client threads) with the same project member's token, its
validation cached by keystonemiddleware (token_cache_time 300 s) on both:

  upstream  magnum==23.0.0 + magnum-capi-helm==1.4.0 (a kubernetes driver, else template
            POST has no driver) from PyPI in their own venv, pinned by
            bench/upstream-constraints.txt and cached outside the work tree
            (/var/cache/magnum/upstream/magnum-23.0.0-py3.11); magnum.wsgi.api:application
            under gunicorn, 2 sync workers x 1 thread (devstack's shape), migrated with its
            own magnum-db-manage, [database] max_overflow = -1 (its template list leaks a
            pooled connection per request), transport fake:/ (no conductor: template CRUD
            needs none), x509keypair certificates, and a stub Glance (bench/stub_glance.py)
            in the catalog serving the image's os_distro, which every template POST reads.
  ours      magnum-api ([api] workers = 2) + one magnum-conductor over RabbitMQ
            (127.0.0.1:5672), as api_bench.py's "multi" deployment starts them.

Scenarios, on /v1/clustertemplates with 100 templates present (coe kubernetes, the stub
image), at a fixed concurrency: list (GET the collection), get (GET one by uuid),
post+delete (POST one, then DELETE it: one op is the pair). Each round measures every
scenario on both sides, alternating which side goes first, and the ratio (ours/upstream)
is taken within the round. Server RSS is the gunicorn master plus its workers, sampled
every 0.5 s during each scenario.

Run:  .venv/bin/python bench/upstream_bench.py [--rounds 4] [--duration 10] [--warmup 2]
      [--concurrency 8]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import api_bench
import platformdirs
import sqlalchemy as sa

from magnum.cli import devkeystone

HERE = pathlib.Path(__file__).resolve().parent
CONSTRAINTS = HERE / "upstream-constraints.txt"
UPSTREAM_VERSION = "23.0.0"
REQUIREMENTS = (
    f"magnum=={UPSTREAM_VERSION}",
    "magnum-capi-helm==1.4.0",
    "gunicorn",
    "PyMySQL",
    "mysqlclient",
)
# The MariaDB drivers either side may run on (--driver; both sides always the same one).
DRIVERS = ("mysqldb", "pymysql")
PY = f"py{sys.version_info.major}.{sys.version_info.minor}"
MACHINE_CACHE = pathlib.Path("/var/cache/magnum/upstream")
MYSQL_ADMIN = os.environ.get("MAGNUM_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
IMAGE_ID = "5c3b3c4e-0b8f-4f4e-9d61-6b2f4a1c9e01"  # the stub Glance's one image
COLLECTION = "clustertemplates"
SCENARIOS = ("list", "get", "post+delete")
SIDES = ("upstream", "ours")
PROJECT = "alpha"  # the token: devkeystone's alpha-member, scoped to project alpha
# Issue 13's targets: the least ratio (ours/upstream) in any round, per scenario
TARGET_RATIO = {"list": 20.0, "get": 10.0, "post+delete": 20.0}
TARGET_GET_P99_MS = 15.0
# our local infrastructure's image catalog, holding the stub Glance's image id: both sides
# then get the very same template bodies
OURS_CONF = f"[local]\nimages = {IMAGE_ID}:fedora-atomic\n"


def template_body(name: str) -> bytes:
    """A cluster template both accept: upstream resolves its driver from the stub image's
    os_distro (ubuntu) and coe kubernetes; no flavor or network (those need Nova/Neutron)."""
    return (
        f'{{"name": "{name}", "coe": "kubernetes", "image_id": "{IMAGE_ID}", '
        '"keypair_id": "kp", "labels": {"bench": "yes"}}'
    ).encode()


# --- the upstream venv -----------------------------------------------------------------
def upstream_venv_dir() -> pathlib.Path:
    name = f"magnum-{UPSTREAM_VERSION}-{PY}"
    for base in (MACHINE_CACHE, pathlib.Path(platformdirs.user_cache_dir("magnum")) / "upstream"):
        with contextlib.suppress(OSError):
            base.mkdir(parents=True, exist_ok=True)
        if base.is_dir() and os.access(base, os.W_OK):
            return base / name
    raise RuntimeError("no writable cache directory for the upstream venv")


def _recipe() -> str:
    text = "\n".join([sys.version, *REQUIREMENTS, CONSTRAINTS.read_text()])
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_upstream_venv() -> tuple[pathlib.Path, float, bool]:
    """(the venv, seconds it took, whether it was installed now). Installed with pip from
    the pins when missing or made from other pins; concurrent callers wait for the first."""
    venv = upstream_venv_dir()
    marker = venv / ".upstream-bench-recipe"
    t0 = time.monotonic()
    lock = venv.with_name(venv.name + ".lock")
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            if marker.exists() and marker.read_text() == _recipe():
                return venv, time.monotonic() - t0, False
            if venv.exists():
                shutil.rmtree(venv)
            print(f"installing upstream Magnum {UPSTREAM_VERSION} into {venv} ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip"]
            done = subprocess.run(
                [*pip, "install", "--quiet", "-c", str(CONSTRAINTS), *REQUIREMENTS],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"pip install failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
                )
            subprocess.run([*pip, "check"], check=True, capture_output=True)
            marker.write_text(_recipe())
            return venv, time.monotonic() - t0, True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- fixtures: databases, the stub Glance, the catalog ----------------------------------
@contextmanager
def mysql_database(prefix: str, driver: str) -> Iterator[str]:
    """A fresh database on the host's MariaDB, dropped after; its URL names `driver`."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(MYSQL_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        url = (
            sa.make_url(MYSQL_ADMIN)
            .set(drivername=f"mysql+{driver}", database=name)
            .render_as_string(hide_password=False)
        )
        yield f"{url}?charset=utf8mb4"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@contextmanager
def stub_glance(log: pathlib.Path) -> Iterator[int]:
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "stub_glance.py"), "--image-id", IMAGE_ID],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.isdigit():
            raise RuntimeError(f"stub glance did not start: {line!r}; see {log}")
        yield int(line)
    finally:
        api_bench.stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def register_image_service(keystone: devkeystone.Keystone, url: str) -> None:
    """Glance (the stub at `url`) in the catalog, public and internal."""
    token = keystone.admin_token()
    created = devkeystone.call(
        "POST",
        f"{keystone.url}/services",
        {"service": {"type": "image", "name": "glance", "enabled": True}},
        token=token,
    )
    service_id = devkeystone._ok(created, 201)["service"]["id"]
    for interface in ("public", "internal"):
        body = {
            "endpoint": {
                "service_id": service_id,
                "interface": interface,
                "url": url,
                "region_id": devkeystone.REGION,
            }
        }
        answer = devkeystone.call("POST", f"{keystone.url}/endpoints", body, token=token)
        devkeystone._ok(answer, 201)


# --- the upstream server ---------------------------------------------------------------
WSGI_ENTRY = """\
import os
import sys

# magnum.wsgi.api parses sys.argv with oslo.config at import: gunicorn's must not be seen
sys.argv = [sys.argv[0], "--config-file", os.environ["MAGNUM_UPSTREAM_CONF"]]
from magnum.wsgi.api import application  # noqa: E402
"""


def upstream_conf(
    tmp: pathlib.Path, port: int, database: str, keystone: devkeystone.Keystone
) -> str:
    auth = keystone.authtoken_options()
    authtoken = "".join(f"{k} = {v}\n" for k, v in auth.items())
    service_auth = "".join(
        f"{k} = {auth[k]}\n"
        for k in (
            "auth_url",
            "auth_type",
            "username",
            "password",
            "project_name",
            "user_domain_id",
            "project_domain_id",
        )
    )
    return (
        "[DEFAULT]\n"
        "debug = false\n"
        f"log_file = {tmp / 'magnum.log'}\n"
        "use_stderr = false\n"
        f"state_path = {tmp / 'state'}\n"
        "host = upstream-bench\n"
        "transport_url = fake:/\n"
        "graceful_shutdown_timeout = 5\n"
        "[api]\n"
        "host = 127.0.0.1\n"
        f"port = {port}\n"
        f"api_paste_config = {tmp / 'api-paste.ini'}\n"
        "[database]\n"
        f"connection = {database}\n"
        "max_overflow = -1\n"
        "[keystone_authtoken]\n"
        f"{authtoken}"
        "[keystone_auth]\n"
        f"{service_auth}"
        "[certificates]\n"
        "cert_manager_type = x509keypair\n"
        "[cinder]\n"
        "default_boot_volume_size = 10\n"
        "[oslo_messaging_notifications]\n"
        "driver = noop\n"
        "[oslo_concurrency]\n"
        f"lock_path = {tmp / 'locks'}\n"
        "[capi_helm]\n"
        f"kubeconfig_file = {tmp / 'no-management-cluster.kubeconfig'}\n"
    )


@contextmanager
def upstream(
    venv: pathlib.Path,
    tmp: pathlib.Path,
    keystone: devkeystone.Keystone,
    workers: int,
    driver: str = DRIVERS[0],
) -> Iterator[tuple[str, int, list[int]]]:
    """Upstream's API (see the module) on a fresh MariaDB database; yields host, port,
    [gunicorn master pid]."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "state").mkdir(exist_ok=True)
    (tmp / "locks").mkdir(exist_ok=True)
    port = api_bench.free_port()
    paste = (venv / "etc" / "magnum" / "api-paste.ini").read_text()
    paste = paste.replace("/etc/magnum/healthcheck_disable", str(tmp / "healthcheck_disable"))
    (tmp / "api-paste.ini").write_text(paste)
    (tmp / "magnum_upstream_wsgi.py").write_text(WSGI_ENTRY)
    with mysql_database("magnum_upstream_bench", driver) as database:
        conf = tmp / "magnum.conf"
        conf.write_text(upstream_conf(tmp, port, database, keystone))
        env = os.environ | {"PYTHONWARNINGS": "ignore", "MAGNUM_UPSTREAM_CONF": str(conf)}
        migrated = subprocess.run(
            [str(venv / "bin" / "magnum-db-manage"), "--config-file", str(conf), "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrated.returncode != 0:
            raise RuntimeError(
                f"upstream magnum-db-manage upgrade failed:\n{migrated.stderr[-3000:]}"
            )
        with open(tmp / "gunicorn.log", "wb") as log:
            proc = subprocess.Popen(
                [
                    str(venv / "bin" / "gunicorn"),
                    "--chdir",
                    str(tmp),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(workers),
                    "--threads",
                    "1",
                    "--worker-class",
                    "sync",
                    "--timeout",
                    "60",
                    "--graceful-timeout",
                    "5",
                    "--no-control-socket",
                    "magnum_upstream_wsgi:application",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            api_bench.wait_http(port, proc, timeout=60)
            yield "127.0.0.1", port, [proc.pid]
        finally:
            api_bench.stop(proc)


# --- measuring -------------------------------------------------------------------------
def tree(pid: int) -> list[int]:
    """`pid` and its descendants (gunicorn's master and workers)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            for task in pathlib.Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _kb(path: str, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in pathlib.Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of the tree in MB: RSS counts the pages the workers share with their
    master (forked) once per process, PSS divides them among the sharers."""
    pids = tree(pid)
    rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
    pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
    return rss / 1024, pss / 1024


class RssSampler:
    """The largest RSS of a process tree, sampled every `interval` s while in the block."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0.0  # RSS
        self.peak_pss = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rss, pss = memory_mb(self.pid)
        self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)

    def _run(self) -> None:
        while True:
            self._sample()
            if self._done.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._sample()


Result = dict[str, Any]


def measure_side(
    args: argparse.Namespace, host: str, port: int, api_pid: int, ops: dict[str, api_bench.Op]
) -> dict[str, Result]:
    out: dict[str, Result] = {}
    for name in SCENARIOS:
        cpu0, client0 = api_bench.cpu_seconds([api_pid]), time.process_time()
        with RssSampler(api_pid) as rss:
            res = api_bench.run_load(
                host,
                port,
                ops[name],
                concurrency=args.concurrency,
                warmup=args.warmup,
                duration=args.duration,
            )
        wall = args.warmup + args.duration
        res["cpu"] = (api_bench.cpu_seconds([api_pid]) - cpu0) / wall
        res["client_cpu"] = (time.process_time() - client0) / wall  # this process: the load
        res["rss"], res["pss"] = rss.peak, rss.peak_pss
        out[name] = res
    return out


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _raise_interrupt(signum: int, frame: Any) -> NoReturn:
    del frame
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="API workers of each side")
    parser.add_argument(
        "--driver",
        choices=DRIVERS,
        default=DRIVERS[0],
        help="the MariaDB driver of both sides: mysqlclient (C, the default) or PyMySQL",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _raise_interrupt)

    venv, took, installed = ensure_upstream_venv()
    how = "installed" if installed else "cached, checked"
    print(f"upstream venv {venv}: {how} in {took:.1f} s", flush=True)

    tmp_root = pathlib.Path(tempfile.mkdtemp(prefix="magnum-upstream-bench-"))
    ok = False
    try:
        with contextlib.ExitStack() as stack:
            t0 = time.monotonic()
            keystone = stack.enter_context(devkeystone.Keystone(tmp_root / "keystone"))
            glance_port = stack.enter_context(stub_glance(tmp_root / "stub_glance.log"))
            register_image_service(keystone, f"http://127.0.0.1:{glance_port}")
            api_bench.HEADERS["X-Auth-Token"] = devkeystone.password_token(
                keystone.url, devkeystone.persona(PROJECT, "member"), project=PROJECT
            )
            servers = {
                "upstream": stack.enter_context(
                    upstream(venv, tmp_root / "upstream", keystone, args.workers, args.driver)
                ),
                "ours": stack.enter_context(
                    _ours(tmp_root / "ours", keystone, args.workers, args.driver)
                ),
            }
            version = api_bench.COLLECTIONS[COLLECTION]
            for side, (host, port, _) in servers.items():
                _check_create(side, host, port, version)
            ops = {
                side: api_bench._scenarios(host, port, COLLECTION, version, template_body)
                for side, (host, port, _) in servers.items()
            }
            print(f"both up and seeded in {time.monotonic() - t0:.1f} s", flush=True)
            rounds = _run_rounds(args, servers, ops)
            after = {side: memory_mb(pids[0]) for side, (_, _, pids) in servers.items()}
            end_load = loadavg()
        for side in SIDES:  # the servers' own words on the answers that failed
            if any(r[side][n]["errors"] for r in rounds for n in SCENARIOS):
                _print_errors(side, tmp_root / side)
        ok = True
    finally:
        if ok:
            shutil.rmtree(tmp_root, ignore_errors=True)
        else:
            print(f"logs kept in {tmp_root}", file=sys.stderr)
    _report(args, rounds, after, end_load)
    return 0


def _print_errors(side: str, state: pathlib.Path) -> None:
    """The distinct ERROR lines (timestamps and request ids left out) of a side's logs."""
    seen: collections.Counter[str] = collections.Counter()
    for log in sorted(state.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if " ERROR " in line:
                seen[re.sub(r"^\S+ \S+ \d+ |\[req-[^]]*\] |req-[0-9a-f-]{36}", "", line)] += 1
    print(f"\n{side}'s ERROR lines, by count ({len(seen)} distinct):")
    for line, count in seen.most_common(8):
        print(f"  {count:6d}  {line[:300]}")


def _check_create(side: str, host: str, port: int, version: dict[str, str]) -> None:
    """One template POST and DELETE, saying why when it fails (seeding only asserts)."""
    client = api_bench.Http(host, port)
    try:
        status, data = client.call("POST", f"/v1/{COLLECTION}", template_body("probe"), version)
        if status != 201:
            raise RuntimeError(f"{side}: POST /v1/{COLLECTION} answered {status}: {data[:2000]!r}")
        created = json.loads(data)["uuid"]
        status, data = client.call("DELETE", f"/v1/{COLLECTION}/{created}", None, version)
        if status != 204:
            raise RuntimeError(f"{side}: DELETE answered {status}: {data[:2000]!r}")
    finally:
        client.close()


@contextmanager
def _ours(
    tmp: pathlib.Path, keystone: devkeystone.Keystone, workers: int, driver: str
) -> Iterator[tuple[str, int, list[int]]]:
    tmp.mkdir(parents=True)
    with (
        mysql_database("magnum_ours_bench", driver) as database,
        api_bench.multi(tmp, workers, keystone, database=database, extra_conf=OURS_CONF) as server,
    ):
        yield server


def _run_rounds(
    args: argparse.Namespace,
    servers: dict[str, tuple[str, int, list[int]]],
    ops: dict[str, dict[str, api_bench.Op]],
) -> list[dict[str, Any]]:
    rounds: list[dict[str, Any]] = []
    for r in range(args.rounds):
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        record: dict[str, Any] = {"load_before": loadavg(), "order": order}
        print(f"\nround {r + 1}/{args.rounds}: {' then '.join(order)}, load {loadavg()}")
        for side in order:
            host, port, pids = servers[side]
            record[side] = measure_side(args, host, port, pids[0], ops[side])
            for name in SCENARIOS:
                res = record[side][name]
                print(
                    f"  {side:<8} {name:<11} {res['ops']:8.1f} ops/s  p50 {res['p50']:7.2f}  "
                    f"p99 {res['p99']:7.2f} ms  errors {res['errors']:.0f}  "
                    f"srv CPU {res['cpu']:.2f}  client CPU {res['client_cpu']:.2f}  "
                    f"RSS {res['rss']:.0f} MB (PSS {res['pss']:.0f})"
                    + (f"  failing answers {res['failures']}" if res["failures"] else ""),
                    flush=True,
                )
        record["load_after"] = loadavg()
        line = "  ratio    " + "  ".join(
            f"{name} {record['ours'][name]['ops'] / record['upstream'][name]['ops']:.1f}x"
            for name in SCENARIOS
        )
        print(f"{line}   load {record['load_after']}", flush=True)
        rounds.append(record)
    return rounds


def _mem(results: list[Result]) -> str:
    return f"{max(r['rss'] for r in results):.0f} ({max(r['pss'] for r in results):.0f})"


def _fmt(res: Result) -> str:
    return f"{res['ops']:.1f} ({res['p50']:.1f}/{res['p99']:.1f})"


def _report(
    args: argparse.Namespace,
    rounds: list[dict[str, Any]],
    after: dict[str, tuple[float, float]],
    load: str,
) -> None:
    print(
        f"\n### Upstream Magnum {UPSTREAM_VERSION} vs ours, Keystone on both\n\n"
        f"c={args.concurrency}, {args.duration:g} s measured after {args.warmup:g} s warm-up, "
        f"{len(rounds)} rounds alternating which side goes first; both on "
        f"/v1/{COLLECTION} with 100 templates, a project member's token; "
        f"{args.workers} API workers each, MariaDB; {os.cpu_count()} CPUs shared by client, "
        f"Keystone and both servers. Cells: ops/s (p50/p99 ms) per round, separated by ' · '; "
        f"post+delete ops are pairs. RSS: peak of gunicorn master + workers in MB, sampled "
        f"every 0.5 s (PSS, shared pages divided among the processes, in parentheses).\n"
    )
    print("| scenario | upstream | ours | ratio per round | server RSS upstream / ours |")
    print("|---|---|---|---|---|")
    for name in SCENARIOS:
        ups = [r["upstream"][name] for r in rounds]
        ours = [r["ours"][name] for r in rounds]
        ratios = [o["ops"] / u["ops"] for o, u in zip(ours, ups, strict=True)]
        print(
            f"| {name} | {' · '.join(_fmt(u) for u in ups)} | {' · '.join(_fmt(o) for o in ours)} "
            f"| {' · '.join(f'{x:.1f}x' for x in ratios)} "
            f"| {_mem(ups)} / {_mem(ours)} |"
        )
    (up_rss, up_pss), (our_rss, our_pss) = after["upstream"], after["ours"]
    memory = f"{up_rss:.0f} ({up_pss:.0f}) / {our_rss:.0f} ({our_pss:.0f})"
    print(f"| after the last round | | | | {memory} |")
    errors = {side: sum(r[side][n]["errors"] for r in rounds for n in SCENARIOS) for side in SIDES}
    loads = "; ".join(
        f"round {i}: {r['load_before'].split()[0]} → {r['load_after'].split()[0]}"
        for i, r in enumerate(rounds, 1)
    )
    failing = {side: collections.Counter[str]() for side in SIDES}
    for r in rounds:
        for side in SIDES:
            for n in SCENARIOS:
                failing[side].update(r[side][n]["failures"])
    print(
        f"\nerrors (failed operations, left out of ops/s and latency): "
        f"upstream {errors['upstream']:.0f} {dict(failing['upstream'])}, "
        f"ours {errors['ours']:.0f} {dict(failing['ours'])}"
    )
    print(f"load average (1 min) at each round's start → end: {loads}; at the end (1/5/15) {load}")
    print("\nIssue 13's targets (least ratio over the rounds):")
    for name in SCENARIOS:
        least = min(r["ours"][name]["ops"] / r["upstream"][name]["ops"] for r in rounds)
        verdict = "met" if least >= TARGET_RATIO[name] else "NOT met"
        print(f"  {name:<11} >= {TARGET_RATIO[name]:.0f}x: {least:.1f}x  {verdict}")
    worst_p99 = max(r["ours"]["get"]["p99"] for r in rounds)
    verdict = "met" if worst_p99 < TARGET_GET_P99_MS else "NOT met"
    print(f"  get p99 < {TARGET_GET_P99_MS:.0f} ms: worst {worst_p99:.2f} ms  {verdict}")
    peak = {s: max(r[s][n]["rss"] for r in rounds for n in SCENARIOS) for s in SIDES}
    share = peak["ours"] / peak["upstream"]
    pss = {s: max(r[s][n]["pss"] for r in rounds for n in SCENARIOS) for s in SIDES}
    verdict = "met" if share <= 0.5 else "NOT met"
    print(
        f"  RSS <= half of upstream's: peak {share:.2f} of upstream's  {verdict} "
        f"(PSS: {pss['ours'] / pss['upstream']:.2f})"
    )
    print(f"  (median ratios: {_medians(rounds)})")


def _medians(rounds: list[dict[str, Any]]) -> str:
    parts = []
    for name in SCENARIOS:
        ratios = [r["ours"][name]["ops"] / r["upstream"][name]["ops"] for r in rounds]
        parts.append(f"{name} {statistics.median(ratios):.1f}x")
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
