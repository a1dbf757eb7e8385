# SPDX-License-Identifier: Apache-2.0
"""One bay node: build it step by step (each step finds what exists first) and tear it
down completely (processes, mounts, network, shim sockets, cgroups, files)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import pathlib
import shutil
from typing import TYPE_CHECKING, Any

from magnum.common import exceptions, lazy
from magnum.drivers import base
from magnum.drivers.infra.local import (
    catalog,
    cgroups,
    dockerd,
    holder,
    host,
    image,
    network,
    nodetls,
    spawn,
)

if TYPE_CHECKING:
    import docker
    import docker.errors
else:
    docker = lazy.module("docker")


API_VERSION = "1.41"  # dockerd 20.10's; newer daemons still accept it


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """A node as kept in <node state dir>/node.json."""

    name: str
    role: base.Role
    address: str
    slot: int
    nodegroup: str

    def to_json(self) -> str:
        return json.dumps(self.to_dict() | {"name": self.name})

    def to_dict(self) -> dict[str, object]:
        return {
            "role": str(self.role),
            "address": self.address,
            "slot": self.slot,
            "nodegroup": self.nodegroup,
        }

    @classmethod
    def of(cls, name: str, data: dict[str, Any]) -> Record:
        role = base.Role(data["role"])
        return cls(
            name=name,
            role=role,
            address=data["address"],
            slot=int(data["slot"]),
            # records written before nodegroups existed belong to their role's default group
            nodegroup=data.get("nodegroup") or base.DEFAULT_NODEGROUP[role],
        )

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        return cls.of(data["name"], data)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClusterContext:
    """Everything a node build needs to know about its bay."""

    cluster_uuid: str
    state_dir: pathlib.Path  # <[local] state_dir>/<bay short id>
    run_dir: pathlib.Path  # <[local] run_dir>/<bay short id>
    plan: network.Plan
    ca_cert: bytes  # the signing CA
    ca_key: bytes  # decrypted, in memory only
    trust: bytes  # what nodes verify clients against: CA certificates and their CRLs
    tls: bool
    dns: tuple[str, ...]
    labels: tuple[str, ...]
    env: dict[str, str]
    volume_gb: int | None
    dockerd_bin: str
    docker_init_bin: str
    start_timeout: float
    image_archive: pathlib.Path | None
    insecure_registries: tuple[str, ...] = ()
    # what nodes reach through the gateway (the external and subnet pools): never a default
    node_routes: tuple[ipaddress.IPv4Network, ...] = ()

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return self.plan.subnet

    @property
    def short_id(self) -> str:
        return network.short_id(self.cluster_uuid)

    def layout(self, name: str) -> dockerd.Layout:
        return dockerd.Layout(state=self.state_dir / name, run=self.run_dir / name)

    def hostname(self, name: str) -> str:
        return f"bay-{self.short_id}-{name}"

    def extra_addresses(self, record: Record) -> tuple[str, ...]:
        return cert_addresses(self.plan, record)

    def reachable(self, record: Record) -> str:
        """Where the host reaches the node: its floating IP, or its own address."""
        return self.plan.floating_ip(record.address) or record.address


def cert_addresses(plan: network.Plan, record: Record) -> tuple[str, ...]:
    """The names a node's server certificate carries beside its address: its floating
    IP, and for masters the bay's API front (frontend.py) too."""
    extra = []
    if (fip := plan.floating_ip(record.address)) is not None:
        extra.append(fip)
    if record.role is base.Role.MASTER:
        extra.append(str(plan.front_address))
        if plan.front_address != plan.gateway:
            extra.append(str(plan.gateway))
    return tuple(extra)


def read_records(state_dir: pathlib.Path) -> list[Record]:
    if not state_dir.exists():
        return []
    return [Record.from_json(p.read_text()) for p in sorted(state_dir.glob("*/node.json"))]


def _ensure_volume(ctx: ClusterContext, layout: dockerd.Layout) -> None:
    """A loop-mounted ext4 file of docker_volume_size GB as the node's data root."""
    layout.data.mkdir(parents=True, exist_ok=True)
    if ctx.volume_gb is None or os.path.ismount(layout.data):
        return
    img = layout.state / "docker.img"
    if not img.exists():
        # made aside and renamed once formatted: a conductor killed in mkfs leaves no
        # docker.img that a takeover would try to mount
        fresh = img.with_name("docker.img.new")
        with fresh.open("wb") as f:
            f.truncate(ctx.volume_gb * 1024**3)  # sparse: costs no disk until written
        host.run("mkfs.ext4", "-q", "-F", "-E", "nodiscard", str(fresh))
        fresh.replace(img)
    host.run("mount", "-o", "loop", str(img), str(layout.data))


def _ensure_certs(ctx: ClusterContext, layout: dockerd.Layout, record: Record) -> None:
    """The node's server certificate (made once) and its trust (kept up to date)."""
    if not ctx.tls:
        return
    # the key is written first, the certificate last: with a certificate the pair is whole
    if not (layout.tls / "cert.pem").exists():
        nodetls.write_server_cert(
            layout,
            ca_key=ctx.ca_key,
            ca_cert=ctx.ca_cert,
            hostname=ctx.hostname(record.name),
            address=record.address,
            extra_addresses=ctx.extra_addresses(record),
        )
    nodetls.write_trust(layout, ctx.trust)


def legacy_tls(layout: dockerd.Layout) -> bool:
    """Whether the node's running dockerd serves TLS itself (a node made before the TLS
    front): it keeps doing so until the node is rebuilt, and cannot reload its files."""
    return dockerd.running_pid(layout) is not None and dockerd.serves_tls_itself(layout)


