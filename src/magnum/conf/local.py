# SPDX-License-Identifier: Apache-2.0
"""Settings of the local infrastructure driver ([local] section).

The local driver builds bay nodes on this machine: one network namespace, cgroup
and dockerd per node. Its "cloud catalog" (flavors, images, networks, keypairs)
is configuration, since there is no Nova/Glance/Neutron to ask.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "local"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "state_dir",
        help="Directory holding bay nodes (data roots, logs, certificates). "
        "Defaults to <[DEFAULT] state_path>/bays.",
    ),
    cfg.StrOpt(
        "run_dir",
        default="/run/magnum",
        help="Directory for node runtime files (exec roots, sockets, pid files). Kept short "
        "because unix socket paths are limited to 107 bytes.",
    ),
    cfg.StrOpt(
        "subnet_pool",
        default="10.250.0.0/16",
        help="IPv4 pool from which every bay whose template names no fixed_network gets a "
        "/24 of its own (gateway and node addresses), which the host routes through the "
        "bay's router.",
    ),
    cfg.StrOpt(
        "external_pool",
        default="10.249.0.0/16",
        help="IPv4 pool of the external network (every name in [local] networks): each bay's "
        "router gets a /24 of it, .1 its external address (the API front and registry of "
        "bays with a fixed_network), .254 the host's side of the link, .N the floating IP "
        "of the bay's node .N when the bay's network is its template's fixed_network.",
    ),
    cfg.ListOpt(
        "flavors",
        default=["m1.tiny:256:1", "m1.small:512:1", "m1.medium:1024:1", "m1.large:2048:2"],
        help="Flavors as name:memory MB:cpus. The node cgroup gets that memory limit and "
        "CPU quota.",
    ),
    cfg.StrOpt(
        "default_flavor",
        default="m1.small",
        help="Flavor used when the baymodel names none.",
    ),
    cfg.DictOpt(
        "images",
        default={
            "fedora-atomic": "fedora-atomic",
            "fedora-atomic-latest": "fedora-atomic",
            "swarm-local": "fedora-atomic",
        },
        help="Images as name:os_distro. Every node runs the host's dockerd whatever the "
        "image; the name only has to be known.",
    ),
    cfg.ListOpt(
        "networks",
        default=["public"],
        help="External network names a baymodel may name (external_network_id).",
    ),
    cfg.ListOpt(
        "keypairs",
        default=[],
        help="Keypair names a baymodel may name. Empty accepts any name: nodes run no SSH "
        "server, so the keypair is recorded but grants nothing.",
    ),
    cfg.IntOpt(
        "max_nodes_per_bay",
        default=50,
        min=1,
        max=250,
        help="Largest number of nodes (masters + workers) in one bay.",
    ),
    cfg.IntOpt(
        "max_nodes_total",
        default=0,
        min=0,
        help="Nodes of all bays together this host may run (the host-wide budget). 0 derives "
        "it from the host's memory: MemTotal / node_memory_estimate.",
    ),
    cfg.IntOpt(
        "node_memory_estimate",
        default=60,
        min=1,
        help="MB of host memory an idle node is expected to use; bays that would not fit "
        "in MemAvailable are refused.",
    ),
    cfg.StrOpt("dockerd", default="dockerd", help="dockerd binary run on every node."),
    cfg.StrOpt(
        "docker_init",
        default="docker-init",
        help="tini binary started in front of every dockerd to reap orphaned shims.",
    ),
    cfg.FloatOpt(
        "dockerd_start_timeout",
        default=30.0,
        min=1.0,
        help="Seconds a node's dockerd may take to answer on its socket.",
    ),
    cfg.StrOpt(
        "busybox",
        default="/bin/busybox",
        help="Static busybox binary from which the local/busybox:latest image is built.",
    ),
    cfg.StrOpt(
        "registry",
        default="docker-registry",
        help="Registry binary (Debian's docker-registry, distribution 2.x) run for every bay "
        "whose baymodel has registry_enabled.",
    ),
    cfg.PortOpt(
        "registry_port",
        default=5000,
        help="Port of a bay's registry on the host side of the bay's bridge (<gateway>:port).",
    ),
    cfg.BoolOpt(
        "load_base_image",
        default=True,
        help="Load local/busybox:latest into every node when it is created.",
    ),
]
