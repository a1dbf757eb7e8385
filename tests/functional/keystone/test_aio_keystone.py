# SPDX-License-Identifier: Apache-2.0
"""`magnum-aio --keystone`, as a newcomer runs it: a Keystone starts beside the API, the
printed OS_* lines work as pasted with `openstack coe` (the catalog finds the API), the
projects are apart, and SIGTERM stops both."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import signal
import subprocess
import urllib.error

import pytest

from magnum.cli import devkeystone
from tests.functional.test_magnumclient import VENV_BIN, Lines
from tests.functional.test_modern_clients import FAKE_CONF, _env

MODERN = pathlib.Path(VENV_BIN).parents[1] / ".venv-modern" / "bin"
KEYSTONE_LINE = re.compile(r"Keystone at (http://127\.0\.0\.1:\d+/v3)")
EXPORT = re.compile(r"^\s*export (.*)$")
pytestmark = [
    pytest.mark.keystone,
    pytest.mark.slow,
    pytest.mark.skipif(not (MODERN / "openstack").exists(), reason=".venv-modern is missing"),
]


def _openstack(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(MODERN / "openstack"), *args],
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def test_aio_keystone_prints_lines_that_work(tmp_path: pathlib.Path) -> None:
    if why := devkeystone.missing(devkeystone.default_venv()):
        pytest.skip(f"no Keystone: {why}")
    conf = tmp_path / "magnum.conf"
    conf.write_text(FAKE_CONF)
    argv = [str(VENV_BIN / "magnum-aio"), "--keystone", "--bind", "127.0.0.1:0"]
    argv += ["--state-dir", str(tmp_path / "state"), "--config-file", str(conf)]
    with (tmp_path / "aio.log").open("w") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    lines = Lines(proc.stdout)
    try:
        keystone_url = lines.wait_for(KEYSTONE_LINE, timeout=90).group(1)
        exports: dict[str, dict[str, str]] = {}
        while len(exports) < len(devkeystone.PROJECTS) * len(devkeystone.PERSONAS):
            line = lines.wait_for(EXPORT, timeout=10).group(1)
            env = dict(word.split("=", 1) for word in shlex.split(line))
            exports[env["OS_USERNAME"]] = env
        assert {e["OS_AUTH_URL"] for e in exports.values()} == {keystone_url}
        alpha, beta = exports["alpha-member"], exports["beta-reader"]
        _openstack(
            alpha,
            *("coe", "cluster", "template", "create", "t1", "--coe", "swarm"),
            *("--image", "fedora-atomic", "--external-network", "public"),
        )
        listed = json.loads(_openstack(alpha, "coe", "cluster", "template", "list", "-f", "json"))
        assert [t["name"] for t in listed] == ["t1"]
        assert (
            json.loads(_openstack(beta, "coe", "cluster", "template", "list", "-f", "json")) == []
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        rest = "".join(lines.rest(timeout=5))
        proc.stdout.close()
    assert rc == 0 and "magnum-aio: stopped" in rest, (tmp_path / "aio.log").read_text()
    with pytest.raises(urllib.error.URLError):  # its Keystone stopped with it
        devkeystone.DIRECT.open(keystone_url, timeout=5)
