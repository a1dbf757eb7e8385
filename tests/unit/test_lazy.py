# SPDX-License-Identifier: Apache-2.0
"""magnum.common.lazy: an API process never imports the drivers' SDKs; a conductor has."""

from __future__ import annotations

import subprocess
import sys

from magnum.common import lazy

CHECK = """
import sys
from magnum.api import app
from magnum.drivers import registry
from magnum import conf
registry.load(conf.load([], config_files=[]))
print(sorted(m for m in ("docker", "kubernetes") if m in sys.modules))
"""


def test_loading_the_api_and_every_driver_imports_no_sdk() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_a_stand_in_reads_as_its_module_and_preload_imports_every_one() -> None:
    json_tool = lazy.module("json.tool")
    sys.modules.pop("json.tool", None)
    lazy.preload()
    assert "json.tool" in sys.modules
    assert json_tool.main is sys.modules["json.tool"].main
