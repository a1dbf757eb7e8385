# SPDX-License-Identifier: Apache-2.0
"""Starting this package's own helper processes (the bay's API forwarder, each node's TLS
front) in their cgroups, and reaping them once killed.

The launcher joins the cgroups it is given, then execs the helper: the pid recorded is the
helper's own, and /proc/<pid>/cmdline names it. Nothing is interpolated into the script.
"""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
import threading
from collections.abc import Mapping, Sequence

import magnum
from magnum.drivers.infra.local import host

JOIN_CGROUPS = f"""
set -e
{host.RECORD_PID}
while [ "$1" != "--" ]; do echo $$ > "$1"; shift; done
shift
exec "$@"
"""
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Helpers started by this process, kept so that they can be reaped once killed (a Popen
# dropped while its child runs would leave a zombie behind).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_CHILDREN_LOCK = threading.Lock()


def start(
    argv: Sequence[str],
    *,
    cgroup_procs: Sequence[pathlib.Path],
    log: pathlib.Path,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    pidfile: pathlib.Path | None = None,
) -> int:
    """Run `argv` (a module of this package: `sys.executable -m ...`, with this source tree
    on its path) after `prefix` (e.g. nsenter into a namespace), in the cgroups whose
    cgroup.procs files are `cgroup_procs`, its output appended to `log`. Returns its pid.
    `env` replaces the environment (PATH is kept) for a program that is not ours. The pid
    is noted in `pidfile`, by the launcher itself too (host.RECORD_PID)."""
    launch = [
        *prefix,
        "sh",
        "-c",
        JOIN_CGROUPS,
        "sh",
        str(pidfile or ""),
        *map(str, cgroup_procs),
        "--",
        *argv,
    ]
    src = str(pathlib.Path(magnum.__file__).resolve().parents[1])
    with log.open("ab") as out:
        proc = subprocess.Popen(
            launch,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": _PATH, "PYTHONPATH": src} if env is None else {"PATH": _PATH, **env},
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
    with _CHILDREN_LOCK:
        _CHILDREN[proc.pid] = proc
    if pidfile is not None:
        host.write_pid(pidfile, proc.pid)
    return proc.pid


def reap(pid: int | None) -> None:
    """Collect a killed helper this process started (nothing for another's)."""
    if pid is None:
        return
    with _CHILDREN_LOCK:
        proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
