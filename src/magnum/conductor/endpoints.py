# SPDX-License-Identifier: Apache-2.0
"""RPC endpoints: what the conductor answers on its topic."""

from __future__ import annotations

from typing import Any

import oslo_messaging as messaging

from magnum.conductor import operations
from magnum.conductor.rpcapi import RPC_VERSION


class ConductorEndpoint:
    target = messaging.Target(version=RPC_VERSION)

    def __init__(self, ops: operations.BayOperations) -> None:
        self._ops = ops

    def bay_operation(self, ctxt: dict[str, Any], bay_uuid: str) -> None:
        del ctxt  # the operation and its owner are in the database; the caller was authorized
        self._ops.submit(bay_uuid)

    def ping(self, ctxt: dict[str, Any]) -> bool:
        del ctxt
        return True
