# SPDX-License-Identifier: Apache-2.0
"""LocalInfra: bay nodes on this machine.

A bay is a private network behind a router of its own (network.py: a network namespace
holding the bay's segment, NAT and isolation rules); a node is a network namespace on
that segment with a veth, a UTS name, a cgroup (the flavor) and its own dockerd, whose
API is served on <node ip>:2376 by the node's TLS front (tlsfront.py: client
certificates of the bay's CA, reloadable, so CA and credentials rotations restart
nothing), or plain on :2375 by dockerd when the baymodel disables TLS. The bay's network
is its template's fixed_network (any number of bays may share a CIDR) or a /24 of
[local] subnet_pool no other bay has; the conductor reaches nodes where a tenant would,
through the router: at their floating IPs (base.Node.floating_ip; 1:1 NAT) on a fixed
network, at their own addresses (routed) otherwise, and the masters of a multi-master
bay through a front in the router (frontend.py). Bays cannot reach each other nor the
host. Nodes are built in parallel; each step finds what exists first, so a conductor
taking over simply runs the same call again. Deletion kills every process of the node
cgroup at once (a graceful dockerd stop waits 10 s per container).

Requirements: root, iproute2, iptables, util-linux (nsenter, unshare, losetup) and the
docker.io binaries (dockerd, containerd, runc, docker-init).
"""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
import shutil
from collections.abc import Callable, Sequence
from typing import ClassVar

from oslo_config import cfg

from magnum.common import exceptions, pki
from magnum.drivers import base
from magnum.drivers.infra.local import (
    catalog,
    cluster,
    daemons,
    dockerd,
    frontend,
    image,
    network,
    node,
    nodetls,
    registry,
    tlsfront,
)

