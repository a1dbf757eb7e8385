# SPDX-License-Identifier: Apache-2.0
"""Swarm membership steps, each safe to repeat: init, join, label, wait Ready, drain,
remove. They take docker SDK clients and node addresses, and know nothing of bays; the
caller maps the SDK's errors (magnum.drivers.coe.engines)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from magnum.common import exceptions, lazy
from magnum.drivers import waiting
from magnum.drivers.coe import docker_errors

if TYPE_CHECKING:
    import docker
else:
    docker = lazy.module("docker")


LOG = logging.getLogger(__name__)
T = TypeVar("T")

SWARM_PORT = 2377
ADDR_POOL = "10.252.0.0/16"
POLL = 0.05


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float) -> T:
    return waiting.wait_for(what, probe, timeout=timeout, poll=POLL)


def swarm_info(client: docker.DockerClient) -> dict[str, Any]:
    info: dict[str, Any] = client.info()["Swarm"]
    return info


def ensure_initialized(client: docker.DockerClient, address: str) -> str:
    """Make the node the first manager of a new swarm (unless it is one); return its node id."""
    info = swarm_info(client)
    if info["LocalNodeState"] == "active":
        if not info.get("ControlAvailable"):
            raise exceptions.ClusterOperationFailed(
                reason=f"Node {address} is a swarm worker; it should be the first manager."
            )
        return str(info["NodeID"])
    client.swarm.init(
        advertise_addr=address,
        listen_addr=f"{address}:{SWARM_PORT}",
        default_addr_pool=[ADDR_POOL],
        subnet_size=24,
    )
    return str(swarm_info(client)["NodeID"])


def join_tokens(manager: docker.DockerClient) -> dict[str, str]:
    manager.swarm.reload()
    tokens: dict[str, str] = manager.swarm.attrs["JoinTokens"]
    return tokens


def _member_of(info: dict[str, Any], manager_address: str) -> bool:
    managers = info.get("RemoteManagers") or []
    return any(m["Addr"].rsplit(":", 1)[0] == manager_address for m in managers)


def ensure_joined(
    client: docker.DockerClient, *, address: str, manager_address: str, token: str, timeout: float
) -> str:
    """Join the node to the swarm of `manager_address` (leaving any other); return its id."""
    info = swarm_info(client)
    if info["LocalNodeState"] == "active" and _member_of(info, manager_address):
        return str(info["NodeID"])
    if info["LocalNodeState"] in ("active", "pending", "error"):
        client.swarm.leave(force=True)  # a stale membership from an earlier attempt
    client.swarm.join(
        remote_addrs=[f"{manager_address}:{SWARM_PORT}"],
        join_token=token,
        listen_addr=f"{address}:{SWARM_PORT}",
        advertise_addr=address,
    )
    return str(
        wait_for(f"node {address} to join the swarm", lambda: _active_id(client), timeout=timeout)
    )


def _active_id(client: docker.DockerClient) -> str | None:
    info = swarm_info(client)
    return str(info["NodeID"]) if info["LocalNodeState"] == "active" else None


def nodes_by_id(manager: docker.DockerClient) -> dict[str, dict[str, Any]]:
    return {n.id: n.attrs for n in manager.nodes.list()}


def wait_ready(
    manager: docker.DockerClient,
    ids: Iterable[str],
    *,
    timeout: float,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    wanted = set(ids)
    seen = -1

    def ready() -> bool:
        nonlocal seen
        nodes = nodes_by_id(manager)
        count = sum(1 for i in wanted if nodes.get(i, {}).get("Status", {}).get("State") == "ready")
        if progress is not None and count != seen:
            progress(count, len(wanted))
        seen = count
        return count == len(wanted)

    wait_for(f"{len(wanted)} swarm nodes to be Ready", ready, timeout=timeout)


def update_spec(manager: docker.DockerClient, node_id: str, **changes: Any) -> None:
    """Apply `changes` to a node's spec unless it already has them (retry a version race)."""
    for _ in range(3):
        node = manager.nodes.get(node_id)
        spec = dict(node.attrs["Spec"])
        merged = {**spec, **changes}
        if merged == spec:
            return
        try:
            with docker_errors.mapped(f"Updating swarm node {node_id}"):
                node.update(merged)
            return
        except exceptions.OutOfSequence:
            continue  # changed since we read it: read it again
    raise exceptions.ClusterOperationFailed(reason=f"Could not update swarm node {node_id}.")


def id_by_address(manager: docker.DockerClient, address: str) -> str | None:
    for node_id, attrs in nodes_by_id(manager).items():
        if attrs.get("Status", {}).get("Addr") == address:
            return node_id
    return None


def remove_stale(manager: docker.DockerClient, addresses: Iterable[str], keep: set[str]) -> None:
    """Remove down worker entries left by earlier incarnations of our nodes."""
    ours = set(addresses)
    for node_id, attrs in nodes_by_id(manager).items():
        status = attrs.get("Status", {})
        if (
            node_id not in keep
            and status.get("Addr") in ours
            and status.get("State") != "ready"
            and attrs.get("Spec", {}).get("Role") == "worker"
        ):
            LOG.info("removing stale swarm node %s (%s)", node_id, status.get("Addr"))
            manager.api.remove_node(node_id, force=True)


def running_tasks(manager: docker.DockerClient, node_id: str) -> int:
    tasks = manager.api.tasks(filters={"node": node_id, "desired-state": "running"})
    return len(tasks)


def drain(manager: docker.DockerClient, node_id: str, *, timeout: float) -> None:
    """Set the node to drain and wait (bounded) until its tasks have moved away."""
    update_spec(manager, node_id, Availability="drain")
    deadline = time.monotonic() + timeout
    while running_tasks(manager, node_id) and time.monotonic() < deadline:
        time.sleep(POLL)
    if running_tasks(manager, node_id):
        LOG.warning("swarm node %s still has tasks after %.0fs of draining", node_id, timeout)


def demote(manager: docker.DockerClient, node_id: str, *, timeout: float) -> None:
    """Make a manager a worker and wait (bounded) until the swarm shows it so."""
    update_spec(manager, node_id, Role="worker")

    def demoted() -> bool | None:
        attrs = manager.nodes.get(node_id).attrs
        return True if "ManagerStatus" not in attrs else None

    wait_for(f"swarm node {node_id} to be demoted", demoted, timeout=timeout)


def remove(manager: docker.DockerClient, node_id: str) -> None:
    with (
        contextlib.suppress(exceptions.EngineNotFound),  # already removed
        docker_errors.mapped(f"Removing swarm node {node_id}"),
    ):
        manager.api.remove_node(node_id, force=True)
