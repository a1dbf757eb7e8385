# SPDX-License-Identifier: Apache-2.0
"""oslo.messaging wiring shared by the API (client side) and the conductor (server side)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import oslo_messaging as messaging
from oslo_config import cfg

from magnum.common import exceptions

# Only our own errors are re-created on the calling side of an RPC call.
ALLOWED_EXMODS = ["magnum.common.exceptions"]
LOG = logging.getLogger(__name__)
T = TypeVar("T")


def transport(conf: cfg.ConfigOpts) -> Any:
    """The transport named by [DEFAULT] transport_url: rabbit://..., or inproc:// in-process."""
    return messaging.get_rpc_transport(conf, allowed_remote_exmods=ALLOWED_EXMODS)


def target(conf: cfg.ConfigOpts, *, server: str | None = None) -> Any:
    return messaging.Target(topic=conf.conductor.topic, server=server, version="1.0")


def answer(what: str, fn: Callable[[], T]) -> T:
    """Run the work of an RPC call. Our errors cross to the caller as themselves (see
    ALLOWED_EXMODS); anything else is logged here and crosses as a DriverError naming
    `what`, instead of an anonymous RemoteError."""
    try:
        return fn()
    except exceptions.MagnumError:
        raise
    except Exception as exc:
        LOG.exception("%s failed unexpectedly", what)
        raise exceptions.DriverError(reason=f"{what} failed: {exc}") from exc
