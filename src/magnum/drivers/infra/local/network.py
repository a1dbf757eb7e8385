# SPDX-License-Identifier: Apache-2.0
"""Bay networks on the host: one Linux bridge and /24 per bay, one network namespace
and veth pair per node, one iptables FORWARD rule per bridge.

Interface names are limited to 15 characters, so they are derived from a 10-hex-digit
short id of the bay uuid: bridge `mbr<id>`, host-side veth `mv<id><slot hex>`. Inside a
node the interface is always `eth0`. Nodes get no default route: with one, registry
look-ups by docker wait for DNS timeouts instead of failing at once.
"""

from __future__ import annotations

import ipaddress
import json
import pathlib

from magnum.common import exceptions
from magnum.drivers.infra.local import host

NETNS_DIR = pathlib.Path("/run/netns")
SYS_NET = pathlib.Path("/sys/class/net")
NETNS_PREFIX = "mgn-"


def short_id(cluster_uuid: str) -> str:
    return cluster_uuid.replace("-", "")[:10]


def bridge_name(cluster_uuid: str) -> str:
    return f"mbr{short_id(cluster_uuid)}"


def veth_name(cluster_uuid: str, slot: int) -> str:
    return f"mv{short_id(cluster_uuid)}{slot:02x}"


def netns_name(cluster_uuid: str, node: str) -> str:
    return f"{NETNS_PREFIX}{short_id(cluster_uuid)}-{node}"


def rule_comment(cluster_uuid: str) -> str:
    return f"magnum bay {cluster_uuid}"


def link_exists(name: str) -> bool:
    return (SYS_NET / name).exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


# --- subnet allocation --------------------------------------------------------
def _networks_of(addr_json: str) -> set[ipaddress.IPv4Network]:
    found = set()
    for link in json.loads(addr_json or "[]"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet":
                found.add(
                    ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
                )
    return found


def used_networks() -> set[ipaddress.IPv4Network]:
    """IPv4 networks on the host's links, routes and on any foreign network namespace."""
    used = _networks_of(host.run("ip", "-j", "-4", "addr", "show").stdout)
    for route in json.loads(host.run("ip", "-j", "-4", "route", "show").stdout or "[]"):
        dst = route.get("dst", "default")
        if dst != "default":
            used.add(ipaddress.IPv4Network(dst, strict=False))
    for ns in NETNS_DIR.iterdir() if NETNS_DIR.exists() else ():
        if not ns.name.startswith(NETNS_PREFIX):  # ours sit on a bridge already counted
            out = host.run("ip", "-n", ns.name, "-j", "-4", "addr", "show", check=False)
            used |= _networks_of(out.stdout if out.returncode == 0 else "")
    return used


def pick_subnet(
    pool: ipaddress.IPv4Network, used: set[ipaddress.IPv4Network]
) -> ipaddress.IPv4Network:
    for candidate in pool.subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise exceptions.ClusterOperationFailed(reason=f"No free /24 left in the subnet pool {pool}.")


def bridge_subnet(name: str) -> ipaddress.IPv4Network | None:
    if not link_exists(name):
        return None
    nets = _networks_of(host.run("ip", "-j", "-4", "addr", "show", "dev", name).stdout)
    return min(nets) if nets else None


# --- bridge and firewall -------------------------------------------------------
def ensure_bridge(name: str, subnet: ipaddress.IPv4Network) -> None:
    if not link_exists(name):
        host.run("ip", "link", "add", name, "type", "bridge")
    if bridge_subnet(name) != subnet:
        host.run("ip", "addr", "replace", f"{gateway(subnet)}/{subnet.prefixlen}", "dev", name)
    host.run("ip", "link", "set", name, "up")


def gateway(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    return subnet.network_address + 1


def _rule(bridge: str, comment: str) -> list[str]:
    return [
        "FORWARD",
        "-i",
        bridge,
        "-o",
        bridge,
        "-m",
        "comment",
        "--comment",
        comment,
        "-j",
        "ACCEPT",
    ]


def ensure_forward_rule(bridge: str, comment: str) -> None:
    # Bridged frames traverse FORWARD when bridge-nf-call-iptables is on; a host whose
    # FORWARD policy is DROP (any host running docker) would silently drop node traffic.
    if host.run("iptables", "-w", "-C", *_rule(bridge, comment), check=False).returncode != 0:
        host.run(
            "iptables", "-w", "-I", *_rule(bridge, comment)[:1], "1", *_rule(bridge, comment)[1:]
        )


def delete_bridge(bridge: str, comment: str) -> None:
    while host.run("iptables", "-w", "-D", *_rule(bridge, comment), check=False).returncode == 0:
        pass
    if link_exists(bridge):
        host.run("ip", "link", "del", bridge)


# --- nodes ---------------------------------------------------------------------
def _node_has_address(ns: str, address: str) -> bool:
    out = host.run("ip", "-n", ns, "-j", "-4", "addr", "show", "dev", "eth0", check=False)
    if out.returncode != 0:
        return False
    return any(
        info.get("local") == address
        for link in json.loads(out.stdout or "[]")
        for info in link.get("addr_info", [])
    )


def ensure_node_network(*, ns: str, veth: str, bridge: str, address: str, prefixlen: int) -> None:
    """Namespace `ns` with eth0 at `address`, wired to `bridge`; rebuilt if half made."""
    if netns_exists(ns) and link_exists(veth) and _node_has_address(ns, address):
        return
    delete_node_network(ns=ns, veth=veth)
    host.run("ip", "netns", "add", ns)
    host.run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    host.run("ip", "link", "set", veth, "master", bridge, "up")
    batch = f"link set lo up\naddr add {address}/{prefixlen} dev eth0\nlink set eth0 up\n"
    host.run("ip", "-n", ns, "-b", "-", input_=batch)
    # The address may be a removed node's (the lowest free one is reused): the host still
    # knows that node's MAC for it, and would talk to it for half a minute.
    host.run("ip", "neigh", "flush", "to", address, "dev", bridge, check=False)


def delete_node_network(*, ns: str, veth: str | None) -> None:
    if netns_exists(ns):
        host.run("ip", "netns", "del", ns)
    if veth is not None and link_exists(veth):  # deleting the netns usually takes the pair with it
        host.run("ip", "link", "del", veth, check=False)
