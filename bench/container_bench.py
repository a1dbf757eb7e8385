# SPDX-License-Identifier: Apache-2.0
"""Container benchmark on a real bay: create+start through the API against `docker run -d`
directly on the nodes' dockerd, in the same run; then 50 containers created and started
concurrently through the API.

Starts magnum-aio (local infrastructure + Swarm drivers, SQLite, in-process transport) on
127.0.0.1, builds a 1 master + 2 node bay (m1.large nodes), and measures:

  direct   create_container + start with the docker SDK over TLS (a tenant certificate
           from the certificates API) on node-0/node-1 alternately: `docker run -d`
  api      POST /v1/containers + PUT /v1/containers/<uuid>/start (keep-alive HTTP)

N sequential runs of each, interleaved (direct, api, direct, api, ...), every container
`local/busybox:latest sleep 600` under docker-init. Goal: api median and p90 within
1.2 x direct + 30 ms. Then 50 client threads each create+start one container through
the API at once: wall time, errors, placement. Everything is deleted at the end.

Needs root and docker.io. Run:  .venv/bin/python bench/container_bench.py [--n 20] [--concurrent 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from collections import Counter
from collections.abc import Callable
from concurrent import futures
from typing import Any

import docker
import docker.tls

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.functional.hostcheck import (  # noqa: E402
    key_and_csr,
    remove_leftover_clusters,
    write_creds,
)

VENV_BIN = pathlib.Path(sys.executable).parent
IMAGE = "local/busybox:latest"
COMMAND = ["sleep", "600"]
URL_LINE = re.compile(r"magnum-aio: API at http://127\.0\.0\.1:(\d+)/v1")
HEADERS = {
    "X-Auth-Token": "bench",
    "X-Project-Id": "bench",
    "X-User-Id": "bench-user",
    "Accept": "application/json",
    "Content-Type": "application/json",
}


class Api:
    """One keep-alive connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=120
            )
        return conn

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = (
            dict(HEADERS) if data else {k: v for k, v in HEADERS.items() if k != "Content-Type"}
        )
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server closed an idle keep-alive connection: the request never ran.
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            return resp.status, json.loads(raw) if raw else None
        raise AssertionError("unreachable")


def start_aio(tmp: pathlib.Path, run: pathlib.Path) -> tuple[subprocess.Popen[str], int]:
    conf = tmp / "magnum.conf"
    conf.write_text(
        "[conductor]\nenabled_infra_drivers = local\nenabled_coe_drivers = swarm\n"
        f"[local]\nrun_dir = {run}\n"
    )
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "magnum-aio"),
            "--bind",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp / "state"),
            "--config-file",
            str(conf),
        ],
        stdout=subprocess.PIPE,
        stderr=(tmp / "aio.log").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if match := URL_LINE.search(line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
            return proc, int(match.group(1))
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"magnum-aio did not start: {(tmp / 'aio.log').read_text()}")


def wait(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout}s")
        pause.wait(0.2)
    return result


def make_cluster(api: Api) -> dict[str, Any]:
    status, model = api.call(
        "POST",
        "/v1/baymodels",
        {
            "name": "bench",
            "coe": "swarm",
            "image_id": "fedora-atomic",
            "keypair_id": "kp",
            "external_network_id": "public",
            "flavor_id": "m1.large",
        },
    )
    assert status == 201, model
    status, cluster = api.call(
        "POST", "/v1/bays", {"name": "bench", "baymodel_id": model["uuid"], "node_count": 2}
    )
    assert status == 201, cluster

    def settled() -> Any:
        _, body = api.call("GET", f"/v1/bays/{cluster['uuid']}")
        return body if "PROGRESS" not in body["status"] else None

    body = wait("bay create", settled, 180)
    assert body["status"] == "CREATE_COMPLETE", body
    return dict(body)


def tenant_clients(
    api: Api, cluster: dict[str, Any], where: pathlib.Path
) -> list[docker.APIClient]:
    _, ca = api.call("GET", f"/v1/certificates/{cluster['uuid']}")
    key, csr = key_and_csr("bench")
    status, signed = api.call("POST", "/v1/certificates", {"bay_uuid": cluster["uuid"], "csr": csr})
    assert status == 201, signed
    creds = write_creds(where, ca=ca["pem"], cert=signed["pem"], key=key)
    clients = []
    for address in cluster["node_addresses"]:
        tls = docker.tls.TLSConfig(
            ca_cert=str(creds / "ca.pem"),
            verify=True,
            client_cert=(str(creds / "cert.pem"), str(creds / "key.pem")),
        )
        client = docker.APIClient(
            base_url=f"tcp://{address}:2376", tls=tls, version="1.41", timeout=60
        )
        client.trust_env = False
        clients.append(client)
    return clients


def direct_run(client: docker.APIClient) -> str:
    """`docker run -d --init local/busybox:latest sleep 600`."""
    created = client.create_container(
        IMAGE, COMMAND, host_config=client.create_host_config(init=True)
    )
    client.start(created["Id"])
    return str(created["Id"])


