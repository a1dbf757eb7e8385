# SPDX-License-Identifier: Apache-2.0
"""magnum-api: the WSGI application under gunicorn, [api] workers x [api] threads.

The master only reads the configuration and watches its workers; each worker imports and
builds the application after the fork. So the master stays small (gunicorn and
oslo.config, about 30 MB) instead of holding a third copy of everything a worker holds."""

from __future__ import annotations

import sys
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers import gthread

from magnum.cli import common


def make_app(argv: list[str]) -> Any:
    """Build the WSGI app in the current process (called in each worker after fork)."""
    from magnum.api import app as api_app  # noqa: PLC0415 - a worker's, not the master's
    from magnum.common import rpc  # noqa: PLC0415

    conf = common.load_conf(argv)
    app = api_app.build(conf, common.database(conf), rpc.transport(conf))
    common.settle_heap()
    return app


def _write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error (an HTML page) in Magnum's `{"errors": [...]}` shape."""
    del reason
    from magnum.cli import httpserver  # noqa: PLC0415 - imported by init_process already

    gunicorn_util.write_nonblock(sock, httpserver.error_response(status_int, mesg))


class Worker(gthread.ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, answering the errors gunicorn itself finds (a bad request
    line, an oversize URL or header, a malformed chunk) in Magnum's shape."""

    def init_process(self) -> None:
        # The one place gunicorn writes those answers; this process is the worker's own.
        from magnum.cli import httpserver  # noqa: F401, PLC0415 - ready before a request

        gunicorn_util.write_error = _write_error
        super().init_process()


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
        self.cfg.set("worker_class", Worker)
        self.cfg.set("limit_request_line", api.max_request_line)
        self.cfg.set("limit_request_field_size", api.max_header_size)
        self.cfg.set("limit_request_fields", api.max_header_count)
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
