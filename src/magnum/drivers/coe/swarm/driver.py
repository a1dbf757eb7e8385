# SPDX-License-Identifier: Apache-2.0
"""SwarmDriver: Docker Swarm mode on nodes that run dockerd.

master-0 initialises the swarm (advertising <ip>:2377, overlay pool 10.252.0.0/16),
other masters join as managers one at a time (raft wants that), workers join in
parallel. Every node is labelled `magnum.role`, `magnum.bay` and `magnum.node`.

The api_address this driver reports is master-0's daemon (tcp://<ip>:2376), and the
addresses are where the nodes are reached (Node.reachable_address: a floating IP when
the bay's network is private); the swarm itself uses the nodes' own addresses. With
several masters any manager serves the swarm API, and the conductor replaces it with
the infrastructure's stable front for all managers when there is one
(InfraDriver.api_frontend), which keeps answering when master-0 is lost.

The driver reaches nodes through the shared engine clients (magnum.drivers.coe.engines:
TCP+TLS with the conductor's client certificate kept by the infrastructure driver in the
bay's driver state), and maps their errors with magnum.drivers.coe.docker_errors. It
offers containers (swarm/containers.py) and image loads (coe/images.py); no workloads.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from oslo_config import cfg

from magnum.common import exceptions, lazy, pki
from magnum.drivers import base
from magnum.drivers.coe import engines as engines_mod
from magnum.drivers.coe import images
from magnum.drivers.coe.swarm import containers, membership

if TYPE_CHECKING:
    import docker
    import docker.errors
else:
    docker = lazy.module("docker")


JOIN_TIMEOUT = 60.0
READY_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0
MAX_PARALLEL = 8
NETWORK_DRIVERS = (None, "", "docker")


class SwarmDriver(base.CoeDriver):
    coe: ClassVar[str] = "swarm"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self.engines = engines_mod.Engines(lambda: pki.key_secret(conf))
        self.containers = containers.SwarmContainers(self.engines)
        self.images = images.EngineImages(self.engines)

    def close(self) -> None:
        self.engines.close()

    def validate(
        self, cluster_template: base.ClusterTemplateView, *, master_count: int, node_count: int
    ) -> None:
        if cluster_template.network_driver not in NETWORK_DRIVERS:
            raise exceptions.InvalidParameterValue(
                err=f"Network driver {cluster_template.network_driver} is not supported by swarm "
                "mode bays; use docker (overlay networks)."
            )
        if master_count < 1:
            raise exceptions.InvalidParameterValue(err="A swarm bay needs at least one master.")
        del node_count

    def bootstrap(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Endpoints:
        masters, workers = _split(nodes)
        first = masters[0]
        with self.engines.on(task, first, f"Initialising the swarm on {first.name}") as manager:
            ids = {first.name: membership.ensure_initialized(manager, first.address)}
        task.progress(f"1/{len(nodes)} nodes joined")
        ids |= self._join(task, first, masters[1:], workers, done=1, total=len(nodes))
        self._settle(task, first, nodes, ids)
        return _endpoints(task, masters, workers)

    def add_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        masters, workers = _split(nodes)
        if new:
            first = masters[0]
            ids = self._join(task, first, [], list(new), done=0, total=len(new))
            self._settle(task, first, new, ids)
        return _endpoints(task, masters, workers)

    def remove_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        masters, _ = _split(nodes)
        for node in gone:
            with self.engines.on(task, masters[0], f"Removing {node.name} from the swarm") as m:
                self._remove_one(task, m, node)
            task.progress(f"{node.name} left the swarm")

    def health(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Health:
        masters, _ = _split(nodes)
        self.engines.client(task, masters[0])  # a bay without credentials fails the check
        problems: list[str] = []
        for node in nodes:
            try:
                with self.engines.on(task, node, f"Pinging {node.name}") as client:
                    client.ping()
            except exceptions.MagnumError:
                problems.append(f"{node.name} does not answer")
        try:
            with self.engines.on(task, masters[0], "Listing swarm nodes") as manager:
                states = {
                    a.get("Status", {}).get("Addr"): a.get("Status", {}).get("State")
                    for a in membership.nodes_by_id(manager).values()
                }
        except exceptions.MagnumError:
            return base.Health(healthy=False, reason=f"{masters[0].name} does not answer")
        problems += [
            f"{n.name} is {states.get(n.address, 'not in the swarm')}"
            for n in nodes
            if states.get(n.address) != "ready"
        ]
        if problems:
            return base.Health(healthy=False, reason="; ".join(problems))
        return base.Health(healthy=True, reason=f"{len(nodes)} nodes ready")

    # --- upgrade: nodes of either role join and leave ---------------------------
    def check_upgrade(
        self, current: base.ClusterTemplateView, target: base.ClusterTemplateView
    ) -> None:
        """Managers and workers of any engine configuration mix in one swarm; the target
        must be a template this driver accepts."""
        del current
        self.validate(target, master_count=1, node_count=0)

    def add_nodes(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        """Join `new` nodes: masters as managers (one at a time), workers in parallel,
        through a manager that is not new."""
        masters, workers = _split(nodes)
        fresh = {n.name for n in new}
        managers = [m for m in masters if m.name not in fresh]
        if not managers:
            raise exceptions.ClusterOperationFailed(reason="No master of the bay stays in it.")
        if new:
            first = managers[0]
            new_masters = [n for n in new if n.role is base.Role.MASTER]
            new_workers = [n for n in new if n.role is not base.Role.MASTER]
            ids = self._join(task, first, new_masters, new_workers, done=0, total=len(new))
            self._settle(task, first, new, ids)
        return _endpoints(task, masters, workers)

    def remove_nodes(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        """Drain `gone` nodes and take them out of the swarm, through a manager that stays;
        a manager is demoted first (raft then shrinks while every manager is up)."""
        masters, _ = _split(nodes)
        leaving = {n.name for n in gone}
        staying = [m for m in masters if m.name not in leaving]
        if not staying:
            raise exceptions.ClusterOperationFailed(reason="A swarm bay keeps at least one master.")
        for node in gone:
            with self.engines.on(task, staying[0], f"Removing {node.name} from the swarm") as m:
                node_id = membership.id_by_address(m, node.address)
                if node_id is not None and node.role is base.Role.MASTER:
                    membership.drain(m, node_id, timeout=DRAIN_TIMEOUT)
                    membership.demote(m, node_id, timeout=JOIN_TIMEOUT)
                if node_id is not None:
                    self._remove_one(task, m, node)
            self.engines.forget(task, node)  # its address may serve another node later
            task.progress(f"{node.name} left the swarm")

    def copy_images(
        self,
        task: base.ClusterTask,
        source: base.Node,
        target: base.Node,
        images: Sequence[str],
    ) -> list[str]:
        """Stream each image `target` lacks from `source`'s engine (docker save) into
        `target`'s (docker load)."""
        copied = []
        with (
            self.engines.on(task, source, f"Reading images from {source.name}") as src,
            self.engines.on(task, target, f"Loading images into {target.name}") as dst,
        ):
            for ref in images:
                if _has_image(dst, ref) or not _has_image(src, ref):
                    continue
                dst.api.load_image(src.api.get_image(ref))
                copied.append(ref)
        return copied

    # --- helpers ---------------------------------------------------------------
    def _join(
        self,
        task: base.ClusterTask,
        first: base.Node,
        managers: Sequence[base.Node],
        workers: Sequence[base.Node],
        *,
        done: int,
        total: int,
    ) -> dict[str, str]:
        with self.engines.on(task, first, f"Reading join tokens from {first.name}") as manager:
            tokens = membership.join_tokens(manager)
        ids: dict[str, str] = {}
        for node in managers:  # one at a time: each changes the raft membership
            ids[node.name] = self._join_one(task, node, first, tokens["Manager"])
            done += 1
            task.progress(f"{done}/{total} nodes joined")
        jobs = {
            node.name: functools.partial(self._join_one, task, node, first, tokens["Worker"])
            for node in workers
        }
        for name, node_id in _parallel(jobs):
            ids[name] = node_id
            done += 1
            task.progress(f"{done}/{total} nodes joined")
        return ids

    def _join_one(
        self, task: base.ClusterTask, node: base.Node, first: base.Node, token: str
    ) -> str:
        with self.engines.on(task, node, f"Joining {node.name} to the swarm") as client:
            return membership.ensure_joined(
                client,
                address=node.address,
                manager_address=first.address,
                token=token,
                timeout=JOIN_TIMEOUT,
            )

    def _settle(
        self,
        task: base.ClusterTask,
        first: base.Node,
        nodes: Sequence[base.Node],
        ids: dict[str, str],
    ) -> None:
        """Wait until the joined nodes are Ready, label them, drop stale entries."""
        with self.engines.on(task, first, "Waiting for swarm nodes to be Ready") as manager:
            membership.wait_ready(manager, ids.values(), timeout=READY_TIMEOUT)

        def label(node: base.Node) -> str:
            labels = {
                "magnum.role": str(node.role),
                "magnum.bay": task.cluster.uuid,
                "magnum.node": node.name,
            }
            membership.update_spec(manager, ids[node.name], Labels=labels)
            return node.name

        with self.engines.on(task, first, "Labelling swarm nodes") as manager:
            # Two round trips a node: in parallel, or a 1+9 bay spends a second here.
            for _ in _parallel({n.name: functools.partial(label, n) for n in nodes}):
                pass
            membership.remove_stale(manager, (n.address for n in nodes), set(ids.values()))

    def _remove_one(
        self, task: base.ClusterTask, manager: docker.DockerClient, node: base.Node
    ) -> None:
        node_id = membership.id_by_address(manager, node.address)
        if node_id is None:
            return  # already out of the swarm
        membership.drain(manager, node_id, timeout=DRAIN_TIMEOUT)
        # A dead worker cannot leave; the manager forgets it below anyway.
        with (
            contextlib.suppress(exceptions.MagnumError),
            self.engines.on(task, node, f"{node.name} leaving the swarm") as client,
        ):
            client.swarm.leave(force=True)
        membership.remove(manager, node_id)


