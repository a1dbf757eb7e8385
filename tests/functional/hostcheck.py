# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the tests that build real bays on this host (local + swarm drivers):
skip when the host cannot, snapshot what a bay could leave behind, TLS docker clients.

Every real-host test carries REALHOST (pytest.mark.slow + one xdist group), so that two
xdist workers never build bays at the same time and a host snapshot taken by one test is
never disturbed by another test's bay.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import docker
import docker.errors
import docker.tls
import pytest
import requests.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from magnum.drivers import base
from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local.driver import LocalInfra
from tests import doubles

# Tests that build real bays on this host. scripts/test runs them in a pass of their own,
# one at a time (xdist_group alone is not applied by every pytest/xdist pairing).
REALHOST = [pytest.mark.slow, pytest.mark.realhost, pytest.mark.xdist_group("realhost")]
REFUSED = (docker.errors.DockerException, requests.exceptions.RequestException)
CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
SHIM_DIR = pathlib.Path("/run/containerd/s")
DAEMONS = (
    "dockerd",
    "containerd",
    "containerd-shim",
    "docker-init",
    "docker-proxy",
    # Kubernetes nodes (comm is cut to 15 characters)
    "etcd",
    "kube-apiserver",
    "kube-controller",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
# Host-wide kernel settings a kubelet would rewrite if it were let (vm.overcommit_memory...),
# and the forwarding switches of the host's own network namespace.
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
)


def skip_unless_possible() -> None:
    """Skip the calling test unless this host can run the local driver."""
    if os.geteuid() != 0:
        pytest.skip("the local driver needs root")
    for tool in ("dockerd", "docker-init", "containerd", "runc", "nsenter", "iptables"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install docker.io iptables)")
    if not pathlib.Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    if pathlib.Path("/run/containerd/containerd.sock").exists():
        pytest.skip("a system containerd is running")


