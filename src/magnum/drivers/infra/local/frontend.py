# SPDX-License-Identifier: Apache-2.0
"""The stable API address of multi-master bays: one TCP forwarder per bay, its VIP.

A bay with several masters gets `<front>:<API port>` as its API address (e.g.
10.250.3.1:2376): a `magnum.drivers.infra.local.forwarder` process in the bay's router
(network.py) that splices each connection to the first master whose API accepts it
(master-0 first). The front is the gateway of a bay routed from the host, and the
router's external address for a bay on its template's fixed_network; the nodes reach
either. TLS passes through untouched; the masters' server certificates name the front
too (node.py), so clients verify them through the forwarder.

Like the bay registry (registry.py) it runs in its own session and in its own cgroup
below the bay's (`magnum/<bay id>/api`), with a pid file in the bay's run dir, so it
outlives the conductor that started it; a rule in the router's INPUT chain lets its
port in. `ensure` is idempotent: a forwarder that runs with the same backends is kept,
one with other backends is replaced.
"""

from __future__ import annotations

import contextlib
import ipaddress
import pathlib
import shlex
import socket
import sys
from collections.abc import Sequence

from magnum.common import exceptions
from magnum.drivers.infra.local import cgroups, host, network, spawn

CGROUP_NAME = "api"  # never a node name: nodes are master-N and node-N
MODULE = "magnum.drivers.infra.local.forwarder"
MEMORY_MB = 64
START_TIMEOUT = 10.0


def address(plan: network.Plan, port: int) -> str:
    """IP:PORT of the bay's API front."""
    return f"{plan.front_address}:{port}"


def _pidfile(run_dir: pathlib.Path) -> pathlib.Path:
    return run_dir / "api-forwarder.pid"


def _log(state_dir: pathlib.Path) -> pathlib.Path:
    return state_dir / "api-forwarder.log"


def _cgroup(cluster_uuid: str) -> str:
    return cgroups.node_path(network.short_id(cluster_uuid), CGROUP_NAME)


def _comment(cluster_uuid: str) -> str:
    return f"{network.rule_comment(cluster_uuid)} api"


def _argv(listen: str, backends: Sequence[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        MODULE,
        "--listen",
        listen,
        *(a for b in backends for a in ("--backend", b)),
    ]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def running_pid(run_dir: pathlib.Path) -> int | None:
    pid = host.read_pid(_pidfile(run_dir))
    return pid if pid is not None and host.pid_alive(pid) else None


def _listens(pid: int, listen: str) -> bool:
    """Whether the forwarder's namespace has a socket listening at `listen` (read from
    inside: the host itself may not be among the sources the front lets in)."""
    ip, port = listen.rsplit(":", 1)
    want = f"{socket.htonl(int(ipaddress.IPv4Address(ip))):08X}:{int(port):04X}"
    try:
        rows = pathlib.Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(r.split()[1] == want and r.split()[3] == "0A" for r in rows)


def ensure(
    *,
    cluster_uuid: str,
    plan: network.Plan,
    port: int,
    backends: Sequence[str],
    state_dir: pathlib.Path,
    run_dir: pathlib.Path,
    allowed: Sequence[str] = (),
) -> str:
    """Make sure the bay's forwarder runs in front of `backends` (IP:PORT, in order of
    preference); return the IP:PORT it listens on. With `allowed` CIDRs, only
    connections from those reach it (the bay's own network always does). Idempotent."""
    listen = address(plan, port)
    sources = [*allowed, str(plan.subnet)] if allowed else []
    network.router_accept(cluster_uuid, port, _comment(cluster_uuid), sources=sources)
    argv = _argv(listen, backends)
    pid = running_pid(run_dir)
    if pid is not None and _cmdline(pid) != argv:
        _kill(cluster_uuid, run_dir)  # other masters (or another port): start afresh
        pid = None
    if pid is None:
        pid = _start(argv, cluster_uuid=cluster_uuid, state_dir=state_dir, run_dir=run_dir)

    def ready() -> bool:
        if not host.pid_alive(pid):
            raise exceptions.ClusterOperationFailed(
                reason=f"The API forwarder at {listen} exited: {_log_tail(state_dir)}"
            )
        return _listens(pid, listen)

    host.wait_for(f"the API forwarder at {listen}", ready, timeout=START_TIMEOUT)
    return listen


def _start(
    argv: list[str], *, cluster_uuid: str, state_dir: pathlib.Path, run_dir: pathlib.Path
) -> int:
    procs = cgroups.create(_cgroup(cluster_uuid), memory_mb=MEMORY_MB, cpus=1)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return spawn.start(
        argv,
        cgroup_procs=procs,
        log=_log(state_dir),
        prefix=network.in_router(cluster_uuid),
        pidfile=_pidfile(run_dir),
    )


def _log_tail(state_dir: pathlib.Path, lines: int = 3) -> str:
    try:
        text = _log(state_dir).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def _kill(cluster_uuid: str, run_dir: pathlib.Path) -> None:
    rel = _cgroup(cluster_uuid)
    cgroups.kill_all(rel)
    spawn.reap(host.read_pid(_pidfile(run_dir)))
    cgroups.remove(rel)
    with contextlib.suppress(FileNotFoundError):
        _pidfile(run_dir).unlink()


def stop(cluster_uuid: str, *, run_dir: pathlib.Path) -> None:
    """Kill the bay's forwarder and remove its cgroup (its rule goes with the router; a
    bay made before routers had it in the host's INPUT chain). Safe when there is none."""
    _kill(cluster_uuid, run_dir)
    comment = _comment(cluster_uuid)
    for line in host.run("iptables", "-w", "-S", "INPUT", check=False).stdout.splitlines():
        if f'"{comment}"' in line and line.startswith("-A INPUT"):
            host.run("iptables", "-w", "-D", *shlex.split(line)[1:], check=False)