def _has_image(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _split(nodes: Sequence[base.Node]) -> tuple[list[base.Node], list[base.Node]]:
    masters = [n for n in nodes if n.role is base.Role.MASTER]
    workers = [n for n in nodes if n.role is not base.Role.MASTER]
    if not masters:
        raise exceptions.ClusterOperationFailed(reason="The bay has no master node.")
    return masters, workers


def _endpoints(
    task: base.ClusterTask, masters: Sequence[base.Node], workers: Sequence[base.Node]
) -> base.Endpoints:
    tls = not task.cluster_template.tls_disabled
    return base.Endpoints(
        api_address=engines_mod.api_url(masters[0].reachable_address, tls=tls),
        master_addresses=tuple(n.reachable_address for n in masters),
        node_addresses=tuple(n.reachable_address for n in workers),
    )


def _parallel(jobs: Mapping[str, Callable[[], str]]) -> Iterator[tuple[str, str]]:
    """Run named jobs on a few threads, yielding (name, result) as each finishes; the first
    error is raised once every job has finished, so none is left running behind us."""
    if not jobs:
        return
    errors: list[BaseException] = []
    with concurrent.futures.ThreadPoolExecutor(min(MAX_PARALLEL, len(jobs))) as pool:
        futures = {pool.submit(job): name for name, job in jobs.items()}
        for future in concurrent.futures.as_completed(futures):
            if (exc := future.exception()) is not None:
                errors.append(exc)
            elif not errors:
                yield futures[future], future.result()
    if errors:
        raise errors[0]
