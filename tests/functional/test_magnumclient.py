# SPDX-License-Identifier: Apache-2.0
"""The real python-magnumclient 2.1.0 against a real `magnum-aio` process.

The client lives in its own venv (.venv-client, made by scripts/setup) because its pins
conflict with ours; tests/functional/magnumclient_script.py runs there and prints JSON.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import IO, Any

import pytest

from magnum import conf as magnum_conf
from tests.functional.hostcheck import remove_leftover_clusters, skip_unless_possible

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = pathlib.Path(sys.executable).parent
CLIENT_PYTHON = REPO / ".venv-client" / "bin" / "python"
SCRIPT = pathlib.Path(__file__).with_name("magnumclient_script.py")
URL_LINE = re.compile(r"magnum-aio: API at (http://127\.0\.0\.1:\d+/v1)")


class Lines:
    """Reads a process's stdout on a thread so the test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match := pattern.search(line):
                return match
        raise AssertionError(f"never printed {pattern.pattern!r}; stdout so far: {self.seen}")

    def rest(self, timeout: float) -> list[str]:
        """Everything up to EOF (the process has exited)."""
        self._thread.join(timeout)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.seen.append(line)
        return self.seen


@pytest.fixture
def aio(tmp_path: pathlib.Path) -> Iterator[tuple[str, subprocess.Popen[str], Lines]]:
    conf = tmp_path / "magnum.conf"
    conf.write_text(
        "[conductor]\n"
        "enabled_infra_drivers = fake\n"
        "enabled_coe_drivers = fakecoe\n"
        "heartbeat_interval = 0.3\n"
        "sync_interval = 0.5\n"
    )
    with started_aio(tmp_path, tmp_path / "state", conf) as running:
        yield running


