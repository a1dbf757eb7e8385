# SPDX-License-Identifier: Apache-2.0
"""magnum-conductor: consume the conductor topic and run bay operations."""

from __future__ import annotations

import logging
import sys

from magnum.cli import common
from magnum.common import rpc
from magnum.conductor import service

LOG = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    conf = common.load_conf(sys.argv[1:] if argv is None else argv)
    common.setup_logging(conf.debug if "debug" in conf else False)
    db = common.database(conf)
    transport = rpc.transport(conf)
    conductor = service.Conductor(conf, db, transport=transport)
    conductor.start()
    common.settle_heap()
    signum = common.wait_for_signal()
    LOG.info("conductor stopping on signal %d", signum)
    conductor.stop()
    transport.cleanup()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
