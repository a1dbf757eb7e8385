# SPDX-License-Identifier: Apache-2.0
"""magnum-policy-sample: write etc/magnum/policy.yaml.sample, every default rule with its
documentation, as `oslopolicy-sample-generator --config-file
etc/magnum/magnum-policy-generator.conf` does."""

from __future__ import annotations

import pathlib
import sys
import tempfile

from oslo_config import cfg
from oslo_policy import generator


def render() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "policy.yaml.sample"
        generator.generate_sample(
            ["--namespace", "magnum", "--output-file", str(out)], conf=cfg.ConfigOpts()
        )
        return out.read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        pathlib.Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
