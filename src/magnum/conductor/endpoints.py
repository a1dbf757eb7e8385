# SPDX-License-Identifier: Apache-2.0
"""RPC endpoints: what the conductor answers on its topic. Each turns a call into a
handler's (magnum.conductor.handlers); errors reach the caller as magnum exceptions."""

from __future__ import annotations

import functools
import logging
import pathlib
from typing import Any

import oslo_messaging as messaging

from magnum.common import context, exceptions, images, rpc
from magnum.conductor import operations
from magnum.conductor.handlers import container as container_handlers
from magnum.conductor.handlers import images as image_handlers
from magnum.conductor.handlers import workloads as workload_handlers
from magnum.conductor.rpcapi import RPC_VERSION
from magnum.drivers import capabilities

LOG = logging.getLogger(__name__)


class ConductorEndpoint:
    target = messaging.Target(version=RPC_VERSION)

    def __init__(self, ops: operations.ClusterOperations, *, uploads: pathlib.Path) -> None:
        self._ops = ops
        self._uploads = uploads

    def cluster_operation(self, ctxt: dict[str, Any], cluster_uuid: str) -> None:
        # The operation, with who asked, is in the database already (the runner's events
        # carry that caller); here the cast's caller is only logged.
        with context.calling(ctxt) as caller:
            LOG.info("cluster %s: operation cast by %s", cluster_uuid, caller.request_id)
            self._ops.submit(cluster_uuid)

    def cluster_load_image(
        self, ctxt: dict[str, Any], cluster_uuid: str, path: str
    ) -> dict[str, Any]:
        """Load the uploaded archive at `path` into every node of the bay (an RPC *call*).

        Answers {"bay_uuid", "images", "nodes"}; errors reach the caller as magnum
        exceptions.
        """
        with context.calling(ctxt):  # the API authorized the caller against the cluster
            return rpc.answer("Loading the image", lambda: self._load(cluster_uuid, path))

    def _load(self, cluster_uuid: str, path: str) -> dict[str, Any]:
        upload = pathlib.Path(path)
        if not images.is_upload(self._uploads, upload):
            raise exceptions.InvalidParameterValue(
                err="The image archive was not found where the API writes uploads; the "
                "API and the conductor must share [DEFAULT] state_path."
            )
        action = functools.partial(image_handlers.load, path=upload)
        result: dict[str, Any] = self._ops.on_settled(cluster_uuid, action)
        return result

    def ping(self, ctxt: dict[str, Any]) -> bool:
        del ctxt
        return True


class ContainerEndpoint:
    """The container RPC calls."""

    target = messaging.Target(version=RPC_VERSION)

    def __init__(self, handler: container_handlers.Containers) -> None:
        self._handler = handler

    def container_create(self, ctxt: dict[str, Any], values: dict[str, Any]) -> Any:
        with context.calling(ctxt):
            return rpc.answer("Creating the container", lambda: self._handler.create(ctxt, values))

    def container_show(self, ctxt: dict[str, Any], uuid: str) -> Any:
        with context.calling(ctxt):
            return rpc.answer("Refreshing the container", lambda: self._handler.show(uuid))

    def container_action(self, ctxt: dict[str, Any], uuid: str, action: str) -> Any:
        with context.calling(ctxt):
            return rpc.answer(
                f"Container {action}",
                lambda: self._handler.action(uuid, capabilities.ContainerAction(action)),
            )

    def container_logs(
        self,
        ctxt: dict[str, Any],
        uuid: str,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> Any:
        """{"output", "truncated"}: the last `max_output` bytes of the log, read within
        `timeout` seconds (the API's [api] exec_timeout and max_exec_output)."""
        limits = _limits(timeout, max_output)
        with context.calling(ctxt):
            return rpc.answer("Reading logs", lambda: _output(self._handler.logs(uuid, limits)))

    def container_exec(
        self,
        ctxt: dict[str, Any],
        uuid: str,
        command: str,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> Any:
        """{"output", "truncated"} of `command`, killed after `timeout` seconds (504) or
        once it printed more than `max_output` bytes."""
        limits = _limits(timeout, max_output)
        with context.calling(ctxt):
            return rpc.answer(
                "Executing", lambda: _output(self._handler.execute(uuid, command, limits))
            )

    def container_delete(self, ctxt: dict[str, Any], uuid: str) -> Any:
        with context.calling(ctxt):
            return rpc.answer("Deleting the container", lambda: self._handler.delete(uuid))


class WorkloadEndpoint:
    """The workload RPC calls (pods, services, replication controllers); a workload
    crosses as capabilities.Workload.as_dict()."""

    target = messaging.Target(version=RPC_VERSION)

    def __init__(self, handler: workload_handlers.Workloads) -> None:
        self._handler = handler

    def workload_create(
        self, ctxt: dict[str, Any], cluster_uuid: str, kind: str, manifest: dict[str, Any]
    ) -> Any:
        with context.calling(ctxt):
            return rpc.answer(
                f"Creating the {kind}",
                lambda: self._handler.create(cluster_uuid, _kind(kind), manifest),
            )

    def workload_list(self, ctxt: dict[str, Any], cluster_uuid: str, kind: str) -> Any:
        with context.calling(ctxt):
            return rpc.answer(
                f"Listing {kind}s", lambda: self._handler.list(cluster_uuid, _kind(kind))
            )

    def workload_show(self, ctxt: dict[str, Any], cluster_uuid: str, kind: str, ident: str) -> Any:
        with context.calling(ctxt):
            return rpc.answer(
                f"Reading the {kind}", lambda: self._handler.show(cluster_uuid, _kind(kind), ident)
            )

    def workload_update(
        self,
        ctxt: dict[str, Any],
        cluster_uuid: str,
        kind: str,
        ident: str,
        manifest: dict[str, Any],
    ) -> Any:
        with context.calling(ctxt):
            return rpc.answer(
                f"Replacing the {kind}",
                lambda: self._handler.update(cluster_uuid, _kind(kind), ident, manifest),
            )

    def workload_delete(
        self, ctxt: dict[str, Any], cluster_uuid: str, kind: str, ident: str
    ) -> Any:
        with context.calling(ctxt):
            return rpc.answer(
                f"Deleting the {kind}",
                lambda: self._handler.delete(cluster_uuid, _kind(kind), ident),
            )


def _kind(kind: str) -> capabilities.WorkloadKind:
    try:
        return capabilities.WorkloadKind(kind)
    except ValueError:
        raise exceptions.InvalidParameterValue(err=f"No workload kind {kind!r}.") from None


def _limits(timeout: float | None, max_output: int | None) -> capabilities.Limits | None:
    """The caller's bounds (None: the conductor's own [api] defaults)."""
    if timeout is None or max_output is None:
        return None
    return capabilities.Limits(timeout=max(float(timeout), 0.1), max_bytes=max(int(max_output), 1))


def _output(out: capabilities.Output) -> dict[str, Any]:
    return {"output": out.text, "truncated": out.truncated}
