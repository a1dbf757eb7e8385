# SPDX-License-Identifier: Apache-2.0
"""The launcher notes its own pid before it execs the program: a daemon whose starter dies
right after the fork (a conductor SIGKILLed mid-build) is still found by its pid file."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from magnum.drivers.infra.local import host, spawn


def _launch(pidfile: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", spawn.JOIN_CGROUPS, "sh", pidfile, "--", *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )


def test_the_launcher_notes_the_pid_the_program_keeps(tmp_path: pathlib.Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    # the program prints its own pid and what the pid file held when it began
    done = _launch(str(pidfile), "sh", "-c", 'echo $$; cat "$0"', str(pidfile))
    own, noted = done.stdout.split()
    assert own == noted
    assert host.read_pid(pidfile) == int(own)
    assert list(tmp_path.iterdir()) == [pidfile]  # written aside, then renamed


def test_without_a_pid_file_nothing_is_written(tmp_path: pathlib.Path) -> None:
    done = _launch("", "sh", "-c", "pwd; echo ok")
    assert done.stdout.split()[-1] == "ok"
    assert list(tmp_path.iterdir()) == []


def test_start_notes_the_pid_in_the_pid_file(tmp_path: pathlib.Path) -> None:
    pidfile = tmp_path / "sleeper.pid"
    up = tmp_path / "up"
    program = f"import pathlib, time; pathlib.Path({str(up)!r}).touch(); time.sleep(30)"
    pid = spawn.start(
        [sys.executable, "-c", program], cgroup_procs=(), log=tmp_path / "log", pidfile=pidfile
    )
    try:
        assert host.read_pid(pidfile) == pid
        host.wait_for("the program to run", lambda: up.exists() or None, timeout=10)
        assert host.read_pid(pidfile) == pid  # the launcher noted the same pid
        assert host.pid_alive(pid)
    finally:
        host.kill({pid})
        spawn.reap(pid)
    assert not host.pid_alive(pid)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log", "sleeper.pid", "up"]
