# SPDX-License-Identifier: Apache-2.0
"""LocalHosts: the COE's own daemons on local nodes (drivers.base.NodeHost).

A daemon runs inside its node (the holder's namespaces, holder.py) and in the node's
cgroup, so the flavor bounds it and the node's teardown kills it, under a supervisor that
starts it again when it exits. Its files and log live
in <node state>/daemons/<name>/, its pid file in the node's run directory. Only nodes
built with private directories (a profile that asks for them) have a holder; a daemon
for any other node is refused.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pathlib
import signal
from collections.abc import Mapping, Sequence

from oslo_config import cfg

from magnum.common import exceptions
from magnum.drivers import base
from magnum.drivers.infra.local import cgroups, cluster, dockerd, holder, host, network, spawn

# The supervisor every daemon runs under, as systemd's Restart=always would: the daemon
# starts again a second after it exits (Kubernetes' components exit on purpose when they
# lose their leader lease or their apiserver). $1 is where it notes the daemon's pid and
# how many times it has exited (and its last status); the daemon is the rest. Everything
# runs in one process group (the supervisor's session), which `stop` kills whole.
_SUPERVISE = """
state="$1"; shift
exits=0
while :; do
  "$@" &
  echo $! > "$state.child"
  wait $!
  code=$?
  exits=$((exits + 1))
  echo "$exits $code" > "$state.exits"
  sleep 1
done
"""
RESTART_DELAY = 1.0

# Node-local forwarding: the node routes for its containers (CNI bridge) and between
# nodes' pod networks; every value is the node's own network namespace's, not the host's.
_FORWARDING = (
    "net.ipv4.ip_forward=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
    "net.bridge.bridge-nf-call-iptables=1",
)


class LocalHosts(base.NodeHost):
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    # --- where things are ---------------------------------------------------------
    def _layout(self, task: base.ClusterTask, node: base.Node) -> dockerd.Layout:
        state_dir, run_dir = cluster.dirs(self.conf, task.cluster.uuid)
        return dockerd.Layout(state=state_dir / node.name, run=run_dir / node.name)

    def _dir(self, task: base.ClusterTask, node: base.Node, name: str) -> pathlib.Path:
        if not name or "/" in name or name.startswith("."):
            raise exceptions.DriverError(reason=f"Bad daemon name {name!r}.")
        return self._layout(task, node).state / "daemons" / name

    def _pidfile(self, task: base.ClusterTask, node: base.Node, name: str) -> pathlib.Path:
        return self._layout(task, node).run / f"daemon-{name}.pid"

    def _pid(self, task: base.ClusterTask, node: base.Node, name: str) -> int | None:
        pid = host.read_pid(self._pidfile(task, node, name))
        return pid if pid is not None and host.pid_alive(pid) else None

    def _holder(self, task: base.ClusterTask, node: base.Node) -> int:
        pid = holder.running_pid(self._layout(task, node))
        if pid is None:
            raise exceptions.NodeUnavailable(
                detail=f"Node {node.name} is down (or was built without private directories, "
                "so it runs no daemons)."
            )
        return pid

    # --- the contract -------------------------------------------------------------
    def daemon_dir(self, task: base.ClusterTask, node: base.Node, name: str) -> str:
        return str(self._dir(task, node, name))

    def start(
        self, task: base.ClusterTask, node: base.Node, daemons: Sequence[base.Daemon]
    ) -> None:
        inside = holder.enter(self._holder(task, node))
        procs = cgroups.procs_files(
            cgroups.node_path(network.short_id(task.cluster.uuid), node.name)
        )
        for daemon in daemons:
            if self._pid(task, node, daemon.name) is not None:
                continue
            where = self._dir(task, node, daemon.name)
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
            for rel, content in daemon.files.items():
                path = where / rel
                if where not in path.resolve().parents:
                    raise exceptions.DriverError(
                        reason=f"Daemon file {rel} is outside its directory."
                    )
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(content.replace(b"{dir}", str(where).encode()))
            argv = [a.replace("{dir}", str(where)) for a in daemon.argv]
            state = self._pidfile(task, node, daemon.name).with_suffix("")
            for suffix in (".child", ".exits"):
                state.with_suffix(suffix).unlink(missing_ok=True)
            spawn.start(
                ["sh", "-c", _SUPERVISE, "sh", str(state), *argv],
                cgroup_procs=procs,
                log=where / "log",
                prefix=inside,
                env=dict(daemon.env),
                pidfile=self._pidfile(task, node, daemon.name),
            )

    def running(self, task: base.ClusterTask, node: base.Node, name: str) -> bool:
        """The daemon runs now (not between an exit and its restart)."""
        if self._pid(task, node, name) is None:
            return False
        child = host.read_pid(self._pidfile(task, node, name).with_suffix(".child"))
        return child is not None and host.pid_alive(child)

    def exits(self, task: base.ClusterTask, node: base.Node, name: str) -> int:
        try:
            text = self._pidfile(task, node, name).with_suffix(".exits").read_text()
            return int(text.split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def log_tail(
        self, task: base.ClusterTask, node: base.Node, name: str, *, lines: int = 3
    ) -> str:
        try:
            text = (self._dir(task, node, name) / "log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def stop(self, task: base.ClusterTask, node: base.Node, name: str) -> None:
        pidfile = self._pidfile(task, node, name)
        pid = self._pid(task, node, name)
        child = host.read_pid(pidfile.with_suffix(".child"))
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):  # the supervisor and its daemon
                os.killpg(pid, signal.SIGKILL)
            spawn.reap(pid)
        left = {p for p in (pid, child) if p is not None}
        host.wait_for(
            f"{name} on {node.name} to exit",
            lambda: not any(host.pid_alive(p) for p in left),
            timeout=10,
        )
        for path in (pidfile, pidfile.with_suffix(".child"), pidfile.with_suffix(".exits")):
            path.unlink(missing_ok=True)

    def set_routes(
        self, task: base.ClusterTask, node: base.Node, routes: Mapping[str, str]
    ) -> None:
        ns = network.netns_name(task.cluster.uuid, node.name)
        if not network.netns_exists(ns):
            raise exceptions.NodeUnavailable(detail=f"Node {node.name} is down.")
        lines = []
        for cidr, via in sorted(routes.items()):
            net = ipaddress.ip_network(cidr)
            lines.append(
                f"route replace {net} via {via}" if via else f"route replace {net} dev eth0"
            )
        host.run("ip", "-n", ns, "-b", "-", input_="\n".join(lines) + "\n")
        host.run("nsenter", f"--net=/run/netns/{ns}", "--", "sysctl", "-q", "-w", *_FORWARDING)