@contextlib.contextmanager
def started_aio(
    tmp_path: pathlib.Path, state: pathlib.Path, conf: pathlib.Path
) -> Iterator[tuple[str, subprocess.Popen[str], Lines]]:
    """A real magnum-aio on a free port with `conf`; yields its URL, process and stdout.
    Its stderr goes to tmp_path/aio.log, shown when it fails to start."""
    stderr = (tmp_path / "aio.log").open("w")
    argv = [
        str(VENV_BIN / "magnum-aio"),
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        str(state),
        "--config-file",
        str(conf),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    lines = Lines(proc.stdout)
    try:
        try:
            url = lines.wait_for(URL_LINE, timeout=30).group(1)
        except AssertionError:
            proc.kill()
            proc.wait()
            raise AssertionError((tmp_path / "aio.log").read_text()) from None
        yield url, proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lines.rest(timeout=5)
        proc.stdout.close()
        stderr.close()


@contextlib.contextmanager
def real_aio(
    tmp_path: pathlib.Path, tag: str
) -> Iterator[tuple[str, subprocess.Popen[str], Lines, Any]]:
    """A magnum-aio with the real local and swarm drivers (its run directory
    /run/mgn-<tag><random>): yields its URL, process, stdout and configuration, and removes
    whatever bays it leaves behind with the driver itself."""
    skip_unless_possible()
    run = pathlib.Path(f"/run/mgn-{tag}{uuid.uuid4().hex[:8]}")
    state = tmp_path / "state"
    conf_file = tmp_path / "magnum.conf"
    conf_file.write_text(
        "[conductor]\n"
        "enabled_infra_drivers = local\n"
        "enabled_coe_drivers = swarm, kubernetes\n"
        "heartbeat_interval = 0.3\n"
        "sync_interval = 0.5\n"
        f"[local]\nrun_dir = {run}\n"
    )
    # The same settings, for the last-resort cleanup with the driver itself.
    conf = magnum_conf.load(
        ["--config-file", str(conf_file)],
        config_files=[],
        overrides={"DEFAULT": {"state_path": str(state.resolve())}},
    )
    try:
        with started_aio(tmp_path, state, conf_file) as (url, proc, lines):
            yield url, proc, lines, conf
    finally:
        remove_leftover_clusters(conf)


def run_script(script: pathlib.Path, *args: str, timeout: float = 90) -> dict[str, Any]:
    """Run a driver script under the magnumclient 2.1.0 venv; return the JSON it prints."""
    done = subprocess.run(
        [str(CLIENT_PYTHON), str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_client(url: str) -> dict[str, Any]:
    return run_script(SCRIPT, url)


@pytest.mark.skipif(
    not CLIENT_PYTHON.exists(),
    reason=".venv-client is missing: run scripts/setup to install python-magnumclient 2.1.0",
)
def test_magnumclient_bay_lifecycle(aio: tuple[str, subprocess.Popen[str], Lines]) -> None:
    url, proc, lines = aio
    out = run_client(url)

    # baymodels: create / list / show / update (name)
    model = out["baymodel_create"]
    assert model["name"] == "m1"
    assert model["coe"] == "swarm"
    assert model["image_id"] == "fedora-atomic"
    assert model["labels"] == {"purpose": "client-test"}
    assert re.fullmatch(r"[0-9a-f-]{36}", model["uuid"])
    assert out["baymodel_list"] == [{"uuid": model["uuid"], "name": "m1"}]
    assert out["baymodel_show"] == model
    assert out["baymodel_update"] == model | {"name": "m2"}
    assert out["baymodel_show_old_name"]["error"] == "NotFound"
    assert out["baymodel_show_old_name"]["http_status"] == 404

    # bays: create (201 + full object), reach CREATE_COMPLETE, list, show
    cluster = out["bay_create"]
    assert cluster["name"] == "b1"
    assert cluster["baymodel_id"] == model["uuid"]
    assert cluster["status"] == "CREATE_IN_PROGRESS"
    created = out["bay_created"]
    assert created["status"] == "CREATE_COMPLETE", created
    assert created["node_count"] == 1 and created["master_count"] == 1
    assert created["api_address"] == "tcp://10.0.0.2:2376"
    assert len(created["node_addresses"]) == 1
    assert out["bay_list"] == [{"uuid": cluster["uuid"], "name": "b1", "status": "CREATE_COMPLETE"}]
    assert out["bay_show"] == created

    # bay update (node_count) goes through UPDATE_IN_PROGRESS to UPDATE_COMPLETE
    assert out["bay_update"]["node_count"] == 2
    assert out["bay_update"]["status"] == "UPDATE_IN_PROGRESS"
    updated = out["bay_updated"]
    assert updated["status"] == "UPDATE_COMPLETE", updated
    assert updated["node_count"] == 2 and len(updated["node_addresses"]) == 2

    # errors come back as the client's exception classes, with the server's message
    zero = out["bay_create_zero_nodes"]
    assert zero["error"] == "BadRequest" and zero["http_status"] == 400, zero
    assert zero["message"].startswith("Invalid input for field/attribute node_count (HTTP 400)")
    assert zero["details"] == (
        "Invalid input for field/attribute node_count. Value: '0'. "
        "Value should be greater or equal to 1"
    ), zero
    missing = out["bay_show_missing"]
    assert missing["error"] == "NotFound" and missing["http_status"] == 404, missing
    assert "no-such-bay" in missing["message"], missing
    in_use = out["baymodel_delete_in_use"]
    assert in_use["error"] == "BadRequest" and in_use["http_status"] == 400, in_use
    assert model["uuid"] in in_use["message"], in_use

    # deletes
    assert out["bay_delete"] == "ok"
    assert out["bay_deleted"] == {"gone": True}
    assert out["bay_list_after_delete"] == []
    assert out["baymodel_delete"] == "ok"
    assert out["baymodel_list_after_delete"] == []
    assert out["baymodel_show_deleted"]["error"] == "NotFound"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert any("magnum-aio: stopped" in line for line in lines.rest(timeout=5))
