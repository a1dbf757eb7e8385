# SPDX-License-Identifier: Apache-2.0
"""magnum-config-sample: write etc/magnum/magnum.conf.sample from the options' help."""

from __future__ import annotations

import io
import sys

from oslo_config import cfg, generator


def render() -> str:
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(
        [
            "--namespace",
            "magnum",
            "--namespace",
            "oslo.messaging",
            "--namespace",
            "oslo.policy",
            "--namespace",
            "keystonemiddleware.auth_token",
            "--wrap-width",
            "79",
        ]
    )
    out = io.StringIO()
    generator.generate(conf, output_file=out)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        with open(args[0], "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
