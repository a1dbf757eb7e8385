# SPDX-License-Identifier: Apache-2.0
"""Small host helpers for the local driver: running tools, polling with deadlines,
a host-wide lock, killing pids and unmounting trees."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import TypeVar

from magnum.common import exceptions
from magnum.drivers import waiting

T = TypeVar("T")
POLL = 0.02


def run(
    *argv: str, check: bool = True, input_: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a host tool; a failure becomes BayOperationFailed naming the command."""
    proc = subprocess.run(argv, capture_output=True, text=True, input=input_, check=False)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise exceptions.ClusterOperationFailed(
            reason=f"'{' '.join(argv)}' failed ({proc.returncode}): {' '.join(detail)}"
        )
    return proc


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float) -> T:
    """Poll `probe` until it returns something other than None/False (WaitTimedOut after
    `timeout`)."""
    return waiting.wait_for(what, probe, timeout=timeout, poll=POLL)


@contextlib.contextmanager
def locked(path: pathlib.Path) -> Iterator[None]:
    """A host-wide exclusive lock (flock), e.g. around subnet allocation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_pid(path: pathlib.Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# The first lines of every launcher script: its $1 is a pid file (or ""), where the launcher
# notes its own pid before it execs the program (which keeps that pid). So a daemon whose
# starter is killed right after the fork is still found by the next one to look.
RECORD_PID = """
pidfile="$1"; shift
if [ -n "$pidfile" ]; then echo $$ > "$pidfile.$$"; mv -f "$pidfile.$$" "$pidfile"; fi
"""


def write_pid(path: pathlib.Path, pid: int) -> None:
    """Note `pid` in `path`, atomically (a reader sees the old file or the new one)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(str(pid))
    tmp.replace(path)


def kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def mounts_under(*roots: pathlib.Path) -> list[str]:
    """Mount points at or below any of `roots`, deepest first."""
    prefixes = [str(r.resolve()) for r in roots]
    found = []
    for line in pathlib.Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(*roots: pathlib.Path) -> None:
    # Lazy: a mount may still be held by a process that has not finished dying.
    for point in mounts_under(*roots):
        run("umount", "-l", point, check=False)