def _out(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def _sysctl(name: str) -> str:
    try:
        return (pathlib.Path("/proc/sys") / name).read_text().strip()
    except OSError:
        return "(none)"


def daemon_processes() -> list[str]:
    """Command lines of node daemons, one per process. A child a daemon has forked but not
    yet exec'd (dockerd running iptables, tini starting dockerd) still shows its parent's
    command line for an instant; it is not a daemon of its own and is left out."""
    rows = []
    for line in _out("ps", "-ww", "-eo", "pid=,ppid=,comm=,args=").splitlines():
        pid, ppid, comm, *args = line.split(None, 3)
        rows.append((pid, ppid, comm, args[0] if args else ""))
    cmdline = {pid: args for pid, _, _, args in rows}
    return sorted(
        args
        for _, ppid, comm, args in rows
        if comm in DAEMONS and " " in args and cmdline.get(ppid) != args
    )


def snapshot(*dirs: pathlib.Path) -> dict[str, Any]:
    """What a bay can leave on the host: namespaces (nodes', routers'), links (veths,
    bridges), FORWARD and INPUT rules, IPv4 routes,
    cgroups below the shared top `magnum` cgroup (which stays) in every hierarchy, mounts
    and files under `dirs`, node daemons (their command lines), loop devices and
    containerd shim sockets."""
    return {
        "netns": sorted(line.split()[0] for line in _out("ip", "netns", "list").splitlines()),
        "links": sorted(line.split()[0] for line in _out("ip", "-br", "link").splitlines()),
        "forward": _out("iptables", "-w", "-S", "FORWARD").splitlines(),
        # the links to the bays' routers: the host's rules and routes for them
        "input": _out("iptables", "-w", "-S", "INPUT").splitlines(),
        "routes": _out("ip", "-4", "route", "show").splitlines(),
        "cgroup_tree": sorted(str(p) for p in CGROUP_ROOT.glob("*/magnum/**")),
        "mounts": [
            m
            for m in pathlib.Path("/proc/self/mounts").read_text().splitlines()
            if any(str(d) in m for d in dirs)
        ],
        "procs": daemon_processes(),
        "shims": sorted(_out("ls", "-A", str(SHIM_DIR)).split()),
        "loops": _out("losetup", "-a").splitlines(),
        # No mount a node makes (kubelet's, docker's, its private tmpfs) is the host's.
        "node_mounts": [
            m
            for m in pathlib.Path("/proc/self/mounts").read_text().splitlines()
            if "kubelet" in m or m.startswith("magnum-") or "/dockershim" in m
        ],
        "sysctls": {name: _sysctl(name) for name in SYSCTLS},
        "files": sorted(str(p) for d in dirs if d.exists() for p in d.rglob("*")),
    }


def without_kept(snap: dict[str, Any], state_root: pathlib.Path) -> dict[str, Any]:
    """The snapshot minus what the service keeps per host on purpose: the base-image cache,
    lock files (and the conductors' incarnation directory), the key secret, the database,
    the API's (empty) upload directory beside the bays."""
    kept = str(state_root)
    uploads = str(state_root.parent / "uploads")
    out = dict(snap)
    out["files"] = [
        p
        for p in snap["files"]
        if not (
            p in (kept, uploads)
            or p.startswith(f"{kept}/images")
            or p.endswith((".lock", "pki.secret", ".sqlite", ".sqlite-journal", "/conductors"))
        )
    ]
    return out


# Keys that name the bay (its short id) in every entry, and keys no entry of which does.
_TAGGED = ("netns", "links", "forward", "input", "routes", "cgroup_tree")
_UNATTRIBUTABLE = ("shims",)


def ours(
    snap: dict[str, Any], tags: Collection[str], dirs: Collection[pathlib.Path]
) -> dict[str, Any]:
    """Only the entries that belong to bays tagged `tags` (bay short ids) or live under
    `dirs`, so that bays of other users of this host do not count. Entries that cannot be
    attributed (shim sockets) are dropped when anyone else has
    bays on this host (see `foreign`)."""
    out = dict(snap)
    for key in _TAGGED:
        out[key] = [e for e in snap[key] if any(t in e for t in tags)]
    for key in ("procs", "loops"):
        out[key] = [e for e in snap[key] if any(str(d) in e for d in dirs)]
    return out


def foreign(snap: dict[str, Any], tags: Collection[str], dirs: Collection[pathlib.Path]) -> bool:
    """Whether the snapshot shows bays or node daemons that are not ours."""
    return any(
        n.startswith("mgn-") and not any(t in n for t in tags) for n in snap["netns"]
    ) or any(not any(str(d) in p for d in dirs) for p in snap["procs"])


def assert_clean(
    before: dict[str, Any],
    take: Callable[[], dict[str, Any]],
    *,
    tags: Collection[str] | None = None,
    dirs: Collection[pathlib.Path] = (),
    timeout: float = 5.0,
) -> None:
    """Take snapshots until one equals `before` (killed processes take a moment to be
    reaped) and fail naming what is left after `timeout`. With `tags`, compare only what
    belongs to those bays and `dirs` (other sessions may build bays on this host)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        after = take()
        a, b = before, after
        if tags is not None:
            shared = foreign(before, tags, dirs) or foreign(after, tags, dirs)
            a, b = ours(before, tags, dirs), ours(after, tags, dirs)
            if shared:
                a = {k: v for k, v in a.items() if k not in _UNATTRIBUTABLE}
                b = {k: v for k, v in b.items() if k not in _UNATTRIBUTABLE}
        leaked = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
        if not leaked:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"host not clean (before, after): {leaked}")
        pause.wait(0.1)


def tls_client(
    address: str,
    ca: pathlib.Path,
    cert: pathlib.Path | None,
    *,
    port: int = 2376,
    timeout: int = 15,
) -> docker.DockerClient:
    """A docker SDK client for tcp://address:port verifying the bay CA `ca/ca.pem`, with the
    client certificate `cert/{cert,key}.pem` (or none)."""
    tls = docker.tls.TLSConfig(
        ca_cert=str(ca / "ca.pem"),
        verify=True,
        client_cert=(str(cert / "cert.pem"), str(cert / "key.pem")) if cert else None,
    )
    client = docker.DockerClient(
        base_url=f"tcp://{address}:{port}", tls=tls, version="1.41", timeout=timeout
    )
    # REQUESTS_CA_BUNDLE (set on this host) would replace the bay CA otherwise.
    client.api.trust_env = False
    return client


def poll(what: str, probe: Callable[[], Any], *, timeout: float, interval: float = 0.05) -> Any:
    """Call `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        pause.wait(interval)


def key_and_csr(common_name: str, organization: str | None = None) -> tuple[bytes, str]:
    """A fresh EC key (PEM, unencrypted) and a CSR for it, as a tenant makes them (with an
    O, which Kubernetes reads as the user's group, if `organization` is given)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        names.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def write_creds(where: pathlib.Path, *, ca: str, cert: str, key: bytes) -> pathlib.Path:
    """docker's layout: ca.pem, cert.pem, key.pem (0600) in `where`."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "ca.pem").write_text(ca)
    (where / "cert.pem").write_text(cert)
    (where / "key.pem").touch(mode=0o600)
    (where / "key.pem").write_bytes(key)
    return where


def remove_leftover_clusters(conf: Any, uuids: Collection[str] = ()) -> None:
    """Remove, with the local driver itself, every bay it still has on disk under `conf`
    (plus `uuids`), then the run dir: a failed test must not leave bays on the host."""
    infra = LocalInfra(conf)
    root = local_cluster.state_root(conf)
    leftovers = set(uuids)
    if root.exists():
        leftovers |= {json.loads(p.read_text())["uuid"] for p in root.glob("*/bay.json")}
    for cluster_uuid in sorted(leftovers):
        # A last-resort teardown: no template, no driver state, just the cluster's uuid.
        cluster = base.ClusterView(
            uuid=cluster_uuid, name=None, project_id="", master_count=1, node_count=0
        )
        infra.delete_cluster(doubles.RecordingTask(cluster))
    shutil.rmtree(conf.local.run_dir, ignore_errors=True)
