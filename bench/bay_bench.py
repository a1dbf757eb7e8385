# SPDX-License-Identifier: Apache-2.0
"""Real bays: the service against the same steps done by hand, in the same run.

Starts `magnum-aio` (a subprocess, real local + swarm drivers, its own state and run dirs)
and measures, through the HTTP API, POST /v1/bays → CREATE_COMPLETE and DELETE → 404 for
1+2 and 1+9 bays; then runs bench/byhand_bay.sh (the same steps without the service:
netns, bridge, veth, cgroups, dockerd with TLS, busybox load, swarm init/join, all Ready,
fast delete) for the same sizes. Prints median/min/max, the service/by-hand ratio (goal
≤ 1.2) and memory per idle node (node cgroups after IDLE seconds; goal < 50 MB).

    sudo .venv/bin/python bench/bay_bench.py [--runs-small 5] [--runs-large 3] [--idle 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
BYHAND = ROOT / "bench" / "byhand_bay.sh"
HEADERS = {"Content-Type": "application/json", "X-Auth-Token": "bench", "X-Project-Id": "bench"}
CGROUP_MEMORY = pathlib.Path("/sys/fs/cgroup/memory")
POLL = 0.02


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=HEADERS)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def until(what: str, probe: Any, timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while (result := probe()) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        pause.wait(POLL)
    return result


def start_aio(work: pathlib.Path) -> tuple[subprocess.Popen[str], str, pathlib.Path]:
    run = pathlib.Path(f"/run/mgn-b{uuid.uuid4().hex[:8]}")
    conf = work / "magnum.conf"
    conf.write_text(
        "[conductor]\nenabled_infra_drivers = local\nenabled_coe_drivers = swarm\n"
        f"[local]\nrun_dir = {run}\n"
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


def node_memory(cluster_uuid: str) -> tuple[float, float]:
    """Per node of the bay: cgroup memory.usage_in_bytes and total_rss, in MB (means)."""
    cluster_dir = CGROUP_MEMORY / "magnum" / cluster_uuid.replace("-", "")[:10]
    nodes = [d for d in cluster_dir.iterdir() if d.is_dir()]
    usage = sum(int((d / "memory.usage_in_bytes").read_text()) for d in nodes)
    rss = 0
    for d in nodes:
        for line in (d / "memory.stat").read_text().splitlines():
            if line.startswith("total_rss "):
                rss += int(line.split()[1])
    return usage / len(nodes) / 2**20, rss / len(nodes) / 2**20


def service_run(
    api: str, model: str, workers: int, idle: float
) -> tuple[float, float, tuple[float, float] | None, list[tuple[float, str]]]:
    """One bay through the API: create seconds, delete seconds, idle memory, progress log."""
    started = time.monotonic()
    status, cluster = call(
        f"{api}/bays", "POST", {"baymodel_id": model, "node_count": workers, "master_count": 1}
    )
    if status != 201:
        raise SystemExit(f"POST /v1/bays: {status} {cluster}")
    uuid_ = cluster["uuid"]
    progress: list[tuple[float, str]] = []

    def settled() -> dict[str, Any] | None:
        _, body = call(f"{api}/bays/{uuid_}")
        reason = body.get("status_reason") or body["status"]
        if not progress or progress[-1][1] != reason:
            progress.append((time.monotonic() - started, reason))
        return None if body["status"].endswith("IN_PROGRESS") else body

    body = until(f"bay {uuid_} to settle", settled)
    create_s = time.monotonic() - started
    if body["status"] != "CREATE_COMPLETE":
        raise SystemExit(f"bay {uuid_}: {body['status']}: {body['status_reason']}")
    memory = None
    if idle:
        threading.Event().wait(idle)
        memory = node_memory(uuid_)
    started = time.monotonic()
    status, _ = call(f"{api}/bays/{uuid_}", "DELETE")
    if status != 204:
        raise SystemExit(f"DELETE: {status}")
    gone = f"{api}/bays/{uuid_}"
    until(f"bay {uuid_} to be gone", lambda: True if call(gone)[0] == 404 else None)
    return create_s, time.monotonic() - started, memory, progress


def byhand_run(workers: int, lab: pathlib.Path, tar: pathlib.Path, idle: float) -> dict[str, float]:
    done = subprocess.run(
        [str(BYHAND), str(workers), str(lab), str(tar), str(idle)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"byhand_bay.sh failed: {done.stderr}")
    return {k: float(v) for k, v in (line.split("=") for line in done.stdout.split())}


def stats(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.2f}s  min {min(values):6.2f}s  "
        f"max {max(values):6.2f}s  (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-small", type=int, default=5, help="runs of the 1+2 bay")
    parser.add_argument("--runs-large", type=int, default=3, help="runs of the 1+9 bay")
    parser.add_argument("--idle", type=float, default=5.0, help="idle seconds before memory")
    parser.add_argument("--show-progress", action="store_true", help="status_reason timeline")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces, cgroups, dockerd)")
    sizes = [(2, args.runs_small), (9, args.runs_large)]
    work = pathlib.Path(tempfile.mkdtemp(prefix="bay-bench-"))
    sys.path.insert(0, str(ROOT / "src"))
    from magnum.drivers.infra.local import image  # noqa: PLC0415

    tar = work / "busybox.tar"
    tar.write_bytes(image.archive("/bin/busybox"))
    proc, api, run = start_aio(work)
    results: dict[str, dict[int, dict[str, list[float]]]] = {"service": {}, "byhand": {}}
    try:
        status, model = call(
            f"{api}/baymodels",
            "POST",
            {
                "name": "bench",
                "coe": "swarm",
                "image_id": "fedora-atomic",
                "keypair_id": "default",
                "external_network_id": "public",
                "flavor_id": "m1.small",
            },
        )
        if status != 201:
            raise SystemExit(f"POST /v1/baymodels: {status} {model}")
        # Interleave service and by-hand runs so both see the same host conditions.
        for workers, runs in sizes:
            svc = results["service"].setdefault(workers, {"create": [], "delete": [], "mem": []})
            hand = results["byhand"].setdefault(workers, {"create": [], "delete": [], "mem": []})
            for i in range(runs):
                idle = args.idle if i == 0 else 0.0
                c, d, mem, progress = service_run(api, model["uuid"], workers, idle)
                svc["create"].append(c)
                svc["delete"].append(d)
                if mem:
                    svc["mem"] += [mem[0], mem[1]]
                if args.show_progress:
                    print(
                        f"  service 1+{workers} run {i + 1}: "
                        + ", ".join(f"{t:.2f}s {r}" for t, r in progress)
                    )
                h = byhand_run(workers, work / "byhand", tar, idle)
                hand["create"].append(h["create_s"])
                hand["delete"].append(h["delete_s"])
                if "mem_cg_usage_mb" in h:
                    hand["mem"] += [h["mem_cg_usage_mb"], h["mem_cg_rss_mb"]]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)

    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"bay benchmark: {cpus} CPUs, load average {load:.1f} at the end")
    for workers, _ in sizes:
        svc, hand = results["service"][workers], results["byhand"][workers]
        print(f"\n1+{workers} bay ({workers + 1} nodes)")
        for what in ("create", "delete"):
            s, h = statistics.median(svc[what]), statistics.median(hand[what])
            print(f"  {what:6} service  {stats(svc[what])}")
            print(f"  {what:6} by hand  {stats(hand[what])}")
            print(f"  {what:6} ratio service/by-hand (medians): {s / h:.2f}x")
        if svc["mem"]:
            print(
                f"  memory per idle node after {args.idle:.0f}s: service cgroup usage "
                f"{svc['mem'][0]:.1f} MB, rss {svc['mem'][1]:.1f} MB; by hand usage "
                f"{hand['mem'][0]:.1f} MB, rss {hand['mem'][1]:.1f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
