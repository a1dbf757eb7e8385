# SPDX-License-Identifier: Apache-2.0
"""The committed sample policy is what magnum-policy-sample (oslopolicy-sample-generator
--config-file etc/magnum/magnum-policy-generator.conf) generates today."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from magnum.cli import policysample

ETC = pathlib.Path(__file__).resolve().parents[2] / "etc" / "magnum"
SAMPLE = ETC / "policy.yaml.sample"


def test_committed_sample_is_current() -> None:
    rendered = policysample.render()
    assert '#"cluster:get_all_all_projects": "rule:admin_api"' in rendered
    assert '#"bay:get": "rule:cluster:get"' in rendered
    assert SAMPLE.read_text(encoding="utf-8") == rendered, (
        "etc/magnum/policy.yaml.sample is stale: run "
        "`magnum-policy-sample etc/magnum/policy.yaml.sample`"
    )


def test_the_generator_config_writes_the_same(tmp_path: pathlib.Path) -> None:
    """oslopolicy-sample-generator finds the rules by the `magnum` entry point."""
    out = tmp_path / "policy.yaml.sample"
    tool = pathlib.Path(sys.executable).parent / "oslopolicy-sample-generator"
    subprocess.run(
        [
            str(tool),
            "--config-file",
            str(ETC / "magnum-policy-generator.conf"),
            "--output-file",
            str(out),
        ],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert out.read_text(encoding="utf-8") == SAMPLE.read_text(encoding="utf-8")
