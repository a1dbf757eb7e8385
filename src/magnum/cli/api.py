# SPDX-License-Identifier: Apache-2.0
"""magnum-api: the WSGI application under gunicorn, [api] workers x [api] threads."""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from magnum.api import app as api_app
from magnum.cli import common
from magnum.common import rpc


def make_app(argv: list[str]) -> Any:
    """Build the WSGI app in the current process (called in each worker after fork)."""
    conf = common.load_conf(argv)
    return api_app.build(conf, common.database(conf), rpc.transport(conf))


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, argv: list[str]) -> None:
        self._argv = argv
        self._conf = common.load_conf(argv)
        super().__init__()

    def load_config(self) -> None:
        api = self._conf.api
        self.cfg.set("bind", f"{api.host}:{api.port}")
        self.cfg.set("workers", api.workers)
        self.cfg.set("threads", api.threads)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("keepalive", 30)
        self.cfg.set("accesslog", None)
        self.cfg.set("proc_name", "magnum-api")

    def load(self) -> Any:
        return make_app(self._argv)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    common.setup_logging()
    _Gunicorn(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
