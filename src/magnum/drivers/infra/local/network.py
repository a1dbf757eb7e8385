# SPDX-License-Identifier: Apache-2.0
"""Bay networks: a private network per bay behind a router of its own.

Every bay has a *router*: a network namespace `mgn-<id>` holding the bay's segment (a
bridge `br0` with the gateway address, .1 of the bay's network) and one leg (`ext0`) on
a link to the host (`mx<id>` on the host's side), with the router's external address
.1 of a /24 of [local] external_pool that is the bay's alone. Each node is a namespace
`mgn-<id>-<node>` whose `eth0` is plugged into that bridge (veth `mv<id><slot hex>` on
the router's side). The segment is in no routing table of the host, so two bays may use
the same CIDR (a template's `fixed_network`): the host reaches their nodes at floating
IPs, 1:1 NAT in the router (node .N of the bay's network is .N of its external /24).
A bay without fixed_network gets a /24 of [local] subnet_pool that no other bay has,
which the host routes through the router: its nodes' addresses are their own.

Isolation is the router's: it forwards what the host opens towards the nodes (and
their answers), and a node's new connection only to the router's own services (API
front, registry: router_accept) and to the bay's own floating IPs; everything else is
dropped by rules whose counters `drop_counts` reads. The host drops anything forwarded
to or from the link and any connection the router would open to it. Nodes get no
default route (with one, registry look-ups by docker wait for DNS timeouts instead of
failing at once), only the external pool and the subnet pool through the gateway.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import pathlib
import shlex
from collections.abc import Sequence
from typing import Any

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
        if not ns.name.startswith(NETNS_PREFIX):  # ours: routed from the host, or private
            out = host.run("ip", "-n", ns.name, "-j", "-4", "addr", "show", check=False)
            used |= _networks_of(out.stdout if out.returncode == 0 else "")
    return used


def pick_subnet(
    pool: ipaddress.IPv4Network, used: set[ipaddress.IPv4Network], *, what: str = "subnet pool"
) -> ipaddress.IPv4Network:
    for candidate in pool.subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise exceptions.ClusterOperationFailed(reason=f"No free /24 left in the {what} {pool}.")


def gateway(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    return subnet.network_address + 1


# --- bays made before routers: a bridge on the host, one FORWARD rule ------------
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


def ensure_node_network(
    *,
    ns: str,
    veth: str,
    router: str,
    address: str,
    subnet: ipaddress.IPv4Network,
    routes: Sequence[ipaddress.IPv4Network] = (),
) -> None:
    """Namespace `ns` with eth0 at `address`, plugged into the segment of the bay's
    router (namespace `router`), with `routes` through the gateway; rebuilt if half made."""
    if netns_exists(ns) and _node_has_address(ns, address):
        return
    delete_node_network(ns=ns, veth=veth)
    # A half-made node's pair may outlive its namespace (a namespace goes once nothing
    # holds it, not when it is unmounted): its router end goes now, and the pair with it.
    host.run("ip", "-n", router, "link", "del", veth, check=False)
    host.run("ip", "netns", "add", ns)
    host.run(
        "ip", "-n", router, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns
    )
    # The address may be a removed node's (the lowest free one is reused): the router
    # still knows that node's MAC for it, and would talk to it for half a minute.
    mine = (
        f"link set {veth} master {ROUTER_BRIDGE} up\nneigh flush to {address} dev {ROUTER_BRIDGE}\n"
    )
    host.run("ip", "-n", router, "-b", "-", input_=mine, check=False)
    batch = [
        "link set lo up",
        f"addr add {address}/{subnet.prefixlen} dev eth0",
        "link set eth0 up",
        *(
            f"route add {r} via {gateway(subnet)} dev eth0"
            for r in routes
            if not r.overlaps(subnet)
        ),
    ]
    host.run("ip", "-n", ns, "-b", "-", input_="\n".join(batch) + "\n")


def delete_node_network(*, ns: str, veth: str | None) -> None:
    if netns_exists(ns):
        host.run("ip", "netns", "del", ns)  # takes the veth pair with it
    if veth is not None and link_exists(veth):  # a node of a bay made before routers
        host.run("ip", "link", "del", veth, check=False)


# --- the bay's router: its private segment, NAT and isolation -------------------
ROUTER_BRIDGE = "br0"  # the bay's segment, inside the router namespace
ROUTER_EXT = "ext0"  # the router's leg on the external side, inside the router namespace
ISOLATE = "MAGNUM-ISOLATE"  # the router's counted drops (filter and mangle tables)
EGRESS = "MAGNUM-EGRESS"
LAST_NODE_OFFSET = 253  # .254 of the bay's external /24 is the host's side of the link
# What the host still opens on a node whose bay has no floating IPs (floating_ip_enabled
# false): the container engine's API (plain, TLS) and the Kubernetes API.
MANAGEMENT_PORTS = (2375, 2376, 6443)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A bay's addresses. `subnet` is its private network (the nodes and the router's
    `gateway`, on the segment inside the router); `external` its /24 of the external
    pool: .1 the router's external address, .254 the host's side of the link. A bay
    whose template names `fixed_network` (`fixed`) may share its CIDR with other bays:
    the host never routes it, and node N is reached at its floating IP, `external[N]`
    (1:1 NAT in the router). Any other bay has a /24 no other bay uses, which the host
    routes through the router, so its nodes' own addresses are their floating IPs."""

    subnet: ipaddress.IPv4Network
    external: ipaddress.IPv4Network
    fixed: bool
    # False (the template's floating_ip_enabled): from outside, only MANAGEMENT_PORTS
    floating_ips: bool = True

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return gateway(self.subnet)

    @property
    def router_address(self) -> ipaddress.IPv4Address:
        return self.external[1]

    @property
    def host_address(self) -> ipaddress.IPv4Address:
        return self.external[254]

    @property
    def front_address(self) -> ipaddress.IPv4Address:
        """Where the router's services (API front, registry) are reached from the host."""
        return self.router_address if self.fixed else self.gateway

    def floating_ip(self, address: str) -> str | None:
        """The floating IP of the node at `address`; None where its address is its own."""
        if not self.fixed:
            return None
        offset = int(ipaddress.IPv4Address(address)) - int(self.subnet.network_address)
        if not 2 <= offset <= LAST_NODE_OFFSET:
            return None
        return str(self.external[offset])

    def mapped(self) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
        """(private part, external part) of the 1:1 NAT: equal sizes, at most a /24."""
        size = max(self.subnet.prefixlen, 24)
        return (
            ipaddress.IPv4Network(f"{self.subnet.network_address}/{size}"),
            ipaddress.IPv4Network(f"{self.external.network_address}/{size}"),
        )

    def to_state(self) -> dict[str, object]:
        return {
            "subnet": str(self.subnet),
            "external": str(self.external),
            "fixed": self.fixed,
            "floating_ips": self.floating_ips,
        }

    @classmethod
    def of_state(cls, data: dict[str, Any]) -> Plan | None:
        try:
            return cls(
                subnet=ipaddress.IPv4Network(data["subnet"]),
                external=ipaddress.IPv4Network(data["external"]),
                fixed=bool(data.get("fixed", False)),
                floating_ips=bool(data.get("floating_ips", True)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def router_name(cluster_uuid: str) -> str:
    """The router's namespace: mgn-<id>, beside its nodes' mgn-<id>-<node>."""
    return f"{NETNS_PREFIX}{short_id(cluster_uuid)}"


def ext_link(cluster_uuid: str) -> str:
    """The host's side of the link to the bay's router."""
    return f"mx{short_id(cluster_uuid)}"


def in_router(cluster_uuid: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net={NETNS_DIR / router_name(cluster_uuid)}", "--", *argv]


def parse_fixed_network(text: str) -> ipaddress.IPv4Network:
    """A template's fixed_network as a private CIDR; ValueError naming what is wrong."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        raise ValueError(
            f"fixed_network {text!r} is not a CIDR with its host bits zero (e.g. 10.0.0.0/24)."
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"fixed_network {text} is not IPv4.")
    if not 16 <= net.prefixlen <= 28:
        raise ValueError(f"fixed_network {text} must be between a /16 and a /28.")
    for bad, what in (
        (ipaddress.IPv4Network("127.0.0.0/8"), "loopback"),
        (ipaddress.IPv4Network("0.0.0.0/8"), "'this network'"),
        (ipaddress.IPv4Network("169.254.0.0/16"), "link-local"),
        (ipaddress.IPv4Network("224.0.0.0/3"), "multicast or reserved"),
    ):
        if net.overlaps(bad):
            raise ValueError(f"fixed_network {text} overlaps the {what} range {bad}.")
    return net


def host_networks() -> set[ipaddress.IPv4Network]:
    """The host's own IPv4 networks (its addresses and routes), without what the bays'
    routers put there."""
    used = set()
    for link in json.loads(host.run("ip", "-j", "-4", "addr", "show").stdout or "[]"):
        if not str(link.get("ifname", "")).startswith("mx"):
            used |= _networks_of(json.dumps([link]))
    for route in json.loads(host.run("ip", "-j", "-4", "route", "show").stdout or "[]"):
        dst = route.get("dst", "default")
        if dst != "default" and not str(route.get("dev", "")).startswith("mx"):
            used.add(ipaddress.IPv4Network(dst, strict=False))
    return used


def router_plan(cluster_uuid: str) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network] | None:
    """(subnet, external /24) of the bay's router as the kernel has them, if it exists."""
    if not netns_exists(router_name(cluster_uuid)):
        return None
    ns = router_name(cluster_uuid)
    out = host.run("ip", "-n", ns, "-j", "-4", "addr", "show", check=False)
    if out.returncode != 0:
        return None
    subnet = ext = None
    for link in json.loads(out.stdout or "[]"):
        for info in link.get("addr_info", []):
            if link.get("ifname") == ROUTER_BRIDGE:
                subnet = ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
            elif link.get("ifname") == ROUTER_EXT:
                ext = ipaddress.IPv4Network(f"{info['local']}/24", strict=False)
    return (subnet, ext) if subnet is not None and ext is not None else None


def _router_rules(plan: Plan, comment: str) -> str:
    gw, ext, br = plan.gateway, ROUTER_EXT, ROUTER_BRIDGE
    tag = f'-m comment --comment "{comment}"'
    # mangle PREROUTING sees every new connection a node routes through the router
    # (the segment itself is switched, not routed: the router's bridge calls no
    # iptables), before any NAT: only the router's own services and the bay's own
    # floating IPs are let on.
    mangle = [
        "*mangle",
        f":{EGRESS} - [0:0]",
        f":{ISOLATE} - [0:0]",
        f"-A PREROUTING -i {br} -m conntrack --ctstate NEW -j {EGRESS}",
        f"-A {EGRESS} -d {plan.host_address}/32 -j {ISOLATE}",
        f"-A {EGRESS} -d {gw}/32 -j RETURN",
        f"-A {EGRESS} -d {plan.router_address}/32 -j RETURN",
    ]
    nat = ["*nat"]
    if plan.fixed:
        private, public = plan.mapped()
        mangle.append(f"-A {EGRESS} -d {public} -j RETURN")
        nat += [
            f"-A PREROUTING -d {plan.router_address}/32 -j RETURN",
            f"-A PREROUTING -d {public} -j NETMAP --to {private}",
            f"-A POSTROUTING -o {ext} -s {private} -j NETMAP --to {public}",
            f"-A POSTROUTING -o {br} -s {plan.subnet} -m conntrack --ctstate DNAT "
            f"-j SNAT --to-source {gw}",
        ]
    mangle += [f"-A {EGRESS} -j {ISOLATE}", f"-A {ISOLATE} {tag} -j DROP", "COMMIT"]
    nat.append("COMMIT")
    inbound = ""
    if not plan.floating_ips:
        inbound = f"-p tcp -m multiport --dports {','.join(map(str, MANAGEMENT_PORTS))} "
    filt = [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        f":{ISOLATE} - [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A INPUT -i {br} -j {ISOLATE}",
        "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A FORWARD -i {ext} -o {br} {inbound}-j ACCEPT",
        f"-A FORWARD -i {br} -o {br} -m conntrack --ctstate DNAT -j ACCEPT",
        f"-A FORWARD -i {br} -j {ISOLATE}",
        f"-A {ISOLATE} {tag} -j DROP",
        "COMMIT",
    ]
    return "\n".join([*mangle, *nat, *filt]) + "\n"


def _host_comment(cluster_uuid: str) -> str:
    return f"{rule_comment(cluster_uuid)} router {ext_link(cluster_uuid)}"


def _host_rules(cluster_uuid: str) -> list[list[str]]:
    """The host's rules for the link to the router: nothing is forwarded to or from it,
    and nothing the router sends may open a connection to the host."""
    link, comment = ext_link(cluster_uuid), _host_comment(cluster_uuid)
    tag = ["-m", "comment", "--comment", comment]
    return [
        ["FORWARD", "-i", link, *tag, "-j", "DROP"],
        ["FORWARD", "-o", link, *tag, "-j", "DROP"],
        ["INPUT", "-i", link, "-m", "conntrack", "--ctstate", "NEW", *tag, "-j", "DROP"],
    ]


def ensure_router(cluster_uuid: str, plan: Plan) -> None:
    """The bay's router namespace with its segment, its link to the host, NAT and
    isolation rules; rebuilt if half made. Call under the host-wide allocation lock."""
    ns, link = router_name(cluster_uuid), ext_link(cluster_uuid)
    if router_plan(cluster_uuid) != (plan.subnet, plan.external) or not link_exists(link):
        if netns_exists(ns) or link_exists(link):
            delete_router(cluster_uuid)
        host.run("ip", "netns", "add", ns)
        host.run("ip", "link", "add", link, "type", "veth", "peer", "name", ROUTER_EXT, "netns", ns)
        mine = [
            "link set lo up",
            f"link set {ROUTER_EXT} up",
            f"addr add {plan.router_address}/32 dev {ROUTER_EXT}",
            f"route add {plan.host_address}/32 dev {ROUTER_EXT} scope link",
            f"link add {ROUTER_BRIDGE} type bridge",
            f"addr add {plan.gateway}/{plan.subnet.prefixlen} dev {ROUTER_BRIDGE}",
            f"link set {ROUTER_BRIDGE} up",
        ]
        # The router forwards; its segment is a plain switch (no iptables for frames
        # between nodes). Both switches are the router namespace's own. One process sets
        # them and loads the rules (from stdin).
        sysctls = (
            "net.ipv4.ip_forward=1",
            "net.bridge.bridge-nf-call-iptables=0",
            "net.bridge.bridge-nf-call-ip6tables=0",
            "net.bridge.bridge-nf-call-arptables=0",
        )
        host.run(
            *in_router(
                cluster_uuid,
                "sh",
                "-c",
                'sysctl -q -w "$@" && exec iptables-restore -w',
                "sh",
                *sysctls,
            ),
            input_=_router_rules(plan, rule_comment(cluster_uuid)),
        )
        host.run("ip", "-n", ns, "-b", "-", input_="\n".join(mine) + "\n")
        src = f"src {plan.host_address}"
        ours = [
            f"addr add {plan.host_address}/32 dev {link}",
            f"link set {link} up",
            f"route add {plan.router_address}/32 dev {link} scope link {src}",
            f"route add {plan.external} via {plan.router_address} dev {link} {src}",
        ]
        if not plan.fixed:
            ours.append(f"route add {plan.subnet} via {plan.router_address} dev {link} {src}")
        host.run("ip", "-b", "-", input_="\n".join(ours) + "\n")
    _ensure_host_rules(cluster_uuid)


def _host_rules_present(cluster_uuid: str) -> list[str]:
    """The host's rules for the bay's link as iptables-save prints them."""
    saved = host.run("iptables-save", "-t", "filter").stdout
    comment = f'"{_host_comment(cluster_uuid)}"'
    return [line for line in saved.splitlines() if comment in line and line.startswith("-A ")]


def _ensure_host_rules(cluster_uuid: str) -> None:
    have = _host_rules_present(cluster_uuid)
    missing = [r for r in _host_rules(cluster_uuid) if not any(_same(r, h) for h in have)]
    if missing:
        lines = ["*filter", *(f"-I {r[0]} 1 {_restore_words(r[1:])}" for r in missing), "COMMIT"]
        host.run("iptables-restore", "-w", "--noflush", input_="\n".join(lines) + "\n")


def _restore_words(words: Sequence[str]) -> str:
    """Words as iptables-restore reads them (it knows double quotes only)."""
    return " ".join(f'"{w}"' if " " in w else w for w in words)


def _same(rule: list[str], saved_line: str) -> bool:
    words = shlex.split(saved_line)
    return words[:1] == ["-A"] and words[1] == rule[0] and sorted(words[2:]) == sorted(rule[1:])


def delete_router(cluster_uuid: str) -> None:
    """Remove the router, its link and the host's rules for it. Safe when half gone."""
    if have := _host_rules_present(cluster_uuid):
        lines = ["*filter", *(f"-D {line[3:]}" for line in have), "COMMIT"]
        host.run("iptables-restore", "-w", "--noflush", input_="\n".join(lines) + "\n")
    # The link first: it takes its other end with it at once, where a namespace's own
    # links go in the background (and a later `ip link del` would wait for that).
    if link_exists(ext_link(cluster_uuid)):
        host.run("ip", "link", "del", ext_link(cluster_uuid), check=False)
    if netns_exists(router_name(cluster_uuid)):
        host.run("ip", "netns", "del", router_name(cluster_uuid))


def router_accept(
    cluster_uuid: str, port: int, comment: str, *, sources: Sequence[str] = ()
) -> None:
    """Let connections to `port` of the router's own addresses in (its API front,
    registry), from the bay's nodes and from the host; only from `sources` (CIDRs) if
    any are given."""
    for source in sources or ("",):
        rule = [
            "INPUT",
            *(("-s", source) if source else ()),
            "-p",
            "tcp",
            "--dport",
            str(port),
            "-m",
            "comment",
            "--comment",
            comment,
            "-j",
            "ACCEPT",
        ]
        check = in_router(cluster_uuid, "iptables", "-w", "-C", *rule)
        if host.run(*check, check=False).returncode:
            host.run(*in_router(cluster_uuid, "iptables", "-w", "-I", "INPUT", "1", *rule[1:]))


def drop_counts(cluster_uuid: str) -> int:
    """Packets the bay's router has dropped on its isolation rules so far."""
    out = host.run(*in_router(cluster_uuid, "iptables-save", "-c"), check=False).stdout
    total = 0
    for line in out.splitlines():
        if f"-A {ISOLATE} " in line and line.endswith("-j DROP") and line.startswith("["):
            total += int(line[1:].split(":", 1)[0])
    return total
