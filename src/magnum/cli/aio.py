# SPDX-License-Identifier: Apache-2.0
"""magnum-aio: the API and a conductor in one process, SQLite and an in-process transport.

The same code as the multi-process deployment, with other settings: state lives
in a per-user data directory, no configuration file is needed, and the API URL is
printed once the server accepts connections.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import pathlib
import shlex
import sys
import threading
from typing import Any

import platformdirs

from magnum import conf as magnum_conf
from magnum.api import app as api_app
from magnum.cli import common, devkeystone, httpserver
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
    parser.add_argument(
        "--keystone",
        action="store_true",
        help="Start a throw-away real Keystone beside the API (from .venv-keystone: "
        "scripts/setup makes it), with projects alpha and beta and a reader, member and "
        "admin user in each; authenticate with it (auth_strategy = keystone) and print the "
        "OS_* lines of every user. Without it, noauth: every caller is trusted.",
    )
    parser.add_argument("--debug", action="store_true")
    return parser.parse_known_args(argv)


def settings(
    args: argparse.Namespace, rest: list[str], keystone: devkeystone.Keystone | None = None
) -> Any:
    state = pathlib.Path(args.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    host, _, port = args.bind.rpartition(":")
    defaults: dict[str, dict[str, object]] = {
        "DEFAULT": {"transport_url": "inproc://", "state_path": str(state), "host": "aio"},
        "database": {"connection": f"sqlite:///{state / 'magnum.sqlite'}"},
        "api": {"host": host or "127.0.0.1", "port": int(port)},
    }
    if keystone is not None:
        defaults["api"]["auth_strategy"] = "keystone"
        defaults[magnum_conf.KEYSTONE_GROUP] = keystone.authtoken_options()
    conf = magnum_conf.load(rest, config_files=[])
    if keystone is not None:
        magnum_conf.register_keystone(conf)
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


def os_lines(keystone: devkeystone.Keystone) -> str:
    """The shell lines that make each persona user the current one."""
    lines = []
    for project in devkeystone.PROJECTS:
        for role in devkeystone.PERSONAS:
            env = keystone.os_env(project, role)
            exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
            lines.append(f"  # {role} of project {project}\n  export {exports}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args, rest = parse(sys.argv[1:] if argv is None else argv)
    common.setup_logging(args.debug)
    with contextlib.ExitStack() as stack:
        keystone = None
        if args.keystone:
            state = pathlib.Path(args.state_dir).resolve() / "keystone"
            keystone = stack.enter_context(devkeystone.Keystone(state))
        aio = AllInOne(settings(args, rest, keystone))
        aio.start()
        stack.callback(aio.stop)
        common.settle_heap()
        print(f"magnum-aio: API at {aio.url} (state in {aio.conf.state_path})", flush=True)
        if keystone is not None:
            keystone.register_magnum(aio.url)
            print(
                f"magnum-aio: Keystone at {keystone.url} (catalog: container-infra at "
                f"{aio.url}); to be one of its users, paste:\n{os_lines(keystone)}",
                flush=True,
            )
        signum = common.wait_for_signal()
        LOG.info("stopping on signal %d", signum)
    print("magnum-aio: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
