# SPDX-License-Identifier: Apache-2.0
"""The local "cloud catalog" (flavors, images, networks, keypairs from [local]) and the
checks a baymodel must pass before the local driver builds anything.

Every baymodel field is either honoured or refused here with a 400: none is ignored.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib
import shutil

from oslo_config import cfg

from magnum.common import exceptions
from magnum.drivers import base
from magnum.drivers.infra.local import network


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Flavor:
    name: str
    memory_mb: int
    cpus: int


def _bad(err: str) -> exceptions.InvalidParameterValue:
    return exceptions.InvalidParameterValue(err=err)


def parse_flavor(text: str) -> Flavor:
    try:
        name, memory, cpus = text.split(":")
        flavor = Flavor(name=name.strip(), memory_mb=int(memory), cpus=int(cpus))
    except ValueError:
        raise exceptions.DriverError(
            reason=f"[local] flavors: '{text}' is not name:memory MB:cpus."
        ) from None
    if flavor.memory_mb < 64 or flavor.cpus < 1:
        raise exceptions.DriverError(reason=f"[local] flavors: '{text}' is too small.")
    return flavor


def flavors(conf: cfg.ConfigOpts) -> dict[str, Flavor]:
    return {f.name: f for f in map(parse_flavor, conf.local.flavors)}


def flavor(conf: cfg.ConfigOpts, name: str | None) -> Flavor:
    known = flavors(conf)
    chosen = name or conf.local.default_flavor
    if chosen not in known:
        raise _bad(f"Flavor {chosen} not found. Available: {', '.join(sorted(known))}.")
    return known[chosen]


def mem_available_mb() -> int:
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def loop_devices_usable() -> bool:
    return pathlib.Path("/dev/loop-control").exists() and shutil.which("mkfs.ext4") is not None


def host_capacity(conf: cfg.ConfigOpts) -> int:
    """Nodes of all bays together this host may run ([local] max_nodes_total, or what its
    memory holds at node_memory_estimate MB a node)."""
    if conf.local.max_nodes_total:
        return int(conf.local.max_nodes_total)
    return mem_total_mb() // int(conf.local.node_memory_estimate)


def mem_total_mb() -> int:
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0


def validate(
    conf: cfg.ConfigOpts, model: base.ClusterTemplateView, *, nodes: int, existing: int = 0
) -> None:
    """Raises InvalidParameterValue naming the first field this host cannot honour, for a
    bay of `nodes` nodes of which `existing` are built already."""
    _check_counts(conf, nodes, existing)
    flavor(conf, model.flavor_id)
    flavor(conf, model.master_flavor_id or model.flavor_id)
    _check_catalog(conf, model)
    _check_unsupported(conf, model)
    _check_values(model)


def _check_counts(conf: cfg.ConfigOpts, nodes: int, existing: int) -> None:
    limit = conf.local.max_nodes_per_bay
    if nodes > limit:
        raise _bad(f"A bay on the local driver holds at most {limit} nodes; {nodes} asked.")
    more = nodes - existing
    need = more * conf.local.node_memory_estimate
    if more > 0 and need > (free := mem_available_mb()):
        raise _bad(
            f"This host cannot hold {more} more nodes: about {need} MB needed, {free} MB available."
        )


def _check_catalog(conf: cfg.ConfigOpts, model: base.ClusterTemplateView) -> None:
    images = conf.local.images
    if model.image_id is not None and model.image_id not in images:
        raise _bad(f"Image {model.image_id} not found. Available: {', '.join(sorted(images))}.")
    networks = conf.local.networks
    if model.external_network_id is not None and model.external_network_id not in networks:
        raise _bad(
            f"Network {model.external_network_id} not found. Available: {', '.join(networks)}."
        )
    keypairs = conf.local.keypairs
    if keypairs and model.keypair_id is not None and model.keypair_id not in keypairs:
        raise _bad(f"Keypair {model.keypair_id} not found.")


def _check_unsupported(conf: cfg.ConfigOpts, model: base.ClusterTemplateView) -> None:
    fixed_network(conf, model)
    if model.registry_enabled and shutil.which(conf.local.registry) is None:
        raise _bad(
            f"registry_enabled needs {conf.local.registry} (Debian's docker-registry package) "
            "on the conductor host."
        )
    if model.volume_driver:
        raise _bad(f"Volume driver {model.volume_driver} is not supported by the local driver.")
    if model.server_type not in (None, "", "vm"):
        raise _bad(f"Server type {model.server_type} is not supported by the local driver; use vm.")
    if model.docker_volume_size is not None and not loop_devices_usable():
        raise _bad("docker_volume_size needs loop devices and mkfs.ext4 on the conductor host.")


def pool(conf: cfg.ConfigOpts, option: str) -> ipaddress.IPv4Network:
    pool = ipaddress.ip_network(getattr(conf.local, option))
    if not isinstance(pool, ipaddress.IPv4Network) or pool.prefixlen > 24:
        raise exceptions.DriverError(reason=f"[local] {option} must be IPv4, /24 or larger.")
    return pool


def fixed_network(
    conf: cfg.ConfigOpts, model: base.ClusterTemplateView
) -> ipaddress.IPv4Network | None:
    """The template's fixed_network as the bay's CIDR (None: it names none); raises
    InvalidParameterValue when this host cannot use it."""
    if not model.fixed_network:
        return None
    try:
        net = network.parse_fixed_network(model.fixed_network)
    except ValueError as exc:
        raise exceptions.InvalidParameterValue(err=str(exc)) from None
    external = pool(conf, "external_pool")
    if net.overlaps(external):
        raise exceptions.InvalidParameterValue(
            err=f"fixed_network {net} overlaps the external network's pool {external}."
        )
    for used in sorted(network.host_networks()):
        if net.overlaps(used):
            raise exceptions.InvalidParameterValue(
                err=f"fixed_network {net} overlaps {used}, a network of the host itself."
            )
    return net


LB_ALLOWED_CIDRS = "master_lb_allowed_cidrs"


def lb_allowed_cidrs(model: base.ClusterTemplateView) -> list[str]:
    """The label master_lb_allowed_cidrs as CIDRs (comma separated; none: any source)."""
    text = model.labels.get(LB_ALLOWED_CIDRS, "")
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            net = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise _bad(f"Label {LB_ALLOWED_CIDRS}: {part!r} is not a CIDR.") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise _bad(f"Label {LB_ALLOWED_CIDRS}: {part} is not IPv4.")
        out.append(str(net))
    return out


def _check_values(model: base.ClusterTemplateView) -> None:
    lb_allowed_cidrs(model)
    if model.docker_volume_size is not None and model.docker_volume_size < 1:
        raise _bad("docker_volume_size must be at least 1 (GB).")
    if model.dns_nameserver:
        try:
            ipaddress.ip_address(model.dns_nameserver)
        except ValueError:
            raise _bad(f"dns_nameserver {model.dns_nameserver} is not an IP address.") from None
    for key, value in model.labels.items():
        if not key or "=" in key or "\n" in key + value:
            raise _bad(f"Label {key!r} cannot become a docker engine label.")
