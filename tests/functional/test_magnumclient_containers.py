# SPDX-License-Identifier: Apache-2.0
"""The real python-magnumclient 2.1.0 drives containers on a real bay of `magnum-aio`
(local infrastructure and Swarm drivers). Needs root and docker.io; skipped otherwise."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from magnum import conf as magnum_conf
from tests.functional.hostcheck import REALHOST, remove_leftover_clusters, skip_unless_possible
from tests.functional.test_magnumclient import CLIENT_PYTHON, Lines, run_script, started_aio

pytestmark = [
    *REALHOST,
    pytest.mark.skipif(
        not CLIENT_PYTHON.exists(),
        reason=".venv-client is missing: run scripts/setup to install python-magnumclient 2.1.0",
    ),
]
SCRIPT = pathlib.Path(__file__).with_name("magnumclient_containers_script.py")


@pytest.fixture
def aio(tmp_path: pathlib.Path) -> Iterator[tuple[str, subprocess.Popen[str], Lines]]:
    skip_unless_possible()
    run = pathlib.Path(f"/run/mgn-k{uuid.uuid4().hex[:8]}")
    state = tmp_path / "state"
    conf = tmp_path / "magnum.conf"
    conf.write_text(
        "[conductor]\n"
        "enabled_infra_drivers = local\n"
        "enabled_coe_drivers = swarm\n"
        "container_sync_interval = 1\n"
        "[local]\n"
        f"run_dir = {run}\n"
    )
    try:
        with started_aio(tmp_path, state, conf) as running:
            yield running
    finally:
        leftover = magnum_conf.load(
            [],
            config_files=[str(conf)],
            overrides={"DEFAULT": {"state_path": str(state)}},
        )
        remove_leftover_clusters(leftover)


def test_magnumclient_drives_containers(aio: tuple[str, subprocess.Popen[str], Lines]) -> None:
    url, proc, lines = aio
    out = run_script(SCRIPT, url, timeout=300)

    assert out["bay"] == "CREATE_COMPLETE", out
    c = out["create"]
    assert (c["name"], c["image"], c["memory"], c["status"]) == (
        "c1",
        "local/busybox:latest",
        "64m",
        "Stopped",
    ), c
    assert c["host"] in ("node-0", "node-1")
    assert out["list"] == [c]
    assert out["list_bay"] == [c["uuid"]]
    assert out["show"] == c
    assert out["actions"] == [
        ["start", 200, None, "Running"],
        ["pause", 200, None, "Paused"],
        ["unpause", 200, None, "Running"],
        ["reboot", 200, None, "Running"],
        ["stop", 200, None, "Stopped"],
        ["start", 200, None, "Running"],
    ]
    assert out["logs"].splitlines() == ["hello"] * 3, out["logs"]
    assert out["execute"] == "hi from $HOSTNAME\n"  # no shell: argv as given
    assert out["execute_hostname"] == f"{c['uuid']}\n"
    assert out["pause_stopped"]["error"] == "Conflict", out["pause_stopped"]
    assert "is not running" in out["pause_stopped"]["details"]
    assert out["missing_image"]["error"] == "BadRequest"
    assert "Image nope/missing:1 is not available in bay" in out["missing_image"]["details"]
    assert out["bad_memory"]["error"] == "BadRequest"
    assert "memory" in out["bad_memory"]["details"]
    assert out["delete"] == "ok"
    assert out["list_after_delete"] == []
    assert out["show_deleted"]["error"] == "NotFound"
    assert out["bay_deleted"] == "gone"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert any("magnum-aio: stopped" in line for line in lines.rest(timeout=5))