def api_run(api: Api, cluster_uuid: str) -> dict[str, Any]:
    status, body = api.call(
        "POST",
        "/v1/containers",
        {"image": IMAGE, "bay_uuid": cluster_uuid, "command": " ".join(COMMAND)},
    )
    if status != 201:
        raise RuntimeError(f"create: {status} {body}")
    status, answer = api.call("PUT", f"/v1/containers/{body['uuid']}/start")
    if status != 200:
        raise RuntimeError(f"start: {status} {answer}")
    return dict(body)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<8} n={len(ms):<3} median {statistics.median(ms):7.1f} ms  "
        f"p90 {pct(ms, 0.9):7.1f} ms  min {min(ms):7.1f} ms  max {max(ms):7.1f} ms"
    )


def bench(
    api: Api, cluster: dict[str, Any], clients: list[docker.APIClient], n: int, parallel: int
) -> None:
    direct: list[float] = []
    through: list[float] = []
    made_direct: list[tuple[docker.APIClient, str]] = []
    made_api: list[str] = []
    for i in range(2):  # warm-up: connections, page cache
        made_direct.append((clients[i % 2], direct_run(clients[i % 2])))
        made_api.append(api_run(api, cluster["uuid"])["uuid"])
    for i in range(n):
        client = clients[i % len(clients)]
        t0 = time.perf_counter()
        made_direct.append((client, direct_run(client)))
        direct.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        made_api.append(api_run(api, cluster["uuid"])["uuid"])
        through.append(time.perf_counter() - t0)
    print(f"sequential create+start, {n} each, interleaved, {IMAGE} {' '.join(COMMAND)}:")
    print(summary("direct", direct))
    print(summary("api", through))
    med_d, med_a = statistics.median(direct), statistics.median(through)
    p90_d, p90_a = pct(direct, 0.9), pct(through, 0.9)
    for label, d, a in (("median", med_d, med_a), ("p90", p90_d, p90_a)):
        goal = 1.2 * d + 0.030
        print(
            f"goal ({label}): api <= 1.2 x direct + 30 ms = {goal * 1000:.1f} ms: "
            f"{a * 1000:.1f} ms -> {'met' if a <= goal else 'MISSED'} "
            f"(overhead {1000 * (a - d):+.1f} ms, ratio {a / d:.2f})"
        )

    for client, cid in made_direct:
        client.remove_container(cid, force=True)
    for cuuid in made_api:
        api.call("DELETE", f"/v1/containers/{cuuid}")

    errors: list[str] = []
    hosts: Counter[str] = Counter()
    barrier = threading.Barrier(parallel)

    def one(_: int) -> float:
        barrier.wait()
        t0 = time.perf_counter()
        try:
            hosts[api_run(api, cluster["uuid"])["host"]] += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(str(exc)[:200])
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with futures.ThreadPoolExecutor(parallel) as pool:
        each = list(pool.map(one, range(parallel)))
    wall = time.perf_counter() - t0
    _, listed = api.call("GET", f"/v1/containers?bay_ident={cluster['uuid']}")
    running = sum(1 for c in listed["containers"] if c["status"] == "Running")
    print(
        f"\n{parallel} concurrent create+start through the API: wall {wall:.2f} s, "
        f"{parallel / wall:.1f} containers/s, errors {len(errors)}"
    )
    print(summary("each", each))
    print(
        f"placement: {dict(sorted(hosts.items()))}; listed {len(listed['containers'])}, "
        f"running {running}"
    )
    for err in errors[:5]:
        print(f"  error: {err}")
    for c in listed["containers"]:
        api.call("DELETE", f"/v1/containers/{c['uuid']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="magnum-cbench-"))
    run = pathlib.Path(f"/run/mgn-b{uuid.uuid4().hex[:8]}")
    proc, port = start_aio(tmp, run)
    api = Api(port)
    cluster: dict[str, Any] | None = None
    try:
        t0 = time.perf_counter()
        cluster = make_cluster(api)
        print(
            "bay 1 master + 2 nodes (m1.large) CREATE_COMPLETE in "
            f"{time.perf_counter() - t0:.1f} s\n"
        )
        clients = tenant_clients(api, cluster, tmp / "creds")
        bench(api, cluster, clients, args.n, args.concurrent)
        for client in clients:
            client.close()
    finally:
        if cluster is not None:
            api.call("DELETE", f"/v1/bays/{cluster['uuid']}")
            wait(
                "bay delete", lambda: api.call("GET", f"/v1/bays/{cluster['uuid']}")[0] == 404, 120
            )
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        import magnum.cli  # noqa: F401, PLC0415 - keeps eventlet's import warning quiet
        from magnum import conf as magnum_conf  # noqa: PLC0415

        conf = magnum_conf.load(
            [],
            config_files=[str(tmp / "magnum.conf")],
            overrides={"DEFAULT": {"state_path": str(tmp / "state")}},
        )
        remove_leftover_clusters(conf)
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
