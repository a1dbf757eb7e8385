# SPDX-License-Identifier: Apache-2.0
"""API-side client of the conductor. The only way magnum.api reaches the conductor.

Bay operations are *casts*: the API has already recorded the operation in the
database, so a conductor that misses the message still finds it on its next
scan for unowned operations.
"""

from __future__ import annotations

from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

from magnum.common import context, rpc

RPC_VERSION = "1.0"


class ConductorAPI:
    def __init__(self, conf: cfg.ConfigOpts, transport: Any) -> None:
        self._client = messaging.get_rpc_client(
            transport, rpc.target(conf), version_cap=RPC_VERSION
        )

    def bay_operation(self, ctx: context.RequestContext, *, bay_uuid: str) -> None:
        """Tell the conductors that `bay_uuid` has an operation waiting (create, update, delete)."""
        self._client.cast(ctx.to_dict(), "bay_operation", bay_uuid=bay_uuid)

    def ping(self, ctx: context.RequestContext, *, timeout: float = 5.0) -> bool:
        return bool(self._client.prepare(timeout=timeout).call(ctx.to_dict(), "ping"))
