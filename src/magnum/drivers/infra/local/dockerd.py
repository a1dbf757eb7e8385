# SPDX-License-Identifier: Apache-2.0
"""A node's container engine: its dockerd, configured, started inside the node and
found again later.

dockerd runs behind tini (`docker-init -s`) as a child subreaper, so the shims that
containerd orphans are reaped. The chain is started with `nsenter --net` (not
`ip netns exec`, which remounts /sys and hides the cgroup tree from dockerd), a new
UTS namespace for the node's hostname, and in its own session so that it outlives
the conductor; it is found again through its pid file and socket.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import pathlib
import socket
import subprocess
import threading
from collections.abc import Sequence

from magnum.common import exceptions
from magnum.drivers.infra.local import host

TLS_PORT = 2376
PLAIN_PORT = 2375
SHIM_DIR = "/run/containerd/s/"
SYSTEM_CONTAINERD = pathlib.Path("/run/containerd/containerd.sock")

# The shell that becomes the node's init: join the node cgroups, name the host, then
# exec tini. Arguments are passed positionally; nothing is interpolated into the script.
_LAUNCH = f"""
set -e
{host.RECORD_PID}
hostname "$1"; shift
while [ "$1" != "--" ]; do echo $$ > "$1"; shift; done
shift
exec "$@"
"""

# Daemons started by this process, kept so that they can be reaped once killed
# (a Popen dropped while its child runs would leave a zombie behind).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_CHILDREN_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """Where one node's files live."""

    state: pathlib.Path  # persistent: data root, config, certificates, log
    run: pathlib.Path  # runtime: exec root, socket, pid files

    @property
    def socket(self) -> pathlib.Path:
        return self.run / "docker.sock"

    @property
    def pidfile(self) -> pathlib.Path:
        return self.run / "dockerd.pid"

    @property
    def initpid(self) -> pathlib.Path:
        return self.run / "init.pid"

    @property
    def config(self) -> pathlib.Path:
        return self.state / "daemon.json"

    @property
    def log(self) -> pathlib.Path:
        return self.state / "dockerd.log"

    @property
    def data(self) -> pathlib.Path:
        return self.state / "data"

    @property
    def tls(self) -> pathlib.Path:
        return self.state / "tls"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What the baymodel and the node decide about a daemon."""

    address: str
    bip: str
    cgroup_parent: str
    tls: bool
    # TLS served by dockerd itself, as nodes made before the TLS front (tlsfront.py) do;
    # otherwise dockerd answers on its socket only and the front serves TCP+TLS.
    tls_in_daemon: bool = False
    dns: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    proxy_env: tuple[tuple[str, str], ...] = ()
    insecure_registries: tuple[str, ...] = ()
    # False when the COE networks containers itself (CNI): no bridge, no iptables rules.
    networking: bool = True
    # Further unix sockets to serve on, e.g. the default /run/docker.sock of a node whose
    # /run is its own.
    extra_sockets: tuple[str, ...] = ()


def daemon_config(layout: Layout, settings: Settings) -> dict[str, object]:
    hosts = [f"unix://{layout.socket}", *(f"unix://{p}" for p in settings.extra_sockets)]
    if not settings.tls:
        hosts.append(f"tcp://{settings.address}:{PLAIN_PORT}")
    elif settings.tls_in_daemon:
        hosts.append(f"tcp://{settings.address}:{TLS_PORT}")
    config: dict[str, object] = {
        "data-root": str(layout.data),
        "exec-root": str(layout.run / "exec"),
        "pidfile": str(layout.pidfile),
        "hosts": hosts,
        "cgroup-parent": settings.cgroup_parent,
        "log-level": "warn",
        "labels": list(settings.labels),
    }
    if settings.networking:
        config["bip"] = settings.bip
    else:
        config |= {"bridge": "none", "iptables": False, "ip-masq": False}
    if settings.dns:
        config["dns"] = list(settings.dns)
    if settings.insecure_registries:
        config["insecure-registries"] = list(settings.insecure_registries)
    if settings.tls and settings.tls_in_daemon:
        config |= {
            "tls": True,
            "tlsverify": True,
            "tlscacert": str(layout.tls / "ca.pem"),
            "tlscert": str(layout.tls / "cert.pem"),
            "tlskey": str(layout.tls / "key.pem"),
        }
    return config


def serves_tls_itself(layout: Layout) -> bool:
    """Whether the node's recorded dockerd configuration has dockerd serve TLS (a node made
    before the TLS front)."""
    try:
        return bool(json.loads(layout.config.read_text()).get("tls"))
    except (OSError, ValueError, AttributeError):
        return False


def write_config(layout: Layout, settings: Settings) -> None:
    layout.config.write_text(json.dumps(daemon_config(layout, settings), indent=1))


def check_host() -> None:
    # dockerd 20.10 silently uses a system containerd if its socket exists, which would
    # put every node's containers in one shared containerd outside the node cgroups.
    if SYSTEM_CONTAINERD.exists():
        raise exceptions.ClusterOperationFailed(
            reason=f"{SYSTEM_CONTAINERD} exists: a system containerd is running, and node "
            "daemons would share it. Stop it to use the local driver."
        )


def running_pid(layout: Layout) -> int | None:
    pid = host.read_pid(layout.initpid)
    return pid if pid is not None and host.pid_alive(pid) else None


def start(
    layout: Layout,
    *,
    netns: str,
    hostname: str,
    cgroup_procs: list[pathlib.Path],
    env: dict[str, str],
    dockerd: str,
    docker_init: str,
    enter: Sequence[str] = (),
) -> int:
    """Start the node's daemon chain unless it runs already; return the init pid. `enter`
    is the prefix that runs a program inside the node when it has a holder (holder.py);
    otherwise the chain gets the node's network and a UTS namespace of its own."""
    if (pid := running_pid(layout)) is not None:
        return pid
    layout.run.mkdir(parents=True, exist_ok=True)
    argv = [
        *(enter or ("nsenter", f"--net=/run/netns/{netns}", "--", "unshare", "--uts", "--")),
        "sh",
        "-c",
        _LAUNCH,
        "sh",
        str(layout.initpid),
        hostname,
        *map(str, cgroup_procs),
        "--",
        docker_init,
        "-s",
        "--",
        dockerd,
        "--config-file",
        str(layout.config),
    ]
    with layout.log.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    with _CHILDREN_LOCK:
        _CHILDREN[proc.pid] = proc
    host.write_pid(layout.initpid, proc.pid)
    return proc.pid


