# SPDX-License-Identifier: Apache-2.0
"""The main job: start magnum-aio, create a baymodel and a 1+2 bay, show progress.

`--coe swarm` (the default) makes a Docker Swarm bay and runs a container on it;
`--coe kubernetes` makes a Kubernetes bay, writes a kubeconfig from the bay's CA and a
certificate signed by the certificates API, and runs a pod with kubectl. Run through
scripts/run-aio, which sets everything up first. Talks to the service only through its
public HTTP API, exactly as a tenant would.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADERS = {"Content-Type": "application/json", "X-Auth-Token": "demo", "X-Project-Id": "demo"}


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=HEADERS)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def start_aio(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [str(ROOT / ".venv/bin/magnum-aio"), "--bind", args.bind, "--state-dir", args.state_dir]
    if args.config_file:
        cmd += ["--config-file", args.config_file]
    log = open(pathlib.Path(args.state_dir) / "aio.log", "a", encoding="utf-8")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("magnum-aio: API at "):
        proc.kill()
        sys.exit(f"magnum-aio did not start; see {log.name}")
    print(line.strip())
    return proc, line.split()[3]


def bar(done: float, width: int = 30) -> str:
    filled = int(done * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def progress(reason: str, status: str) -> float:
    """Creating nodes is the first third of the bar, forming the cluster the rest: Swarm
    nodes joining, or Kubernetes' control plane starting, its API up, its nodes Ready."""
    if not status.endswith("IN_PROGRESS"):
        return 1.0
    words = reason.split()
    if len(words) >= 3 and "/" in words[0] and words[1] == "nodes":
        done, total = (int(x) for x in words[0].split("/"))
        start, span = {"created": (0.0, 0.35), "joined": (0.35, 0.65), "Ready": (0.8, 0.2)}.get(
            words[2], (0.0, 0.0)
        )
        return start + span * done / total
    for prefix, value in (("Forming", 0.35), ("Control plane", 0.4), ("API up", 0.8)):
        if reason.startswith(prefix):
            return value
    return 0.0


