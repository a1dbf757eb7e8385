# SPDX-License-Identifier: Apache-2.0
"""The README's main job end to end: scripts/demo.py (what scripts/run-aio runs after the
set-up) starts magnum-aio, creates the baymodel and a 1+2 bay with its progress shown,
signs a client certificate, runs a container (Swarm) or a pod (Kubernetes, --coe
kubernetes) on the bay, deletes the bay and stops the service (--exit), leaving nothing of
the bay on the host."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from magnum import conf as magnum_conf
from magnum.cli import aio
from magnum.drivers.infra.local import network
from tests.functional.hostcheck import (
    REALHOST,
    assert_clean,
    remove_leftover_clusters,
    skip_unless_possible,
    snapshot,
)

pytestmark = REALHOST

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 300


def _stop_aio_of(state: pathlib.Path) -> None:
    """SIGKILL a magnum-aio still serving `state` (the demo starts it in its own session)."""
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"magnum-aio") for a in argv) and str(state).encode() in argv:
            os.kill(int(proc.name), signal.SIGKILL)


# what the workload on the bay answers, in the demo's output
SAYS = {
    "swarm": r"^  container says   hello from \S+$",
    "kubernetes": r"^  pod says         hello ",
}


@pytest.mark.parametrize("coe", ["swarm", "kubernetes"])
def test_the_main_job_makes_a_working_bay_and_leaves_nothing(
    tmp_path: pathlib.Path, coe: str
) -> None:
    skip_unless_possible()
    bin_dir = magnum_conf.load([], config_files=[]).kubernetes.bin_dir
    if coe == "kubernetes" and not (pathlib.Path(bin_dir) / "kube-apiserver").exists():
        pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
    state = tmp_path / "state"
    before = snapshot()
    cmd = [sys.executable, str(ROOT / "scripts/demo.py"), "--exit", "--bind", "127.0.0.1:0"]
    cmd += ["--coe", coe]
    try:
        done = subprocess.run(
            [*cmd, "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        _stop_aio_of(state)  # nothing to stop when the demo ended as it should
    out = done.stdout
    found = re.search(r"^bay demo \(([0-9a-f-]{36})\): CREATE_IN_PROGRESS$", out, re.M)
    try:
        assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
        assert found, out[-3000:]
        assert re.search(r"^bay demo: CREATE_COMPLETE: ", out, re.M), out[-3000:]
        assert "[##############################]" in out  # the progress bar reached its end
        assert re.search(r"^  node_addresses   \S+, \S+$", out, re.M), out[-3000:]
        assert re.search(SAYS[coe], out, re.M), out[-3000:]
        assert "timeline (" in out
        assert re.search(r"^bay demo deleted in [\d.]+s", out, re.M), out[-3000:]
        assert out.rstrip().endswith("magnum-aio stopped"), out[-3000:]
    finally:
        if found is None or done.returncode != 0:  # whatever it left, it must not stay
            args, rest = aio.parse(["--bind", "127.0.0.1:0", "--state-dir", str(state)])
            remove_leftover_clusters(aio.settings(args, rest), [found[1]] if found else [])
    tag = network.short_id(found[1])
    assert_clean(before, snapshot, tags=[tag], dirs=(state,))
