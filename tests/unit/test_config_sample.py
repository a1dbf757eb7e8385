# SPDX-License-Identifier: Apache-2.0
"""The committed sample configuration is what magnum-config-sample generates today."""

from __future__ import annotations

import pathlib

from magnum.cli import configsample

SAMPLE = pathlib.Path(__file__).resolve().parents[2] / "etc" / "magnum" / "magnum.conf.sample"


def test_committed_sample_is_current() -> None:
    rendered = configsample.render()
    assert "[api]" in rendered and "max_limit" in rendered
    assert SAMPLE.read_text(encoding="utf-8") == rendered, (
        "etc/magnum/magnum.conf.sample is stale: run "
        "`magnum-config-sample etc/magnum/magnum.conf.sample`"
    )
