# SPDX-License-Identifier: Apache-2.0
"""magnum-aio: the API and a conductor in one process, SQLite and an in-process transport.

The same code as the multi-process deployment, with other settings: state lives
in a per-user data directory, no configuration file is needed, and the API URL is
printed once the server accepts connections.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys
import threading
from typing import Any

import platformdirs

from magnum import conf as magnum_conf
from magnum.api import app as api_app
from magnum.cli import common, httpserver
from magnum.common import rpc
from magnum.conductor import service
from magnum.db import migration

LOG = logging.getLogger(__name__)
LISTEN_BACKLOG = 128


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="magnum-aio", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bind",
        default="127.0.0.1:9511",
        metavar="HOST:PORT",
        help="Where the API listens (port 0 picks a free one).",
    )
    parser.add_argument(
        "--state-dir",
        default=platformdirs.user_data_dir("magnum"),
        help="Directory for the database and bay state.",
    )
    parser.add_argument("--debug", action="store_true")
    return parser.parse_known_args(argv)


def settings(args: argparse.Namespace, rest: list[str]) -> Any:
    state = pathlib.Path(args.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    host, _, port = args.bind.rpartition(":")
    defaults: dict[str, dict[str, object]] = {
        "DEFAULT": {"transport_url": "inproc://", "state_path": str(state), "host": "aio"},
        "database": {"connection": f"sqlite:///{state / 'magnum.sqlite'}"},
        "api": {"host": host or "127.0.0.1", "port": int(port)},
    }
    conf = magnum_conf.load(rest, config_files=[])
    for group, values in defaults.items():  # explicit config files still win over these
        for name, value in values.items():
            conf.set_default(name, value, group=None if group == "DEFAULT" else group)
    return conf


class AllInOne:
    def __init__(self, conf: Any) -> None:
        self.conf = conf
        migration.upgrade(conf.database.connection)
        self.db = common.database(conf)
        self.transport = rpc.transport(conf)
        self.conductor = service.Conductor(conf, self.db, transport=self.transport)
        app = api_app.build(conf, self.db, self.transport)
        self.server = httpserver.Server(
            (conf.api.host, conf.api.port),
            app,
            numthreads=max(conf.api.threads, 8),
            # cheroot's default listen backlog (5) resets clients that connect at once.
            request_queue_size=LISTEN_BACKLOG,
            api=conf.api,
        )
        self._thread = threading.Thread(target=self.server.serve, name="api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.bind_addr[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> None:
        self.conductor.start()
        self.server.prepare()
        self._thread.start()

    def stop(self) -> None:
        self.server.stop()
        self._thread.join(timeout=10)
        self.conductor.stop()
        self.transport.cleanup()
        self.db.dispose()


def main(argv: list[str] | None = None) -> int:
    args, rest = parse(sys.argv[1:] if argv is None else argv)
    common.setup_logging(args.debug)
    aio = AllInOne(settings(args, rest))
    aio.start()
    print(f"magnum-aio: API at {aio.url} (state in {aio.conf.state_path})", flush=True)
    signum = common.wait_for_signal()
    LOG.info("stopping on signal %d", signum)
    aio.stop()
    print("magnum-aio: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
