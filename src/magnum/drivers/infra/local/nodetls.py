# SPDX-License-Identifier: Apache-2.0
"""A node's TLS material and its TLS front (tlsfront.py): written, started, reloaded.

The node's <state>/tls directory holds ca.pem (what the node trusts: the bay's CA
certificates and their CRLs), cert.pem and key.pem (its server certificate). The front
runs in the node's network namespace and cgroup (so the node's teardown kills it with
everything else), in its own session, with a pid file in the node's run directory. A
change of the files takes effect on SIGHUP; `reload` waits until the front reports the
files' digest as loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence

from magnum.common import exceptions, pki
from magnum.drivers.infra.local import dockerd, host, spawn, tlsfront

MODULE = "magnum.drivers.infra.local.tlsfront"
START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 15.0
RESIGNAL = 1.0  # seconds between SIGHUPs while a reload has not shown up


def pidfile(layout: dockerd.Layout) -> pathlib.Path:
    return layout.run / "tlsfront.pid"


def _log(layout: dockerd.Layout) -> pathlib.Path:
    return layout.state / "tlsfront.log"


def argv(layout: dockerd.Layout, address: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        MODULE,
        "--listen",
        f"{address}:{dockerd.TLS_PORT}",
        "--upstream",
        str(layout.socket),
        "--tls-dir",
        str(layout.tls),
    ]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def running_pid(layout: dockerd.Layout) -> int | None:
    pid = host.read_pid(pidfile(layout))
    return pid if pid is not None and host.pid_alive(pid) else None


# --- the files --------------------------------------------------------------------
def _write(path: pathlib.Path, data: bytes, *, private: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.touch(mode=0o600 if private else 0o644)
    tmp.write_bytes(data)
    tmp.replace(path)


def write_trust(layout: dockerd.Layout, trust: bytes) -> bool:
    """Make ca.pem `trust`; whether it changed."""
    path = layout.tls / "ca.pem"
    with contextlib.suppress(OSError):
        if path.read_bytes() == trust:
            return False
    layout.tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(path, trust)
    return True


def write_server_cert(
    layout: dockerd.Layout,
    *,
    ca_key: bytes,
    ca_cert: bytes,
    hostname: str,
    address: str,
    extra_addresses: Sequence[str],
) -> None:
    """A new key and server certificate from the CA (key decrypted). The key is written
    first: the front loads the pair on its next reload only."""
    key, cert = pki.issue_server_cert(
        ca_key, ca_cert, hostname=hostname, address=address, extra_addresses=extra_addresses
    )
    layout.tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(layout.tls / "key.pem", key, private=True)
    _write(layout.tls / "cert.pem", cert)


def server_cert_issued_by(layout: dockerd.Layout, ca_cert: bytes) -> bool:
    try:
        return pki.issued_by((layout.tls / "cert.pem").read_bytes(), ca_cert)
    except OSError:
        return False


# --- the front --------------------------------------------------------------------
def ensure(
    layout: dockerd.Layout,
    *,
    netns: str,
    address: str,
    cgroup_procs: list[pathlib.Path],
    probe: str | None = None,
) -> int:
    """Make sure the node's front runs with the files as they are now; its pid. It is
    found answering at `probe` (where the host reaches the node; default `address`)."""
    wanted = argv(layout, address)
    pid = running_pid(layout)
    if pid is not None and _cmdline(pid) != wanted:
        stop(layout)
        pid = None
    fresh = pid is None
    if pid is None:
        pid = _start(layout, netns=netns, argv=wanted, cgroup_procs=cgroup_procs)
    reload(layout, pid, node=layout.state.name, fresh=fresh, timeout=START_TIMEOUT)

    def accepts() -> bool:
        if not host.pid_alive(pid):
            raise exceptions.NodeStartFailed(
                reason=f"the TLS front of node {layout.state.name} exited: {_log_tail(layout)}"
            )
        try:
            with socket.create_connection((probe or address, dockerd.TLS_PORT), timeout=0.5):
                return True
        except OSError:
            return False

    host.wait_for(f"the TLS front of node {layout.state.name}", accepts, timeout=START_TIMEOUT)
    return pid


def _start(
    layout: dockerd.Layout, *, netns: str, argv: list[str], cgroup_procs: list[pathlib.Path]
) -> int:
    layout.run.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (layout.tls / "loaded.json").unlink()
    return spawn.start(
        argv,
        cgroup_procs=cgroup_procs,
        log=_log(layout),
        prefix=("nsenter", f"--net=/run/netns/{netns}", "--"),
        pidfile=pidfile(layout),
    )


def loaded(layout: dockerd.Layout) -> dict[str, str | None]:
    try:
        data = json.loads((layout.tls / "loaded.json").read_text())
    except (OSError, ValueError):
        return {"digest": None, "error": None}
    return {"digest": data.get("digest"), "error": data.get("error")}


def _stamp(layout: dockerd.Layout) -> tuple[int, int] | None:
    try:
        st = (layout.tls / "loaded.json").stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ino


def reload(
    layout: dockerd.Layout,
    pid: int | None = None,
    *,
    node: str,
    fresh: bool = False,
    timeout: float = RELOAD_TIMEOUT,
) -> None:
    """Have the front load the files as they are now (SIGHUP; a `fresh` front, just
    started, loads them by itself), and wait until it reports them loaded. Raises
    ClusterOperationFailed when it cannot load them, exits or does not answer."""
    pid = pid if pid is not None else running_pid(layout)
    if pid is None:
        raise exceptions.ClusterOperationFailed(reason=f"The TLS front of node {node} is down.")
    want = tlsfront.digest(layout.tls)
    before = _stamp(layout)
    deadline = time.monotonic() + timeout
    signalled = 0.0
    pause = threading.Event()
    while True:
        state = loaded(layout)
        if state["digest"] == want:
            return
        if state["error"] and _stamp(layout) != before:
            raise exceptions.ClusterOperationFailed(
                reason=f"The TLS front of node {node} refused its new files: {state['error']}"
            )
        if not host.pid_alive(pid):
            raise exceptions.ClusterOperationFailed(
                reason=f"The TLS front of node {node} exited: {_log_tail(layout)}"
            )
        now = time.monotonic()
        if now > deadline:
            raise exceptions.ClusterOperationFailed(
                reason=f"The TLS front of node {node} did not load its files within {timeout:.0f}s."
            )
        # Signals are repeated: one that came while the front was reading is not lost.
        # Never to a fresh front: SIGHUP before its handler is set would end it.
        if not fresh and now - signalled >= RESIGNAL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)
            signalled = now
        pause.wait(host.POLL)


def stop(layout: dockerd.Layout) -> None:
    pid = host.read_pid(pidfile(layout))
    if pid is not None and _cmdline(pid)[1:3] == ["-m", MODULE]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if pid is not None:
        reap(pid)
    with contextlib.suppress(FileNotFoundError):
        pidfile(layout).unlink()


def reap(pid: int) -> None:
    spawn.reap(pid)


def _log_tail(layout: dockerd.Layout, lines: int = 3) -> str:
    try:
        text = _log(layout).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"
