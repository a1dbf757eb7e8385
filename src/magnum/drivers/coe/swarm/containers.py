# SPDX-License-Identifier: Apache-2.0
"""Magnum's containers on a swarm bay (the ContainerInterface of SwarmDriver): plain
Docker containers on one node's engine.

The conductor chooses the node; this module talks to that node's dockerd through the
shared clients of magnum.drivers.coe.engines (TLS with the bay's conductor client
certificate), with the low-level docker SDK client. Errors are mapped by
magnum.drivers.coe.docker_errors.

Every container is labelled magnum.container=<magnum uuid> and magnum.bay=<bay uuid>,
named magnum-<uuid> (Magnum names are neither unique nor valid Docker names) with the
Magnum uuid as hostname, and runs under docker-init so that stop and reboot are prompt.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Iterator, Sequence
from typing import Any

import docker

from magnum.common import exceptions
from magnum.drivers import base, capabilities
from magnum.drivers.coe import docker_errors
from magnum.drivers.coe import engines as engines_mod
from magnum.objects import fields

STOP_TIMEOUT = 10
LABEL_UUID = "magnum.container"
LABEL_BAY = "magnum.bay"
LABEL_NAME = "magnum.name"
# A reference naming a registry host (host.domain/..., host:port/..., localhost/...).
_REGISTRY = re.compile(r"^(?:[^/]+\.[^/]+|[^/]+:\d+|localhost)/")
_EXITED = re.compile(r"^Exited \((-?\d+)\)")


class SwarmContainers(capabilities.ContainerInterface):
    """Plain Docker containers on one node's engine, through its low-level API client."""

    def __init__(self, engines: engines_mod.Engines) -> None:
        self._engines = engines

    @contextlib.contextmanager
    def _on(self, task: base.ClusterTask, node: base.Node, what: str) -> Iterator[docker.APIClient]:
        with self._engines.on(task, node, what) as client:
            yield client.api

    def create(
        self, task: base.ClusterTask, node: base.Node, spec: capabilities.ContainerSpec
    ) -> str:
        try:
            return self._create(task, node, spec)
        except exceptions.EngineNotFound as exc:  # the node does not have the image
            if not _REGISTRY.match(spec.image):
                raise exceptions.ImageNotAvailable(
                    image=spec.image, cluster=task.cluster.uuid, why=f" (node {node.name})"
                ) from exc
        try:
            with self._on(task, node, f"Pulling {spec.image}") as api:
                api.pull(spec.image)
        except exceptions.NodeUnavailable:
            raise
        except exceptions.MagnumError as exc:  # the engine answered: it cannot get the image
            raise exceptions.ImageNotAvailable(
                image=spec.image,
                cluster=task.cluster.uuid,
                why=f": {docker_errors.engine_text(exc)}",
            ) from exc
        return self._create(task, node, spec)

    def _create(
        self, task: base.ClusterTask, node: base.Node, spec: capabilities.ContainerSpec
    ) -> str:
        argv = shlex.split(spec.command) if spec.command else None
        labels = {LABEL_UUID: spec.uuid, LABEL_BAY: task.cluster.uuid}
        if spec.name is not None:
            labels[LABEL_NAME] = spec.name
        with self._on(task, node, f"Creating container {spec.uuid}") as api:
            host_config = api.create_host_config(mem_limit=spec.memory_bytes or None, init=True)
            created = api.create_container(
                spec.image,
                command=argv,
                hostname=spec.uuid,
                name=f"magnum-{spec.uuid}",
                environment=dict(spec.environment),
                labels=labels,
                host_config=host_config,
            )
        return str(created["Id"])

    def action(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        action: capabilities.ContainerAction,
    ) -> None:
        with self._on(task, node, f"Container action {action}") as api:
            match action:
                case capabilities.ContainerAction.START:
                    api.start(container_id)
                case capabilities.ContainerAction.STOP:
                    api.stop(container_id, timeout=STOP_TIMEOUT)
                case capabilities.ContainerAction.REBOOT:
                    api.restart(container_id, timeout=STOP_TIMEOUT)
                case capabilities.ContainerAction.PAUSE:
                    api.pause(container_id)
                case capabilities.ContainerAction.UNPAUSE:
                    api.unpause(container_id)

    def logs(self, task: base.ClusterTask, node: base.Node, container_id: str) -> str:
        with self._on(task, node, "Reading the container's logs") as api:
            out = api.logs(container_id, stdout=True, stderr=True)
        return bytes(out).decode("utf-8", "replace")

    def exec(
        self, task: base.ClusterTask, node: base.Node, container_id: str, argv: Sequence[str]
    ) -> str:
        with self._on(task, node, "Executing in the container") as api:
            exec_id = api.exec_create(container_id, list(argv), stdout=True, stderr=True)
            out = api.exec_start(exec_id["Id"], tty=False)
        return bytes(out).decode("utf-8", "replace")

    def remove(self, task: base.ClusterTask, node: base.Node, container_id: str) -> None:
        try:
            with self._on(task, node, "Removing the container") as api:
                api.remove_container(container_id, force=True)
        except exceptions.EngineNotFound:
            return  # already gone

    def states(
        self, task: base.ClusterTask, node: base.Node
    ) -> dict[str, capabilities.ContainerState]:
        with self._on(task, node, "Listing containers") as api:
            found = api.containers(all=True, filters={"label": f"{LABEL_BAY}={task.cluster.uuid}"})
        states: dict[str, capabilities.ContainerState] = {}
        for item in found:
            uuid = (item.get("Labels") or {}).get(LABEL_UUID)
            if uuid:
                states[uuid] = _from_list(item)
        return states

    def state(
        self, task: base.ClusterTask, node: base.Node, container_id: str
    ) -> capabilities.ContainerState:
        try:
            with self._on(task, node, "Inspecting the container") as api:
                info = api.inspect_container(container_id)
        except exceptions.EngineNotFound:
            return capabilities.ContainerState(
                status=fields.ContainerStatus.ERROR,
                reason=f"the container is gone from node {node.name}",
            )
        return _from_inspect(info.get("State") or {})


def _from_list(item: dict[str, Any]) -> capabilities.ContainerState:
    state = str(item.get("State", ""))
    if state == "paused":
        return capabilities.ContainerState(status=fields.ContainerStatus.PAUSED)
    if state in ("running", "restarting"):
        return capabilities.ContainerState(status=fields.ContainerStatus.RUNNING)
    if state == "dead":
        return capabilities.ContainerState(
            status=fields.ContainerStatus.ERROR, reason="Docker: dead"
        )
    match = _EXITED.match(str(item.get("Status", "")))
    reason = f"exited with code {match.group(1)}" if state == "exited" and match else None
    return capabilities.ContainerState(status=fields.ContainerStatus.STOPPED, reason=reason)


def _from_inspect(state: dict[str, Any]) -> capabilities.ContainerState:
    if state.get("Paused"):
        return capabilities.ContainerState(status=fields.ContainerStatus.PAUSED)
    if state.get("Running") or state.get("Restarting"):
        return capabilities.ContainerState(status=fields.ContainerStatus.RUNNING)
    if state.get("Dead"):
        return capabilities.ContainerState(
            status=fields.ContainerStatus.ERROR, reason="Docker: dead"
        )
    if state.get("Status") == "exited":
        reason = f"exited with code {state.get('ExitCode')}"
        if state.get("OOMKilled"):
            reason += " (killed: out of memory)"
        return capabilities.ContainerState(status=fields.ContainerStatus.STOPPED, reason=reason)
    return capabilities.ContainerState(status=fields.ContainerStatus.STOPPED)
