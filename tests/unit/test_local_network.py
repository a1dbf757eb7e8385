# SPDX-License-Identifier: Apache-2.0
"""The local driver's tenant-network plan and router rules, without touching the host."""

from __future__ import annotations

import ipaddress

import pytest

from magnum.drivers.infra.local import network

SUBNET = ipaddress.IPv4Network("10.254.0.0/24")
EXTERNAL = ipaddress.IPv4Network("10.249.7.0/24")


def _plan(subnet: str = "10.254.0.0/24", **kw: bool) -> network.Plan:
    return network.Plan(
        subnet=ipaddress.IPv4Network(subnet),
        external=EXTERNAL,
        fixed=kw.get("fixed", True),
        floating_ips=kw.get("floating_ips", True),
    )


def test_floating_ips_mirror_the_node_addresses_on_a_fixed_network() -> None:
    plan = _plan()
    assert str(plan.gateway) == "10.254.0.1"
    assert (str(plan.router_address), str(plan.host_address)) == ("10.249.7.1", "10.249.7.254")
    assert plan.floating_ip("10.254.0.2") == "10.249.7.2"
    assert plan.floating_ip("10.254.0.253") == "10.249.7.253"
    # the gateway, the host's side of the link and addresses outside the network have none
    assert plan.floating_ip("10.254.0.1") is None
    assert plan.floating_ip("10.254.0.254") is None
    assert plan.floating_ip("10.254.1.2") is None
    assert plan.front_address == plan.router_address


def test_a_routed_network_has_no_floating_ips() -> None:
    plan = _plan("10.250.3.0/24", fixed=False)
    assert plan.floating_ip("10.250.3.2") is None
    assert plan.front_address == plan.gateway


@pytest.mark.parametrize(
    ("subnet", "private", "public"),
    [
        ("10.254.0.0/24", "10.254.0.0/24", "10.249.7.0/24"),
        ("172.20.0.0/16", "172.20.0.0/24", "10.249.7.0/24"),
        ("192.168.77.16/28", "192.168.77.16/28", "10.249.7.0/28"),
    ],
)
def test_the_one_to_one_nat_maps_equal_sizes(subnet: str, private: str, public: str) -> None:
    assert tuple(map(str, _plan(subnet).mapped())) == (private, public)


def test_plan_state_round_trips() -> None:
    plan = _plan(floating_ips=False)
    assert network.Plan.of_state(plan.to_state()) == plan
    assert network.Plan.of_state({}) is None
    assert network.Plan.of_state({"subnet": "x", "external": "y"}) is None


def test_router_rules_nat_only_a_fixed_network() -> None:
    fixed = network._router_rules(_plan(), "magnum bay u")
    assert "-A PREROUTING -d 10.249.7.0/24 -j NETMAP --to 10.254.0.0/24" in fixed
    assert "-A PREROUTING -d 10.249.7.1/32 -j RETURN" in fixed  # the router's own address
    assert "-A POSTROUTING -o ext0 -s 10.254.0.0/24 -j NETMAP --to 10.249.7.0/24" in fixed
    routed = network._router_rules(_plan("10.250.3.0/24", fixed=False), "magnum bay u")
    assert "NETMAP" not in routed and "SNAT" not in routed


def test_router_rules_drop_what_nodes_open_elsewhere_with_counters() -> None:
    rules = network._router_rules(_plan(), "magnum bay u").splitlines()
    egress = [r for r in rules if r.startswith(f"-A {network.EGRESS} ")]
    # the host's side of the link first, then what is let on, then everything else
    assert egress[0] == f"-A {network.EGRESS} -d 10.249.7.254/32 -j {network.ISOLATE}"
    assert egress[-1] == f"-A {network.EGRESS} -j {network.ISOLATE}"
    assert f"-A INPUT -i br0 -j {network.ISOLATE}" in rules
    assert f"-A FORWARD -i br0 -j {network.ISOLATE}" in rules
    drops = [r for r in rules if r.startswith(f"-A {network.ISOLATE} ")]
    assert len(drops) == 2 and all(r.endswith("-j DROP") for r in drops), drops
    assert ":INPUT DROP [0:0]" in rules and ":FORWARD DROP [0:0]" in rules


def test_without_floating_ips_only_management_ports_pass_inwards() -> None:
    open_ = network._router_rules(_plan(), "c")
    assert "-A FORWARD -i ext0 -o br0 -j ACCEPT" in open_
    closed = network._router_rules(_plan(floating_ips=False), "c")
    assert "-A FORWARD -i ext0 -o br0 -p tcp -m multiport --dports 2375,2376,6443 -j ACCEPT" in (
        closed
    )
    assert "-A FORWARD -i ext0 -o br0 -j ACCEPT" not in closed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("private", "is not a CIDR"),
        ("10.254.0.1/24", "host bits zero"),
        ("fd00::/64", "is not IPv4"),
        ("10.0.0.0/15", "between a /16 and a /28"),
        ("10.0.0.0/29", "between a /16 and a /28"),
        ("127.0.0.0/16", "loopback"),
        ("0.0.0.0/16", "'this network'"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/24", "multicast or reserved"),
    ],
)
def test_fixed_network_parsing_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        network.parse_fixed_network(text)


def test_fixed_network_parsing_accepts_private_cidrs() -> None:
    assert network.parse_fixed_network(" 10.254.0.0/24 ") == SUBNET
    assert network.parse_fixed_network("192.168.0.0/16").prefixlen == 16


def test_names_fit_the_kernel_limits() -> None:
    uuid = "0f59c431-e7aa-4b7e-9d4e-1234567890ab"
    assert network.router_name(uuid) == "mgn-0f59c431e7"
    assert network.ext_link(uuid) == "mx0f59c431e7"
    assert len(network.ext_link(uuid)) <= 15
    assert network.router_name(uuid) != network.netns_name(uuid, "")