def _settings(
    ctx: ClusterContext, record: Record, profile: base.NodeProfile, *, legacy: bool
) -> dockerd.Settings:
    return dockerd.Settings(
        networking=profile.engine_networking,
        # Inside a node whose /run is its own, dockerd also answers where every tool looks.
        extra_sockets=("/run/docker.sock",) if "/run" in profile.private_dirs else (),
        address=record.address,
        tls_in_daemon=legacy,
        # A docker0 subnet of its own per node keeps `docker network inspect` unambiguous.
        bip=f"172.31.{record.slot}.1/24",
        cgroup_parent=f"/{cgroups.node_path(ctx.short_id, record.name)}/ctr",
        tls=ctx.tls,
        dns=ctx.dns,
        labels=ctx.labels,
        insecure_registries=ctx.insecure_registries,
    )


def _load_image(ctx: ClusterContext, layout: dockerd.Layout) -> None:
    if ctx.image_archive is None:
        return
    client = docker.DockerClient(
        base_url=f"unix://{layout.socket}", version=API_VERSION, timeout=60
    )
    try:
        try:
            client.images.get(image.TAG)
        except docker.errors.ImageNotFound:
            client.images.load(ctx.image_archive.read_bytes())
    except docker.errors.DockerException as exc:
        raise exceptions.ClusterOperationFailed(
            reason=f"Loading {image.TAG} into a node failed: {exc}"
        ) from exc
    finally:
        client.close()


def build(
    ctx: ClusterContext,
    record: Record,
    flavor: catalog.Flavor,
    profile: base.NodeProfile = base.DEFAULT_PROFILE,
) -> None:
    """Make sure the node exists and its dockerd answers with the base image loaded; with
    the profile's private directories, inside a mount namespace of its own (holder.py)."""
    layout = ctx.layout(record.name)
    layout.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    (layout.state / "node.json").write_text(record.to_json())
    procs = cgroups.create(
        cgroups.node_path(ctx.short_id, record.name), memory_mb=flavor.memory_mb, cpus=flavor.cpus
    )
    ns = network.netns_name(ctx.cluster_uuid, record.name)
    if dockerd.running_pid(layout) is None:
        network.ensure_node_network(
            ns=ns,
            veth=network.veth_name(ctx.cluster_uuid, record.slot),
            router=network.router_name(ctx.cluster_uuid),
            address=record.address,
            subnet=ctx.subnet,
            routes=ctx.node_routes,
        )
    _ensure_volume(ctx, layout)
    legacy = ctx.tls and legacy_tls(layout)
    if not legacy:
        _ensure_certs(ctx, layout, record)
    dockerd.write_config(layout, _settings(ctx, record, profile, legacy=legacy))
    enter: list[str] = []
    if profile.private_dirs:
        enter = holder.enter(
            holder.ensure(
                layout,
                netns=ns,
                hostname=ctx.hostname(record.name),
                cgroup_procs=procs,
                private_dirs=profile.private_dirs,
                dns=ctx.dns,
            )
        )
    pid = dockerd.start(
        layout,
        netns=ns,
        hostname=ctx.hostname(record.name),
        cgroup_procs=procs,
        env=ctx.env,
        dockerd=ctx.dockerd_bin,
        docker_init=ctx.docker_init_bin,
        enter=enter,
    )
    dockerd.wait_ready(layout, node=record.name, init_pid=pid, timeout=ctx.start_timeout)
    if ctx.tls and not legacy:
        nodetls.ensure(
            layout,
            netns=ns,
            address=record.address,
            probe=ctx.reachable(record),
            cgroup_procs=procs,
        )
    _load_image(ctx, layout)


def destroy(
    *,
    cluster_uuid: str,
    state_dir: pathlib.Path,
    run_dir: pathlib.Path,
    name: str,
    slot: int | None,
) -> None:
    """Remove the node and everything it holds; safe on a node that is half gone."""
    layout = dockerd.Layout(state=state_dir / name, run=run_dir / name)
    rel = cgroups.node_path(network.short_id(cluster_uuid), name)
    init_pid = host.read_pid(layout.initpid)
    sockets = dockerd.shim_sockets(cgroups.pids(rel))
    # Children first, so tini can reap them; then tini itself (its parent reaps it).
    keep = {init_pid} if init_pid is not None else set()
    cgroups.kill_all(rel, keep=keep)
    cgroups.kill_all(rel)
    if init_pid is not None:
        dockerd.reap(init_pid)
    if (front := host.read_pid(nodetls.pidfile(layout))) is not None:
        nodetls.reap(front)
    for started in (holder.pidfile(layout), *layout.run.glob("daemon-*.pid")):
        spawn.reap(host.read_pid(started))
    host.unmount_all(layout.state, layout.run)
    _detach_loops(layout.state / "docker.img")
    network.delete_node_network(
        ns=network.netns_name(cluster_uuid, name),
        veth=network.veth_name(cluster_uuid, slot) if slot is not None else None,
    )
    dockerd.remove_sockets(sockets)
    cgroups.remove(rel)
    shutil.rmtree(layout.state, ignore_errors=True)
    shutil.rmtree(layout.run, ignore_errors=True)


def _detach_loops(img: pathlib.Path) -> None:
    if not img.exists():
        return
    out = host.run("losetup", "-j", str(img), check=False).stdout
    for line in out.splitlines():
        host.run("losetup", "-d", line.split(":", 1)[0], check=False)
