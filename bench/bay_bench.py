# SPDX-License-Identifier: Apache-2.0
"""Real bays: the service against the same steps done by hand, in the same run.

Starts `magnum-aio` (a subprocess, real local + swarm + kubernetes drivers, its own state
and run dirs) and measures, through the HTTP API, for each COE asked (--coe, default
both):

* swarm, 1+2 and 1+9: POST /v1/bays → CREATE_COMPLETE and DELETE → 404, beside
  bench/byhand_bay.sh (netns, bridge, veth, cgroups, dockerd with TLS, busybox load,
  swarm init/join, all Ready, fast delete);
* kubernetes, 1+2 and 1+4: POST /v1/bays → CREATE_COMPLETE, then (still timed from the
  POST) a pod Running as a tenant makes it: the bay CA (GET /v1/certificates/{uuid}), a
  CSR for CN=bench, O=system:masters signed by POST /v1/certificates, a kubeconfig, the
  built kubectl's `run` of busybox:latest (IfNotPresent) until Running; and DELETE → 404;
  beside bench/byhand_k8s.sh (the same steps with openssl, iproute2, nsenter and the same
  binaries and flags, no service).

Service and by-hand runs alternate, so both see the same host conditions. Prints
median/min/max, the service/by-hand ratio (goal ≤ 1.2), milestones of both, and memory
per idle node (node cgroups after IDLE seconds, the first run of each size).

Every bay has a tenant network: a router namespace with NAT and isolation rules
(src/magnum/drivers/infra/local/network.py), which the by-hand scripts do not make. Its
cost is measured on its own as well, beside the runs: the router and the three node
links of a 1+2 bay, made and removed in-process as the driver does (goal: well under
100 ms). --fixed-network CIDR builds the service's bays on that fixed_network (1:1
floating IPs) instead of a routed /24 of the subnet pool.

    sudo .venv/bin/python bench/bay_bench.py [--coe swarm|kubernetes|both] \\
        [--runs-small 5] [--runs-large 3] [--idle 5] [--show-progress] \\
        [--fixed-network 10.254.0.0/24]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
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
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
BYHAND = {"swarm": ROOT / "bench" / "byhand_bay.sh", "kubernetes": ROOT / "bench" / "byhand_k8s.sh"}
SIZES = {"swarm": (2, 9), "kubernetes": (2, 4)}
HEADERS = {"Content-Type": "application/json", "X-Auth-Token": "bench", "X-Project-Id": "bench"}
CGROUP_MEMORY = pathlib.Path("/sys/fs/cgroup/memory")
POLL = {"swarm": 0.02, "kubernetes": 0.1}  # a Kubernetes bay takes seconds of CPU: poll less
MODEL = {
    "image_id": "fedora-atomic",
    "keypair_id": "default",
    "external_network_id": "public",
    "flavor_id": "m1.small",
}
MODELS = {
    "swarm": {"name": "bench", "coe": "swarm", **MODEL},
    "kubernetes": {"name": "bench-k8s", "coe": "kubernetes", "network_driver": "flannel", **MODEL},
}
# Service milestones: the first status_reason matching each, seconds since the POST.
MILESTONES = {
    "kubernetes": (
        ("nodes", re.compile(r"^Control plane starting")),
        # "API up" is followed at once by the first "k/n nodes Ready": either marks it
        ("api", re.compile(r"^API up|^\d+/\d+ nodes Ready")),
        ("ready", re.compile(r"^(\d+)/\1 nodes Ready")),
    ),
    "swarm": (),
}
TIMEOUT = 180.0
RATIO_GOAL = 1.2
USABLE_GOAL = 10.0  # seconds from the POST to a pod Running on a 1+2 Kubernetes bay
POD = "bench"


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=HEADERS)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def until(what: str, probe: Callable[[], Any], poll: float, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while (result := probe()) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        pause.wait(poll)
    return result


def default_k8s_bin() -> str:
    from magnum.conf import kubernetes as k8s_conf  # noqa: PLC0415 - src is on the path by now

    return str(next(o.default for o in k8s_conf.OPTS if o.name == "bin_dir"))


def start_aio(
    work: pathlib.Path, coes: list[str], k8s_bin: str
) -> tuple[subprocess.Popen[str], str, pathlib.Path]:
    run = pathlib.Path(f"/run/mgn-b{uuid.uuid4().hex[:8]}")
    conf = work / "magnum.conf"
    conf.write_text(
        f"[conductor]\nenabled_infra_drivers = local\nenabled_coe_drivers = {', '.join(coes)}\n"
        f"[local]\nrun_dir = {run}\n[kubernetes]\nbin_dir = {k8s_bin}\n"
    )
    log = (work / "aio.log").open("w")
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/magnum-aio"),
            *("--bind", "127.0.0.1:0", "--state-dir", str(work / "state")),
            *("--config-file", str(conf)),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("magnum-aio: API at "):
        proc.kill()
        raise SystemExit(f"magnum-aio did not start: {(work / 'aio.log').read_text()}")
    return proc, line.split()[3], run


def node_memory(cluster_uuid: str) -> dict[str, tuple[float, float]]:
    """Per node of the bay: cgroup memory.usage_in_bytes and total_rss, in MB."""
    cluster_dir = CGROUP_MEMORY / "magnum" / cluster_uuid.replace("-", "")[:10]
    out = {}
    for d in sorted(p for p in cluster_dir.iterdir() if p.is_dir()):
        usage = int((d / "memory.usage_in_bytes").read_text())
        stat = dict(line.split() for line in (d / "memory.stat").read_text().splitlines())
        out[d.name] = (usage / 2**20, int(stat["total_rss"]) / 2**20)
    return out


def mean_memory(nodes: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Means over all nodes (mem_cg_*), and over masters and workers (mem_master_*,
    mem_worker_*), the keys the by-hand scripts print."""
    out = {}
    groups = {
        "cg": list(nodes.values()),
        "master": [v for k, v in nodes.items() if k.startswith("master")],
        "worker": [v for k, v in nodes.items() if not k.startswith("master")],
    }
    for group, values in groups.items():
        if values:
            out[f"mem_{group}_usage_mb"] = statistics.mean(v[0] for v in values)
            out[f"mem_{group}_rss_mb"] = statistics.mean(v[1] for v in values)
    return out