def reap(pid: int) -> None:
    """Collect the exit status of a killed daemon chain we started (no zombie left)."""
    with _CHILDREN_LOCK:
        proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def _ping(sock: pathlib.Path) -> bool:
    conn = _UnixHTTPConnection(str(sock))
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=2)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(2)
        self.sock.connect(self._path)


def log_tail(layout: Layout, lines: int = 5) -> str:
    try:
        text = layout.log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def wait_ready(layout: Layout, *, node: str, init_pid: int, timeout: float) -> None:
    """Poll the node's socket until dockerd answers; fail early if the daemon died."""

    def ready() -> bool:
        if not host.pid_alive(init_pid):
            raise exceptions.NodeStartFailed(
                reason=f"dockerd of node {node} exited: {log_tail(layout)}"
            )
        return _ping(layout.socket)

    try:
        host.wait_for(f"dockerd of node {node}", ready, timeout=timeout)
    except exceptions.WaitTimedOut as exc:
        raise exceptions.NodeStartFailed(
            reason=f"dockerd of node {node} did not answer within {timeout:.0f}s: "
            f"{log_tail(layout)}"
        ) from exc


def shim_sockets(pids: set[int]) -> set[str]:
    """containerd shim sockets the node's processes hold (they live in the host-wide
    /run/containerd/s/ and survive a SIGKILL)."""
    found: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in pathlib.Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 8 and fields[7].startswith(SHIM_DIR):
                    found.add(fields[7])
    return found


def remove_sockets(paths: set[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
