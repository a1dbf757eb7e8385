# SPDX-License-Identifier: Apache-2.0
"""API-side client of the conductor. The only way magnum.api reaches the conductor.

Bay operations are *casts*: the API has already recorded the operation in the
database, so a conductor that misses the message still finds it on its next
scan for unowned operations. Loading an image into a bay is a *call*: the tenant
waits for its answer.

Versions: 1.0 bay_operation, ping; 1.1 bay_load_image; 1.2 container_* (calls).
"""

from __future__ import annotations

from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

from magnum.common import context, exceptions, rpc

RPC_VERSION = "1.2"


class ConductorAPI:
    def __init__(self, conf: cfg.ConfigOpts, transport: Any) -> None:
        self._client = messaging.get_rpc_client(
            transport, rpc.target(conf), version_cap=RPC_VERSION
        )

    def cluster_operation(self, ctx: context.RequestContext, *, cluster_uuid: str) -> None:
        """Tell the conductors that `bay_uuid` has an operation waiting (create, update, delete)."""
        self._client.cast(ctx.to_dict(), "cluster_operation", cluster_uuid=cluster_uuid)

    def cluster_load_image(
        self, ctx: context.RequestContext, *, cluster_uuid: str, path: str, timeout: float
    ) -> dict[str, Any]:
        """Have a conductor load the archive at `path` (under the shared upload directory)
        into every node of the bay; its answer {"bay_uuid", "images", "nodes"}."""
        client = self._client.prepare(version="1.1", timeout=timeout)
        try:
            answer = client.call(
                ctx.to_dict(), "cluster_load_image", cluster_uuid=cluster_uuid, path=path
            )
        except messaging.MessagingTimeout:
            raise exceptions.ClusterOperationFailed(
                reason=f"No conductor finished loading the image within {timeout:.0f}s."
            ) from None
        result: dict[str, Any] = answer
        return result

    # --- containers (calls: the tenant waits for Docker's answer) ----------------------
    def _container_call(self, ctx: context.RequestContext, method: str, **kwargs: Any) -> Any:
        try:
            answer = self._client.prepare(version="1.2").call(ctx.to_dict(), method, **kwargs)
        except messaging.MessagingTimeout:
            raise exceptions.ClusterOperationFailed(
                reason=f"No conductor answered {method} in time."
            ) from None
        return answer

    def container_create(self, ctx: context.RequestContext, *, values: dict[str, Any]) -> str:
        """Place, record and create (not start) a container; its uuid."""
        return str(self._container_call(ctx, "container_create", values=values))

    def container_show(self, ctx: context.RequestContext, *, uuid: str) -> None:
        """Refresh the container's status from Docker."""
        self._container_call(ctx, "container_show", uuid=uuid)

    def container_action(self, ctx: context.RequestContext, *, uuid: str, action: str) -> None:
        self._container_call(ctx, "container_action", uuid=uuid, action=action)

    def container_logs(self, ctx: context.RequestContext, *, uuid: str) -> str:
        return str(self._container_call(ctx, "container_logs", uuid=uuid))

    def container_exec(self, ctx: context.RequestContext, *, uuid: str, command: str) -> str:
        return str(self._container_call(ctx, "container_exec", uuid=uuid, command=command))

    def container_delete(self, ctx: context.RequestContext, *, uuid: str) -> None:
        self._container_call(ctx, "container_delete", uuid=uuid)

    def ping(self, ctx: context.RequestContext, *, timeout: float = 5.0) -> bool:
        return bool(self._client.prepare(timeout=timeout).call(ctx.to_dict(), "ping"))
