# SPDX-License-Identifier: Apache-2.0
"""A node's own mount namespace, for COEs whose daemons write fixed host paths.

Kubernetes' kubelet writes /var/lib/kubelet/device-plugins, /var/log/pods, /run/...
whatever its flags say; two kubelets on one host would share (and clean up) each other's
files there. A node whose profile names `private_dirs` therefore gets a *holder*: a
process that sits in the node's network namespace and in a new, privately propagated
mount and UTS namespace, where

  * every mount it inherited from the host is dropped (other bays' namespace pins, their
    docker overlays and volumes), except /, /proc, /sys, /dev and what the node's own
    state and run directories live on (or below them, e.g. its docker volume);
  * each private directory is an empty tmpfs;
  * the node's run directory is bound back at its own path, so the sockets the node's
    daemons make there stay reachable from the host;
  * /dev/kmsg reads as /dev/null: the host's kernel log names other bays' devices, and
    the kubelet's OOM watcher, which reads it, has crashed the kubelet on its lines;
  * with `dns` servers (the template's dns_nameserver), /etc/resolv.conf names them.

Every daemon of the node then enters the holder's namespaces (`nsenter -t <holder> -m -u
-n`); what they mount stays there, is never seen by the host, and vanishes with the node's
last process. The holder itself only sleeps; it is in the node's cgroup, so the node's
teardown (kill every process of the cgroup) ends it too.

A private directory that does not exist on the host is created there, empty, as a mount
point (for Kubernetes only /var/lib/kubelet) and left for the next bay.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from magnum.common import exceptions
from magnum.drivers.infra.local import dockerd, host, spawn

# $1 hostname, $2 state dir, $3 run dir, $4 resolv.conf or "", cgroup.procs files up to
# "--", then private dirs.
_HOLD = """
set -e
name="$1"; state="$2"; run="$3"; resolv="$4"; shift 4
while [ "$1" != "--" ]; do echo $$ > "$1"; shift; done
shift
hostname "$name"
awk '{print $2}' /proc/self/mounts | sort -r | while read -r m; do
  case "$m" in /|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
  case "$state/" in "$m"/*) continue ;; esac
  case "$run/" in "$m"/*) continue ;; esac
  case "$m/" in "$state"/*) continue ;; esac
  umount -l "$m" 2>/dev/null || true
done
mkdir -p "$state/.run-bind" "$run"
mount --bind "$run" "$state/.run-bind"
for d in "$@"; do
  mkdir -p "$d"
  mount -t tmpfs -o mode=0755,size=1g "magnum-$name" "$d"
done
mkdir -p "$run"
mount --move "$state/.run-bind" "$run"
if [ -c /dev/kmsg ]; then mount --bind /dev/null /dev/kmsg; fi
if [ -n "$resolv" ] && [ -f /etc/resolv.conf ]; then mount --bind "$resolv" /etc/resolv.conf; fi
echo ready > "$run/holder.ready"
exec sleep infinity
"""
READY_TIMEOUT = 10.0


def pidfile(layout: dockerd.Layout) -> pathlib.Path:
    return layout.run / "holder.pid"


def running_pid(layout: dockerd.Layout) -> int | None:
    pid = host.read_pid(pidfile(layout))
    return pid if pid is not None and host.pid_alive(pid) else None


def enter(pid: int) -> list[str]:
    """The command prefix that runs a program inside the node (its holder's namespaces)."""
    return ["nsenter", "-t", str(pid), "-m", "-u", "-n", "--"]


def ensure(
    layout: dockerd.Layout,
    *,
    netns: str,
    hostname: str,
    cgroup_procs: Sequence[pathlib.Path],
    private_dirs: Sequence[str],
    dns: Sequence[str] = (),
) -> int:
    """The node's holder, started unless it runs; its pid once its mounts are made. With
    `dns` servers, the node's /etc/resolv.conf names them (and nothing of the host's)."""
    if (pid := running_pid(layout)) is not None:
        return pid
    for d in private_dirs:
        if not d.startswith("/") or any(
            p == pathlib.Path(d) or pathlib.Path(d) in p.parents for p in (layout.state,)
        ):
            raise exceptions.DriverError(
                reason=f"Private directory {d} would hide the node's state."
            )
    layout.run.mkdir(parents=True, exist_ok=True)
    ready = layout.run / "holder.ready"
    ready.unlink(missing_ok=True)
    resolv = ""
    if dns:
        path = layout.state / "resolv.conf"
        path.write_text("".join(f"nameserver {d}\n" for d in dns))
        path.chmod(0o644)
        resolv = str(path)
    pid = spawn.start(
        [
            "sh",
            "-c",
            _HOLD,
            "sh",
            hostname,
            str(layout.state),
            str(layout.run),
            resolv,
            *map(str, cgroup_procs),
            "--",
            *private_dirs,
        ],
        cgroup_procs=(),
        log=layout.state / "holder.log",
        prefix=[
            "nsenter",
            f"--net=/run/netns/{netns}",
            "--",
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "--",
        ],
        pidfile=pidfile(layout),
    )

    def made() -> bool:
        if not host.pid_alive(pid):
            tail = (layout.state / "holder.log").read_text(errors="replace").strip()
            raise exceptions.NodeStartFailed(
                reason=f"The mount namespace of node {hostname} could not be made: "
                f"{' | '.join(tail.splitlines()[-3:]) or '(no output)'}"
            )
        return ready.exists()

    host.wait_for(f"the holder of node {hostname}", made, timeout=READY_TIMEOUT)
    return pid