@dataclasses.dataclass
class Run:
    """One bay's numbers (seconds; memory in MB), by either side."""

    create: float
    delete: float
    pod: float | None = None
    milestones: dict[str, float] = dataclasses.field(default_factory=dict)
    memory: dict[str, float] = dataclasses.field(default_factory=dict)
    progress: list[tuple[float, str]] = dataclasses.field(default_factory=list)


def tenant_kubeconfig(api: str, bay: dict[str, Any]) -> str:
    """A kubeconfig for user `bench` in group system:masters: the bay's CA, and a
    certificate that the certificates API signed for our CSR."""
    from cryptography import x509  # noqa: PLC0415 - only the Kubernetes part needs it
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    status, ca = call(f"{api}/certificates/{bay['uuid']}")
    if status != 200:
        raise SystemExit(f"GET /v1/certificates/{bay['uuid']}: {status} {ca}")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "bench"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    status, signed = call(
        f"{api}/certificates",
        "POST",
        {"bay_uuid": bay["uuid"], "csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
    )
    if status != 201:
        raise SystemExit(f"POST /v1/certificates: {status} {signed}")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    def b64(data: str | bytes) -> str:
        return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "bay",
                    "cluster": {
                        "server": bay["api_address"],
                        "certificate-authority-data": b64(ca["pem"]),
                    },
                }
            ],
            "users": [
                {
                    "name": "bench",
                    "user": {
                        "client-certificate-data": b64(signed["pem"]),
                        "client-key-data": b64(key_pem),
                    },
                }
            ],
            "contexts": [{"name": "bay", "context": {"cluster": "bay", "user": "bench"}}],
            "current-context": "bay",
        }
    )