def wait_cluster(api: str, uuid: str) -> dict[str, Any]:
    started = time.monotonic()
    pause = threading.Event()
    frac = 0.0
    while True:
        status, cluster = call(f"{api}/bays/{uuid}")
        if status != 200:
            sys.exit(f"bay vanished: {cluster}")
        reason = cluster["status_reason"] or cluster["status"]
        frac = max(frac, progress(reason, cluster["status"]))
        print(
            f"\r{bar(frac)} {time.monotonic() - started:5.1f}s  {reason[:60]:<60}",
            end="",
            flush=True,
        )
        if not cluster["status"].endswith("IN_PROGRESS"):
            print()
            return dict(cluster)
        pause.wait(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bind", default="127.0.0.1:9511")
    parser.add_argument("--state-dir", default=os.path.expanduser("~/.local/share/magnum"))
    parser.add_argument("--config-file")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--coe", choices=("swarm", "kubernetes"), default="swarm")
    parser.add_argument("--exit", action="store_true", help="delete the bay and stop at the end")
    args = parser.parse_args()
    pathlib.Path(args.state_dir).mkdir(parents=True, exist_ok=True)
    proc, api = start_aio(args)
    # Ctrl-C comes to us alone (the service runs in its own session): the bay is deleted
    # before the service is stopped. Blocked only now, or the child would inherit the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        return run(api, args)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        print("magnum-aio stopped")


def run(api: str, args: argparse.Namespace) -> int:
    name = f"{args.coe}-demo"
    model = {
        "name": name,
        "coe": args.coe,
        "image_id": "fedora-atomic",
        "keypair_id": "default",
        "external_network_id": "public",
        "flavor_id": "m1.small",
        "dns_nameserver": "127.0.0.1",
    }
    if args.coe == "kubernetes":
        model["network_driver"] = "flannel"
    status, _ = call(f"{api}/baymodels/{name}")
    if status == 404:
        status, _ = call(f"{api}/baymodels", "POST", model)
        print(f"baymodel {name}: HTTP {status}")
    status, cluster = call(
        f"{api}/bays",
        "POST",
        {"name": "demo", "baymodel_id": name, "node_count": args.nodes},
    )
    if status != 201:
        print(f"bay create refused: HTTP {status}: {cluster['errors'][0]['detail']}")
        return 1
    print(f"bay demo ({cluster['uuid']}): {cluster['status']}")
    try:
        return show(api, args, cluster["uuid"])
    finally:  # a failure on the way deletes the bay too: the demo leaves nothing behind
        delete_cluster(api, cluster["uuid"])


def show(api: str, args: argparse.Namespace, uuid: str) -> int:
    """The bay once created, its credentials and a workload on it; then, without --exit,
    wait for Ctrl-C (the caller deletes the bay)."""
    cluster = wait_cluster(api, uuid)
    print(f"bay demo: {cluster['status']}: {cluster['status_reason']}")
    if cluster["status"] != "CREATE_COMPLETE":
        return 1
    print(f"  api_address      {cluster['api_address']}")
    print(f"  master_addresses {', '.join(cluster['master_addresses'])}")
    print(f"  node_addresses   {', '.join(cluster['node_addresses'])}")
    print_timeline(api, cluster["uuid"])
    where = pathlib.Path(args.state_dir) / "demo-certs"
    if args.coe == "kubernetes":
        # As `openstack coe cluster config` does: user admin in group system:masters.
        certs = fetch_credentials(api, cluster["uuid"], where, group="system:masters")
        kubeconfig = write_kubeconfig(cluster, certs)
        run_pod(kubeconfig, pathlib.Path(args.state_dir))
        print_kubectl(api, cluster, kubeconfig)
    else:
        certs = fetch_credentials(api, cluster["uuid"], where)
        run_container(cluster, certs)
        print_usage(api, cluster, certs)
    if not args.exit:
        print(f"\nThe service runs at {api}; Ctrl-C deletes the demo bay and stops it.")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


def delete_cluster(api: str, uuid: str) -> None:
    started = time.monotonic()
    call(f"{api}/bays/{uuid}", "DELETE")
    pause = threading.Event()
    while call(f"{api}/bays/{uuid}")[0] != 404:
        if time.monotonic() - started > 120:
            sys.exit(f"bay {uuid} was not deleted within 120 s")
        pause.wait(0.1)
    print(f"bay demo deleted in {time.monotonic() - started:.2f}s (nodes, network, certificates)")
    print_timeline(api, uuid, last=4)


def print_timeline(api: str, uuid: str, *, last: int | None = None) -> None:
    """The bay's events (GET /v1/bays/{uuid}/events), oldest first."""
    status, body = call(f"{api}/bays/{uuid}/events")
    if status != 200:
        print(f"  (no timeline: HTTP {status})")
        return
    events = list(reversed(body["events"]))
    if last is not None:
        events = events[-last:]
    print(f"  timeline ({api}/bays/{uuid}/events):")
    for event in events:
        what = event["message"] or ""
        if event["status"]:
            what = f"{event['status']}: {what}" if what else event["status"]
        if event["error_code"]:
            what += f" [{event['error_code']}]"
        print(f"    {event['created_at'][11:23]}  {event['kind']:<20} {what}")


def fetch_credentials(
    api: str, cluster_uuid: str, where: pathlib.Path, *, group: str | None = None
) -> pathlib.Path:
    """The bay's CA (GET /v1/certificates) and a client certificate signed from our CSR
    (CN=demo, and O=`group`, which Kubernetes reads as the user's group)."""
    from cryptography import x509  # noqa: PLC0415 - only the demo needs these
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    where.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, "demo")]
    if group is not None:  # a NameAttribute refuses None: only made when there is a group
        subject.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, group))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .sign(key, hashes.SHA256())
    )
    _, ca = call(f"{api}/certificates/{cluster_uuid}")
    status, signed = call(
        f"{api}/certificates",
        "POST",
        {"bay_uuid": cluster_uuid, "csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
    )
    if status != 201:
        sys.exit(f"CSR signing refused: {signed}")
    (where / "ca.pem").write_text(ca["pem"])
    (where / "cert.pem").write_text(signed["pem"])
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (where / "key.pem").write_bytes(key_pem)
    (where / "key.pem").chmod(0o600)
    print(f"  credentials      {where}/{{ca,cert,key}}.pem (CA from the API, cert signed by it)")
    return where


def run_container(cluster: dict[str, Any], certs: pathlib.Path) -> None:
    import docker  # noqa: PLC0415

    tls = docker.tls.TLSConfig(
        client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
        ca_cert=str(certs / "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(
        base_url=cluster["api_address"].replace("tcp://", "https://"), tls=tls, version="1.41"
    )
    client.api.trust_env = False  # no proxy CA bundle between us and the bay
    nodes = client.nodes.list()
    print(
        f"  swarm nodes      {', '.join(sorted(n.attrs['Description']['Hostname'] for n in nodes))}"
    )
    out = client.containers.run(
        "local/busybox:latest", ["sh", "-c", "echo hello from $(hostname)"], remove=True
    )
    print(f"  container says   {out.decode().strip()}")


KUBECTL = pathlib.Path("/var/cache/magnum/kubernetes/current/bin/kubectl")


def write_kubeconfig(cluster: dict[str, Any], certs: pathlib.Path) -> pathlib.Path:
    """A kubeconfig naming the bay's API, CA and our signed certificate (what `openstack
    coe cluster config` writes)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "demo",
                "cluster": {
                    "server": cluster["api_address"],
                    "certificate-authority": str(certs / "ca.pem"),
                },
            }
        ],
        "users": [
            {
                "name": "demo",
                "user": {
                    "client-certificate": str(certs / "cert.pem"),
                    "client-key": str(certs / "key.pem"),
                },
            }
        ],
        "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}],
        "current-context": "demo",
    }
    path = certs / "config"
    path.write_text(json.dumps(config, indent=1))
    path.chmod(0o600)
    return path


def run_pod(kubeconfig: pathlib.Path, state: pathlib.Path) -> None:
    kubectl = [str(KUBECTL), f"--kubeconfig={kubeconfig}", f"--cache-dir={state}/kube-cache"]

    def do(*args: str) -> str:
        out = subprocess.run([*kubectl, *args], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout.strip()

    nodes = do("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}")
    print(f"  kubernetes nodes {', '.join(nodes.split())}")
    do(
        "run",
        "hello",
        "--image=busybox:latest",
        "--image-pull-policy=IfNotPresent",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo hello from $(hostname) on the pod network",
    )
    started = time.monotonic()
    pause = threading.Event()
    while (phase := do("get", "pod", "hello", "-o", "jsonpath={.status.phase}")) != "Succeeded":
        if phase == "Failed" or time.monotonic() - started > 60:
            sys.exit(f"pod hello: {phase or 'not started'} after {time.monotonic() - started:.0f}s")
        pause.wait(0.2)
    print(f"  pod says         {do('logs', 'hello')}")
    do("delete", "pod", "hello", "--wait=false")


def print_kubectl(api: str, cluster: dict[str, Any], kubeconfig: pathlib.Path) -> None:
    print(f"""
Use the bay with kubectl (its own CA; user demo in group system:masters):
  export KUBECONFIG={kubeconfig}
  {KUBECTL} get nodes
With the magnum client (python-magnumclient 2.1.0, e.g. .venv-client/bin/python):
  from magnumclient.v1 import client
  mc = client.Client(input_auth_token="demo", magnum_url="{api}")
  mc.bays.get("demo"); mc.certificates.get(bay_uuid="{cluster["uuid"]}")""")


def print_usage(api: str, cluster: dict[str, Any], certs: pathlib.Path) -> None:
    host = cluster["api_address"]
    print(f"""
Use the bay with docker (TLS, the bay's own CA):
  docker --tlsverify --tlscacert {certs}/ca.pem --tlscert {certs}/cert.pem \\
         --tlskey {certs}/key.pem -H {host} node ls
or  export DOCKER_HOST={host} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={certs}
With the magnum client (python-magnumclient 2.1.0, e.g. .venv-client/bin/python):
  from magnumclient.v1 import client
  mc = client.Client(input_auth_token="demo", magnum_url="{api}")
  mc.bays.get("demo"); mc.certificates.get(bay_uuid="{cluster["uuid"]}")""")


if __name__ == "__main__":
    sys.exit(main())