MAX_PARALLEL = 8  # node starts: dockerd start-up is CPU-bound
MAX_PARALLEL_DESTROY = 64  # node teardown is mostly waiting on the kernel
FIRST_SLOT = 2  # .1 is the gateway (the bay's router)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LocalInfra(base.InfraDriver):
    name: ClassVar[str] = "local"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self.hosts = daemons.LocalHosts(conf)

    # --- contract --------------------------------------------------------------
    def validate(
        self,
        cluster_template: base.ClusterTemplateView,
        *,
        master_count: int,
        node_count: int,
        existing: int = 0,
    ) -> None:
        catalog.validate(
            self.conf, cluster_template, nodes=master_count + node_count, existing=existing
        )

    def capacity(self) -> int | None:
        return catalog.host_capacity(self.conf)

    def create_nodes(
        self, task: base.ClusterTask, specs: Sequence[base.NodeSpec]
    ) -> list[base.Node]:
        self._check_host()
        state_dir, _ = cluster.dirs(self.conf, task.cluster.uuid)
        existing = {r.name: r for r in node.read_records(state_dir)}
        missing = [s for s in specs if s.name not in existing]
        catalog.validate(self.conf, task.cluster_template, nodes=len(missing))
        if len(existing) + len(missing) > self.conf.local.max_nodes_per_bay:
            raise exceptions.ClusterOperationFailed(
                reason=f"A local bay holds at most {self.conf.local.max_nodes_per_bay} nodes."
            )
        plan = cluster.ensure_network(self.conf, task)
        registries: tuple[str, ...] = ()
        if task.cluster_template.registry_enabled:
            task.progress("Starting the bay registry")
            state_dir, run_dir = cluster.dirs(self.conf, task.cluster.uuid)
            registries = (
                registry.ensure(
                    self.conf,
                    cluster_uuid=task.cluster.uuid,
                    plan=plan,
                    state_dir=state_dir,
                    run_dir=run_dir,
                ),
            )
        ctx = self._context(task, plan, registries)
        records = self._allocate(task, specs, existing, plan.subnet)
        self._build_all(task, ctx, specs, records)
        return self.list_nodes(task)

    def delete_nodes(self, task: base.ClusterTask, names: Sequence[str]) -> None:
        state_dir, _ = cluster.dirs(self.conf, task.cluster.uuid)
        records = {r.name: r for r in node.read_records(state_dir)}
        self._parallel(
            [functools.partial(self._destroy, task, n, records) for n in names],
            width=MAX_PARALLEL_DESTROY,
        )
        nodes = task.state.setdefault(cluster.STATE, {}).setdefault("nodes", {})
        for name in names:
            nodes.pop(name, None)
        if not node.read_records(state_dir):
            cluster.teardown(self.conf, task.cluster.uuid)
            mine = task.state.get(cluster.STATE, {})
            mine.pop("subnet", None)
            mine.pop("plan", None)  # its external /24 went back to the pool
        task.checkpoint()

    def delete_cluster(self, task: base.ClusterTask) -> None:
        state_dir, _ = cluster.dirs(self.conf, task.cluster.uuid)
        names = {r.name for r in node.read_records(state_dir)}
        names |= set(cluster.leftover_netns(task.cluster.uuid))
        records = {r.name: r for r in node.read_records(state_dir)}
        self._parallel(
            [functools.partial(self._destroy, task, n, records) for n in sorted(names)],
            width=MAX_PARALLEL_DESTROY,
        )
        cluster.teardown(self.conf, task.cluster.uuid)
        task.state.pop(cluster.STATE, None)
        task.checkpoint()

    def list_nodes(self, task: base.ClusterTask) -> list[base.Node]:
        state_dir, _ = cluster.dirs(self.conf, task.cluster.uuid)
        records = sorted(node.read_records(state_dir), key=_order)
        plan = cluster.plan_of(task)
        return [
            base.Node(
                name=r.name,
                role=r.role,
                address=r.address,
                nodegroup=r.nodegroup,
                floating_ip=plan.floating_ip(r.address) if plan is not None else None,
            )
            for r in records
        ]

    def node_memory_mb(self, task: base.ClusterTask, node: base.Node) -> int | None:
        """The memory of the node's flavor (its cgroup limit)."""
        model = task.cluster_template
        name = model.master_flavor_id or model.flavor_id
        if node.role is not base.Role.MASTER:
            name = model.flavor_id
        try:
            return catalog.flavor(self.conf, name).memory_mb
        except exceptions.InvalidParameterValue:  # the flavor left [local] flavors since
            return None

    def registry_address(self, task: base.ClusterTask) -> str | None:
        plan = cluster.plan_of(task)
        if not task.cluster_template.registry_enabled or plan is None:
            return None
        return registry.address(self.conf, plan)

    def api_frontend(
        self, task: base.ClusterTask, masters: Sequence[base.Node], *, port: int | None = None
    ) -> str | None:
        """A forwarder in the bay's router in front of every master's API (dockerd's, or
        `port`; see frontend.py); none for a single master."""
        plan = cluster.plan_of(task)
        if len(masters) < 2 or plan is None:
            return None
        if port is None:
            port = dockerd.PLAIN_PORT if task.cluster_template.tls_disabled else dockerd.TLS_PORT
        state_dir, run_dir = cluster.dirs(self.conf, task.cluster.uuid)
        return frontend.ensure(
            cluster_uuid=task.cluster.uuid,
            plan=plan,
            port=port,
            backends=[f"{m.address}:{port}" for m in masters],
            state_dir=state_dir,
            run_dir=run_dir,
            allowed=catalog.lb_allowed_cidrs(task.cluster_template),
        )

    # --- upgrade: replacement nodes from the target template -------------------------
    def check_upgrade(
        self, current: base.ClusterTemplateView, target: base.ClusterTemplateView
    ) -> None:
        """A node's image is a catalog name and its engine the host's dockerd configured
        from the template (labels, DNS, proxies, volume size), so any template the catalog
        honours can build replacements, unless it changes what the bay's nodes share: TLS
        (one set of client credentials reaches every node) and the bay registry."""
        catalog.validate(self.conf, target, nodes=0)
        for field, what in (("tls_disabled", "TLS"), ("registry_enabled", "the bay registry")):
            if getattr(current, field) != getattr(target, field):
                raise exceptions.InvalidParameterValue(
                    err=f"An upgrade cannot change {field} ({what} is shared by every node "
                    "of the bay)."
                )

    def create_nodes_from(
        self,
        task: base.ClusterTask,
        specs: Sequence[base.NodeSpec],
        template: base.ClusterTemplateView,
    ) -> list[base.Node]:
        return self.create_nodes(base.WithTemplate(task, template), specs)

    # --- TLS rotation: every node's TLS front reloads, nothing restarts --------------
    def supports_tls_rotation(self, cluster_template: base.ClusterTemplateView) -> bool:
        del cluster_template
        return True

    def set_node_trust(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], trust: bytes
    ) -> None:
        if task.cluster_template.tls_disabled:
            return
        layouts = self._tls_layouts(task, nodes)
        for name, layout in layouts.items():
            if nodetls.write_trust(layout, trust) or nodetls.loaded(layout)["digest"] != (
                tlsfront.digest(layout.tls)
            ):
                nodetls.reload(layout, node=name)

    def reissue_node_certificates(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], *, ca_cert: bytes, ca_key: bytes
    ) -> None:
        if task.cluster_template.tls_disabled:
            return
        layouts = self._tls_layouts(task, nodes)
        state_dir, _ = cluster.dirs(self.conf, task.cluster.uuid)
        records = {r.name: r for r in node.read_records(state_dir)}
        plan = cluster.plan_of(task)
        if plan is None:
            raise exceptions.ClusterOperationFailed(reason="The bay has no network.")
        for done, (name, layout) in enumerate(layouts.items(), 1):
            if not nodetls.server_cert_issued_by(layout, ca_cert):
                record = records[name]
                nodetls.write_server_cert(
                    layout,
                    ca_key=ca_key,
                    ca_cert=ca_cert,
                    hostname=f"bay-{network.short_id(task.cluster.uuid)}-{name}",
                    address=record.address,
                    extra_addresses=node.cert_addresses(plan, record),
                )
            if nodetls.loaded(layout)["digest"] != tlsfront.digest(layout.tls):
                nodetls.reload(layout, node=name)
            task.progress(f"{done}/{len(layouts)} node certificates issued by the new CA")

    def _tls_layouts(
        self, task: base.ClusterTask, nodes: Sequence[base.Node]
    ) -> dict[str, dockerd.Layout]:
        """The nodes' layouts, once every node is found to serve TLS from its front."""
        state_dir, run_dir = cluster.dirs(self.conf, task.cluster.uuid)
        layouts = {}
        for n in nodes:
            layout = dockerd.Layout(state=state_dir / n.name, run=run_dir / n.name)
            if node.legacy_tls(layout):
                raise exceptions.ClusterOperationFailed(
                    reason=f"Node {n.name} serves TLS from its dockerd (it was made before "
                    "nodes had a reloadable TLS front), which cannot change certificates "
                    "without stopping its containers; replace the node (scale down and up) "
                    "or the bay first."
                )
            if nodetls.running_pid(layout) is None:
                raise exceptions.ClusterOperationFailed(
                    reason=f"The TLS front of node {n.name} is down."
                )
            layouts[n.name] = layout
        return layouts

    # --- helpers ---------------------------------------------------------------
    def _check_host(self) -> None:
        for tool in (self.conf.local.dockerd, self.conf.local.docker_init, "nsenter", "iptables"):
            if shutil.which(tool) is None:
                raise exceptions.ClusterOperationFailed(
                    reason=f"{tool} is not installed on this host."
                )
        dockerd.check_host()

    def _context(
        self,
        task: base.ClusterTask,
        plan: network.Plan,
        registries: tuple[str, ...] = (),
    ) -> node.ClusterContext:
        model = task.cluster_template
        creds = cluster.credentials(self.conf, task)
        state_dir, run_dir = cluster.dirs(self.conf, task.cluster.uuid)
        archive = (
            image.ensure_archive(cluster.state_root(self.conf), self.conf.local.busybox)
            if self.conf.local.load_base_image
            else None
        )
        return node.ClusterContext(
            cluster_uuid=task.cluster.uuid,
            state_dir=state_dir,
            run_dir=run_dir,
            plan=plan,
            ca_cert=creds.signing_ca,
            ca_key=pki.decrypt_key(creds.ca_key, pki.key_secret(self.conf)),
            trust=creds.trust,
            tls=not model.tls_disabled,
            dns=(model.dns_nameserver,) if model.dns_nameserver else (),
            labels=tuple(f"{k}={v}" for k, v in sorted(model.labels.items())),
            env=_daemon_env(model, registries),
            volume_gb=model.docker_volume_size,
            dockerd_bin=self.conf.local.dockerd,
            docker_init_bin=self.conf.local.docker_init,
            start_timeout=self.conf.local.dockerd_start_timeout,
            image_archive=archive,
            insecure_registries=registries,
            node_routes=(
                catalog.pool(self.conf, "external_pool"),
                catalog.pool(self.conf, "subnet_pool"),
            ),
        )

    def _allocate(
        self,
        task: base.ClusterTask,
        specs: Sequence[base.NodeSpec],
        existing: dict[str, node.Record],
        subnet: ipaddress.IPv4Network,
    ) -> dict[str, node.Record]:
        """Give each new node the lowest free address; record it before building."""
        recorded = task.state.setdefault(cluster.STATE, {}).setdefault("nodes", {})
        records = dict(existing)
        for name, data in recorded.items():  # reuse a takeover's earlier choice
            if name not in records:
                records[name] = node.Record.of(name, data)
        taken = {r.slot for r in records.values()}
        # .1 is the gateway; a slot beyond .253 would have no floating IP (network.Plan)
        last = min(subnet.num_addresses - 2, network.LAST_NODE_OFFSET)
        for spec in specs:
            if spec.name in records:
                continue
            slot = next((s for s in range(FIRST_SLOT, last + 1) if s not in taken), None)
            if slot is None:
                raise exceptions.ClusterOperationFailed(
                    reason=f"The bay's network {subnet} has no address left for {spec.name}."
                )
            taken.add(slot)
            records[spec.name] = node.Record(
                name=spec.name,
                role=spec.role,
                address=str(subnet[slot]),
                slot=slot,
                nodegroup=spec.nodegroup,
            )
        for name, r in records.items():
            recorded[name] = r.to_dict()
        task.checkpoint()
        return records

    def _build_all(
        self,
        task: base.ClusterTask,
        ctx: node.ClusterContext,
        specs: Sequence[base.NodeSpec],
        records: dict[str, node.Record],
    ) -> None:
        jobs: list[Callable[[], None]] = [
            functools.partial(
                node.build, ctx, records[s.name], catalog.flavor(self.conf, s.flavor), s.profile
            )
            for s in specs
        ]
        self._parallel(
            jobs, progress=lambda done: task.progress(f"{done}/{len(specs)} nodes created")
        )

    def _destroy(self, task: base.ClusterTask, name: str, records: dict[str, node.Record]) -> None:
        state_dir, run_dir = cluster.dirs(self.conf, task.cluster.uuid)
        record = records.get(name)
        recorded = task.state.get(cluster.STATE, {}).get("nodes", {}).get(name, {})
        slot = record.slot if record else recorded.get("slot")
        node.destroy(
            cluster_uuid=task.cluster.uuid,
            state_dir=state_dir,
            run_dir=run_dir,
            name=name,
            slot=slot,
        )

    @staticmethod
    def _parallel(
        jobs: Sequence[Callable[[], None]],
        progress: Callable[[int], None] | None = None,
        *,
        width: int = MAX_PARALLEL,
    ) -> None:
        """Run jobs on a few threads; report progress from this thread; raise the first error
        once all have finished (so nothing is left half-built behind our back)."""
        if not jobs:
            return
        errors: list[BaseException] = []
        with concurrent.futures.ThreadPoolExecutor(min(width, len(jobs))) as pool:
            futures = [pool.submit(job) for job in jobs]
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                if (exc := future.exception()) is not None:
                    errors.append(exc)
                elif progress is not None and not errors:
                    progress(done)
        if errors:
            raise errors[0]


def _order(record: node.Record) -> tuple[int, int, str]:
    index = record.name.rsplit("-", 1)[-1]
    return (
        0 if record.role is base.Role.MASTER else 1,
        int(index) if index.isdigit() else 0,
        record.name,
    )


def _daemon_env(
    model: base.ClusterTemplateView, registries: tuple[str, ...] = ()
) -> dict[str, str]:
    # A clean environment: the conductor's own (proxy CA bundles, ...) is not the node's.
    # Swarm agents skip pulling service images that exist locally, unless the bay has a
    # registry to pull from.
    env = {"PATH": PATH, "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "0" if registries else "1"}
    no_proxy = model.no_proxy
    if registries and (model.http_proxy or model.https_proxy):
        # The bay registry is on-link: never through a proxy.
        no_proxy = ",".join(filter(None, [no_proxy, *(r.split(":")[0] for r in registries)]))
    for name, value in (
        ("HTTP_PROXY", model.http_proxy),
        ("HTTPS_PROXY", model.https_proxy),
        ("NO_PROXY", no_proxy),
    ):
        if value:
            env[name] = env[name.lower()] = value
    return env
