# SPDX-License-Identifier: Apache-2.0
"""oslo.messaging wiring shared by the API (client side) and the conductor (server side)."""

from __future__ import annotations

from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

# Only our own errors are re-created on the calling side of an RPC call.
ALLOWED_EXMODS = ["magnum.common.exceptions"]


def transport(conf: cfg.ConfigOpts) -> Any:
    """The transport named by [DEFAULT] transport_url: rabbit://..., or inproc:// in-process."""
    return messaging.get_rpc_transport(conf, allowed_remote_exmods=ALLOWED_EXMODS)


def target(conf: cfg.ConfigOpts, *, server: str | None = None) -> Any:
    return messaging.Target(topic=conf.conductor.topic, server=server, version="1.0")
