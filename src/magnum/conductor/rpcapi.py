# SPDX-License-Identifier: Apache-2.0
"""API-side client of the conductor. The only way magnum.api reaches the conductor.

Bay operations are *casts*: the API has already recorded the operation in the
database, so a conductor that misses the message still finds it on its next
scan for unowned operations. Casts are sent in the background and never delay
the answer. Loading an image into a bay and the container operations are *calls*:
the tenant waits for the answer, unless the broker does not answer, which ends
the wait with 503 (see magnum.common.rpc.Broker).

Versions: 1.0 bay_operation, ping; 1.1 bay_load_image; 1.2 container_* (calls);
1.3 workload_* (calls: pods, services, replication controllers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg

from magnum.common import context, exceptions, rpc

RPC_VERSION = "1.3"
EXEC_MARGIN = 30.0  # seconds beyond an execute/logs bound: the kill, the engine's slowness


class ConductorAPI:
    def __init__(self, conf: cfg.ConfigOpts, transport: Any) -> None:
        self._client = messaging.get_rpc_client(
            transport,
            rpc.target(conf),
            version_cap=RPC_VERSION,
            retry=rpc.PUBLISH_RETRY,
            transport_options=rpc.AT_LEAST_ONCE,
        )
        self._timeout = float(conf.rpc_response_timeout)
        # Calls in flight: every API thread may wait on one, plus as many left behind
        # in oslo.messaging's reconnect loop when the broker went away under them.
        self._broker = rpc.Broker(
            conf, timeout=conf.api.broker_timeout, slots=max(8, 2 * conf.api.threads)
        )

    def cluster_operation(self, ctx: context.RequestContext, *, cluster_uuid: str) -> None:
        """Tell the conductors that `bay_uuid` has an operation waiting (create, update,
        delete). Returns at once: the message is sent in the background, or left to the
        conductors' scan when the broker does not answer."""
        ctxt = ctx.to_dict()
        self._broker.cast(
            f"bay {cluster_uuid}",
            lambda: self._client.cast(ctxt, "cluster_operation", cluster_uuid=cluster_uuid),
        )

    def cluster_load_image(
        self, ctx: context.RequestContext, *, cluster_uuid: str, path: str, timeout: float
    ) -> dict[str, Any]:
        """Have a conductor load the archive at `path` (under the shared upload directory)
        into every node of the bay; its answer {"bay_uuid", "images", "nodes"}."""
        client = self._client.prepare(version="1.1", **rpc.call_options(timeout))
        ctxt = ctx.to_dict()
        try:
            answer = self._call(
                "cluster_load_image",
                lambda: client.call(
                    ctxt, "cluster_load_image", cluster_uuid=cluster_uuid, path=path
                ),
                timeout=timeout,
            )
        except messaging.MessagingTimeout:
            raise exceptions.ClusterOperationFailed(
                reason=f"No conductor finished loading the image within {timeout:.0f}s."
            ) from None
        result: dict[str, Any] = answer
        return result

    def _call(self, method: str, send: Callable[[], Any], *, timeout: float) -> Any:
        """`send()`, an RPC call of `method` giving up after `timeout` seconds; a broker
        that cannot take it (or goes away while it waits) is ConductorUnreachable (503)."""
        return self._broker.call(method, send, timeout=timeout)

    # --- containers (calls: the tenant waits for Docker's answer) ----------------------
    def _container_call(
        self,
        ctx: context.RequestContext,
        method: str,
        *,
        wait: float | None = None,
        **kwargs: Any,
    ) -> Any:
        timeout = self._timeout if wait is None else wait
        client = self._client.prepare(version="1.2", **rpc.call_options(timeout))
        ctxt = ctx.to_dict()
        try:
            answer = self._call(
                method, lambda: client.call(ctxt, method, **kwargs), timeout=timeout
            )
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

    # execute and logs are bounded by the conductor (`timeout`, `max_output`: the API's
    # [api] exec_timeout and max_exec_output); the wait for the answer is longer than
    # that bound, by what killing a command may take, so the answer is the real outcome.
    def container_logs(
        self, ctx: context.RequestContext, *, uuid: str, timeout: float, max_output: int
    ) -> dict[str, Any]:
        """{"output", "truncated"}: the last `max_output` bytes of the container's log."""
        return dict(
            self._container_call(
                ctx,
                "container_logs",
                wait=timeout + EXEC_MARGIN,
                uuid=uuid,
                timeout=timeout,
                max_output=max_output,
            )
        )

    def container_exec(
        self,
        ctx: context.RequestContext,
        *,
        uuid: str,
        command: str,
        timeout: float,
        max_output: int,
    ) -> dict[str, Any]:
        """{"output", "truncated"} of `command` run in the container."""
        return dict(
            self._container_call(
                ctx,
                "container_exec",
                wait=timeout + EXEC_MARGIN,
                uuid=uuid,
                command=command,
                timeout=timeout,
                max_output=max_output,
            )
        )

    def container_delete(self, ctx: context.RequestContext, *, uuid: str) -> None:
        self._container_call(ctx, "container_delete", uuid=uuid)

    # --- workloads (calls: every read and write goes to the bay's own API) ---------------
    # A workload crosses as magnum.drivers.capabilities.Workload.as_dict(): {"kind", "name",
    # "namespace", "manifest" (the object as the cluster's API renders it)}.
    def _workload_call(self, ctx: context.RequestContext, method: str, **kwargs: Any) -> Any:
        client = self._client.prepare(version="1.3", **rpc.call_options(self._timeout))
        ctxt = ctx.to_dict()
        try:
            return self._call(
                method, lambda: client.call(ctxt, method, **kwargs), timeout=self._timeout
            )
        except messaging.MessagingTimeout:
            raise exceptions.ClusterOperationFailed(
                reason=f"No conductor answered {method} in time."
            ) from None

    def workload_create(
        self, ctx: context.RequestContext, *, cluster_uuid: str, kind: str, manifest: dict[str, Any]
    ) -> dict[str, Any]:
        """Create the `kind` object `manifest` describes in the bay; the object made."""
        return dict(
            self._workload_call(
                ctx, "workload_create", cluster_uuid=cluster_uuid, kind=kind, manifest=manifest
            )
        )

    def workload_list(
        self, ctx: context.RequestContext, *, cluster_uuid: str, kind: str
    ) -> list[dict[str, Any]]:
        """Every `kind` object of the bay, as its API lists them."""
        listed = self._workload_call(ctx, "workload_list", cluster_uuid=cluster_uuid, kind=kind)
        return [dict(w) for w in listed]

    def workload_show(
        self, ctx: context.RequestContext, *, cluster_uuid: str, kind: str, ident: str
    ) -> dict[str, Any]:
        """The `kind` object of the bay whose uid or name is `ident`."""
        return dict(
            self._workload_call(
                ctx, "workload_show", cluster_uuid=cluster_uuid, kind=kind, ident=ident
            )
        )

    def workload_update(
        self,
        ctx: context.RequestContext,
        *,
        cluster_uuid: str,
        kind: str,
        ident: str,
        manifest: dict[str, Any],
    ) -> dict[str, Any]:
        """Replace the object `ident` with what `manifest` describes; the object now."""
        return dict(
            self._workload_call(
                ctx,
                "workload_update",
                cluster_uuid=cluster_uuid,
                kind=kind,
                ident=ident,
                manifest=manifest,
            )
        )

    def workload_delete(
        self, ctx: context.RequestContext, *, cluster_uuid: str, kind: str, ident: str
    ) -> None:
        self._workload_call(
            ctx, "workload_delete", cluster_uuid=cluster_uuid, kind=kind, ident=ident
        )

    def ping(self, ctx: context.RequestContext, *, timeout: float = 5.0) -> bool:
        client, ctxt = self._client.prepare(**rpc.call_options(timeout)), ctx.to_dict()
        return bool(self._call("ping", lambda: client.call(ctxt, "ping"), timeout=timeout))