def pod_running(api: str, bay: dict[str, Any], where: pathlib.Path, kubectl: str) -> None:
    """`kubectl run` a busybox pod as the tenant, until the API says it is Running."""
    where.mkdir(parents=True, exist_ok=True)
    config = where / "kubeconfig"
    config.touch(mode=0o600)
    config.write_text(tenant_kubeconfig(api, bay))
    base = [kubectl, f"--kubeconfig={config}", f"--cache-dir={where}/cache"]
    done = subprocess.run(
        [
            *base,
            *("run", POD, "--image=busybox:latest", "--image-pull-policy=IfNotPresent"),
            *("--restart=Never", "--command", "--", "sleep", "3600"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"kubectl run: {done.stderr.strip()}")
    watch = subprocess.Popen(
        [*base, "get", "pod", POD, "-w", "-o", 'jsonpath={.status.phase}{"\\n"}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    timer = threading.Timer(TIMEOUT, watch.kill)
    timer.start()
    phase = ""
    try:
        assert watch.stdout is not None
        for line in watch.stdout:
            phase = line.strip()
            if phase == "Running":
                break
    finally:
        timer.cancel()
        watch.kill()
        watch.wait()
    if phase != "Running":
        raise SystemExit(f"pod {POD} of bay {bay['uuid']} is not Running (last: {phase or '-'})")


class Service:
    """Bays through the API of the magnum-aio under test."""

    def __init__(self, api: str, work: pathlib.Path, kubectl: str) -> None:
        self.api = api
        self.work = work
        self.kubectl = kubectl
        self.models: dict[str, str] = {}
        self.live: set[str] = set()

    def model(self, coe: str) -> str:
        if coe not in self.models:
            status, model = call(f"{self.api}/baymodels", "POST", MODELS[coe])
            if status != 201:
                raise SystemExit(f"POST /v1/baymodels: {status} {model}")
            self.models[coe] = model["uuid"]
        return self.models[coe]

    def run(self, coe: str, workers: int, idle: float, index: int) -> Run:
        """One bay: create (and for kubernetes a pod Running), idle memory, delete."""
        poll = POLL[coe]
        started = time.monotonic()
        status, cluster = call(
            f"{self.api}/bays",
            "POST",
            {"baymodel_id": self.model(coe), "node_count": workers, "master_count": 1},
        )
        if status != 201:
            raise SystemExit(f"POST /v1/bays: {status} {cluster}")
        uuid_ = cluster["uuid"]
        self.live.add(uuid_)
        progress: list[tuple[float, str]] = []

        def settled() -> dict[str, Any] | None:
            _, body = call(f"{self.api}/bays/{uuid_}")
            reason = body.get("status_reason") or body["status"]
            if not progress or progress[-1][1] != reason:
                progress.append((time.monotonic() - started, reason))
            return None if body["status"].endswith("IN_PROGRESS") else body

        body = until(f"bay {uuid_} to settle", settled, poll)
        result = Run(create=time.monotonic() - started, delete=0.0, progress=progress)
        if body["status"] != "CREATE_COMPLETE":
            raise SystemExit(f"bay {uuid_}: {body['status']}: {body['status_reason']}")
        for key, pattern in MILESTONES[coe]:
            seen = [t for t, reason in progress if pattern.search(reason)]
            if seen:
                result.milestones[key] = seen[0]
        if coe == "kubernetes":
            pod_running(self.api, body, self.work / f"kube-{workers}-{index}", self.kubectl)
            result.pod = time.monotonic() - started
        if idle:
            threading.Event().wait(idle)
            result.memory = mean_memory(node_memory(uuid_))
        started = time.monotonic()
        self.delete(uuid_, poll)
        result.delete = time.monotonic() - started
        return result

    def delete(self, uuid_: str, poll: float) -> None:
        status, _ = call(f"{self.api}/bays/{uuid_}", "DELETE")
        if status not in (204, 404):
            raise SystemExit(f"DELETE /v1/bays/{uuid_}: {status}")
        gone = f"{self.api}/bays/{uuid_}"
        until(f"bay {uuid_} to be gone", lambda: True if call(gone)[0] == 404 else None, poll)
        self.live.discard(uuid_)

    def delete_leftovers(self) -> None:
        """Bays a failed run left behind: deleted before the service stops."""
        for uuid_ in sorted(self.live):
            with contextlib.suppress(Exception):
                self.delete(uuid_, 0.2)


def byhand_run(
    coe: str, workers: int, lab: pathlib.Path, tar: pathlib.Path, idle: float, k8s_bin: str
) -> Run:
    proc = subprocess.Popen(
        [str(BYHAND[coe]), str(workers), str(lab), str(tar), str(idle)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "K8S_BIN": k8s_bin},
    )
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the script cleans up after itself on TERM
        out, err = proc.communicate(timeout=60)
        raise SystemExit(f"{BYHAND[coe].name} timed out: {err}") from None
    if proc.returncode != 0:
        raise SystemExit(f"{BYHAND[coe].name} failed: {err}")
    values = {k: float(v) for k, v in (line.split("=") for line in out.split())}
    return Run(
        create=values.pop("create_s"),
        delete=values.pop("delete_s"),
        pod=values.pop("pod_s", None),
        memory={k: v for k, v in values.items() if k.startswith("mem_")},
        milestones={k.removesuffix("_s"): v for k, v in values.items() if k.endswith("_s")},
    )


def stats(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.2f}s  min {min(values):6.2f}s  "
        f"max {max(values):6.2f}s  (n={len(values)})"
    )


def milestones(runs: list[Run], extra: dict[str, Callable[[Run], float | None]]) -> str:
    """Medians of the milestones every run has, in time order."""
    found: dict[str, list[float]] = {}
    for run in runs:
        values = dict(run.milestones)
        for key, get in extra.items():
            if (value := get(run)) is not None:
                values[key] = value
        for key, value in values.items():
            found.setdefault(key, []).append(value)
    medians = {k: statistics.median(v) for k, v in found.items() if len(v) == len(runs)}
    return ", ".join(f"{k} {v:.2f}s" for k, v in sorted(medians.items(), key=lambda kv: kv[1]))


def memory_line(label: str, memory: dict[str, float]) -> str:
    parts = [f"all nodes {memory['mem_cg_usage_mb']:.0f}/{memory['mem_cg_rss_mb']:.0f}"]
    for group in ("master", "worker"):
        if f"mem_{group}_usage_mb" in memory:
            parts.append(
                f"{group} {memory[f'mem_{group}_usage_mb']:.0f}/{memory[f'mem_{group}_rss_mb']:.0f}"
            )
    return f"{label} " + ", ".join(parts)


NETWORK_GOAL = 0.1  # seconds the tenant network may add to a 1+2 create


def network_run(fixed: str | None) -> tuple[float, float, float]:
    """(router, links, remove) seconds of one bay's network as the driver builds it: the
    router with its rules (what tenant networks add), then three nodes' links
    (namespace, veth, address, routes: what every bay had before), then removing both."""
    import ipaddress  # noqa: PLC0415

    from magnum.drivers.infra.local import cluster, host, network  # noqa: PLC0415

    bay = str(uuid.uuid4())
    names = ("master-0", "node-0", "node-1")
    started = time.monotonic()
    with host.locked(cluster.HOST_LOCK):
        used = network.used_networks()
        external = network.pick_subnet(ipaddress.IPv4Network("10.249.0.0/16"), used)
        subnet = (
            ipaddress.IPv4Network(fixed)
            if fixed
            else network.pick_subnet(ipaddress.IPv4Network("10.250.0.0/16"), used)
        )
        plan = network.Plan(subnet=subnet, external=external, fixed=fixed is not None)
        network.ensure_router(bay, plan)
    router = time.monotonic() - started
    started = time.monotonic()
    try:
        for slot, name in enumerate(names, 2):
            network.ensure_node_network(
                ns=network.netns_name(bay, name),
                veth=network.veth_name(bay, slot),
                router=network.router_name(bay),
                address=str(subnet[slot]),
                subnet=subnet,
                routes=(ipaddress.IPv4Network("10.249.0.0/16"),),
            )
        links = time.monotonic() - started
    finally:
        started = time.monotonic()
        for name in names:
            network.delete_node_network(ns=network.netns_name(bay, name), veth=None)
        network.delete_router(bay)
    return router, links, time.monotonic() - started


def report_network(runs: list[tuple[float, float, float]], fixed: str | None) -> None:
    kind = f"fixed_network {fixed}" if fixed else "a routed /24"
    print(f"\ntenant network of a 1+2 bay ({kind}), in-process, as the driver makes it")
    print(f"  router (what tenant networks add)  {stats([r[0] for r in runs])}")
    print(f"  3 node links (as before)           {stats([r[1] for r in runs])}")
    print(f"  remove both                        {stats([r[2] for r in runs])}")
    made = statistics.median(r[0] for r in runs)
    print(
        f"  goal: the router adds < {NETWORK_GOAL * 1000:.0f} ms to a create: median "
        f"{made * 1000:.0f} ms, {'met' if made < NETWORK_GOAL else 'not met'}"
    )


def report(coe: str, workers: int, svc: list[Run], hand: list[Run], idle: float) -> None:
    print(f"\n{coe} 1+{workers} bay ({workers + 1} nodes)")
    columns: list[tuple[str, Callable[[Run], float | None]]] = [
        ("create", lambda r: r.create),
        ("pod", lambda r: r.pod),
        ("delete", lambda r: r.delete),
    ]
    for what, get in columns:
        s = [v for r in svc if (v := get(r)) is not None]
        h = [v for r in hand if (v := get(r)) is not None]
        if not s or not h:
            continue
        print(f"  {what:6} service  {stats(s)}")
        print(f"  {what:6} by hand  {stats(h)}")
        ratio = statistics.median(s) / statistics.median(h)
        goal = f" (goal <= {RATIO_GOAL:.1f}x: {'met' if ratio <= RATIO_GOAL else 'not met'})"
        print(
            f"  {what:6} ratio service/by-hand (medians): {ratio:.2f}x"
            + (goal if what != "delete" else "")
        )
    if coe == "kubernetes":
        extra: dict[str, Callable[[Run], float | None]] = {
            "create": lambda r: r.create,
            "pod": lambda r: r.pod,
        }
        print(f"  milestones (medians, s from the start): service  {milestones(svc, extra)}")
        print(f"  milestones (medians, s from the start): by hand  {milestones(hand, extra)}")
        if workers == 2:
            usable = statistics.median([r.pod for r in svc if r.pod is not None])
            print(
                f"  goal: 1+2 usable (pod Running) in < {USABLE_GOAL:.0f} s: median "
                f"{usable:.2f}s, {'met' if usable < USABLE_GOAL else 'not met'}"
            )
    mem_s = next((r.memory for r in svc if r.memory), None)
    mem_h = next((r.memory for r in hand if r.memory), None)
    if mem_s and mem_h:
        print(f"  memory per idle node after {idle:.0f}s, MB cgroup usage/rss:")
        print(memory_line("    service", mem_s))
        print(memory_line("    by hand", mem_h))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--coe", choices=("swarm", "kubernetes", "both"), default="both", help="bays to measure"
    )
    parser.add_argument("--runs-small", type=int, default=5, help="runs of the 1+2 bays")
    parser.add_argument(
        "--runs-large", type=int, default=3, help="runs of the large bays (swarm 1+9, k8s 1+4)"
    )
    parser.add_argument("--idle", type=float, default=5.0, help="idle seconds before memory")
    parser.add_argument("--show-progress", action="store_true", help="status_reason timeline")
    parser.add_argument(
        "--fixed-network", metavar="CIDR", help="the service's bays on this fixed_network"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces, cgroups, dockerd)")
    coes = ["swarm", "kubernetes"] if args.coe == "both" else [args.coe]
    work = pathlib.Path(tempfile.mkdtemp(prefix="bay-bench-"))
    sys.path.insert(0, str(ROOT / "src"))
    from magnum.drivers.infra.local import image  # noqa: PLC0415

    k8s_bin = default_k8s_bin()
    kubectl = str(pathlib.Path(k8s_bin) / "kubectl")
    if "kubernetes" in coes and not pathlib.Path(kubectl).exists():
        raise SystemExit(f"{kubectl} is missing: run scripts/build-kubernetes")
    tar = work / "busybox.tar"
    tar.write_bytes(image.archive("/bin/busybox"))
    load_start = os.getloadavg()[0]
    loads: list[float] = []
    if args.fixed_network:
        for model in MODELS.values():
            model["fixed_network"] = args.fixed_network
    proc, api, run = start_aio(work, coes, k8s_bin)
    service = Service(api, work, kubectl)
    net_runs: list[tuple[float, float, float]] = []
    results: dict[tuple[str, int], tuple[list[Run], list[Run]]] = {}
    try:
        # Interleave service and by-hand runs so both see the same host conditions.
        for coe in coes:
            for workers, runs in zip(SIZES[coe], (args.runs_small, args.runs_large), strict=True):
                svc, hand = results.setdefault((coe, workers), ([], []))
                for i in range(runs):
                    idle = args.idle if i == 0 else 0.0
                    loads.append(os.getloadavg()[0])
                    s = service.run(coe, workers, idle, i)
                    svc.append(s)
                    if args.show_progress:
                        print(
                            f"  service {coe} 1+{workers} run {i + 1}: "
                            + ", ".join(f"{t:.2f}s {r}" for t, r in s.progress),
                            flush=True,
                        )
                    if workers == SIZES[coe][0]:
                        net_runs.append(network_run(args.fixed_network))
                    h = byhand_run(coe, workers, work / f"byhand-{coe}", tar, idle, k8s_bin)
                    hand.append(h)
                    if args.show_progress:
                        print(
                            f"  by hand {coe} 1+{workers} run {i + 1}: create {h.create:.2f}s"
                            + (f", pod {h.pod:.2f}s" if h.pod is not None else "")
                            + "".join(f", {k} {v:.2f}s" for k, v in h.milestones.items()),
                            flush=True,
                        )
    finally:
        service.delete_leftovers()
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"bay benchmark: {os.cpu_count()} CPUs, load average (1 min) {load_start:.1f} at the "
        f"start, {min(loads):.1f}-{max(loads):.1f} at the runs' starts, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    for (coe, workers), (svc, hand) in results.items():
        if svc and hand:
            report(coe, workers, svc, hand, args.idle)
    if net_runs:
        report_network(net_runs, args.fixed_network)
    return 0


if __name__ == "__main__":
    sys.exit(main())
