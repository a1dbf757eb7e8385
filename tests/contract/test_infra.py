# SPDX-License-Identifier: Apache-2.0
"""The contract every infrastructure driver entry point passes (drivers/base.InfraDriver),
test doubles and real drivers alike. Each test runs over every entry point of the
registry's infrastructure group (see sites.py); the real ones build a 1+1 cluster on
this host and leave it as it was."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator, Sequence

import pytest

from magnum.common import exceptions
from magnum.drivers import base
from tests import doubles
from tests.contract import sites

CHEAP_S = 2.0  # validate runs synchronously in API requests


@pytest.fixture(params=sites.building(sites.infra_entries()))
def site(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[sites.Site]:
    with sites.site(request.param, tmp_path) as made:
        yield made


def by_name(nodes: Sequence[base.Node]) -> dict[str, base.Node]:
    names = [n.name for n in nodes]
    assert len(names) == len(set(names)), f"a node listed twice: {names}"
    return {n.name: n for n in nodes}


def assert_exactly(nodes: Sequence[base.Node], specs: Sequence[base.NodeSpec]) -> None:
    """`nodes` are the specs' nodes, each with its spec's role and nodegroup and an address
    of its own."""
    found = by_name(nodes)
    assert sorted(found) == sorted(s.name for s in specs)
    for spec in specs:
        node = found[spec.name]
        assert (node.role, node.nodegroup) == (spec.role, spec.nodegroup), node
        assert isinstance(node.address, str) and node.address, node
    addresses = [n.address for n in nodes]
    assert len(set(addresses)) == len(addresses), f"addresses shared: {addresses}"


# --- cheap: no cluster is built ---------------------------------------------------------
@pytest.mark.parametrize("entry", sites.cheap(sites.infra_entries()))
def test_loads_through_the_registry_under_its_own_name(
    entry: sites.Entry, tmp_path: pathlib.Path
) -> None:
    """The conductor records `driver.name` with a cluster and finds the driver again by it,
    so the name is the entry point's."""
    driver = sites.load_infra(sites.make_conf(tmp_path / "state", tmp_path / "run"), entry)
    assert isinstance(driver, base.InfraDriver)
    assert driver.name == entry.name


@pytest.mark.parametrize("entry", sites.cheap(sites.infra_entries()))
def test_validate_is_cheap_and_refuses_bad_counts(
    entry: sites.Entry, tmp_path: pathlib.Path
) -> None:
    dirs = (tmp_path / "state", tmp_path / "run")
    driver = sites.load_infra(sites.make_conf(*dirs), entry)
    model = doubles.cluster_template()
    started = time.monotonic()
    driver.validate(model, master_count=1, node_count=1)
    for counts in (
        {"master_count": 1, "node_count": 10**6},
        {"master_count": 10**6, "node_count": 1},
    ):
        with pytest.raises(exceptions.Invalid):
            driver.validate(model, **counts)
    assert time.monotonic() - started < CHEAP_S
    assert sites.files(*dirs) == [], "validate built something"


# --- building: a 1+1 cluster ---------------------------------------------------------
def test_create_nodes_makes_exactly_the_specs(site: sites.Site) -> None:
    task = site.new_task()
    specs = doubles.node_specs(1, 1)
    nodes = site.infra.create_nodes(task, specs)
    assert_exactly(nodes, specs)
    assert by_name(site.infra.list_nodes(task)) == by_name(nodes)


def test_create_nodes_again_changes_nothing(site: sites.Site) -> None:
    task = site.new_task()
    specs = doubles.node_specs(1, 1)
    nodes = site.infra.create_nodes(task, specs)
    held = site.footprint()
    again = site.infra.create_nodes(task, specs)
    assert by_name(again) == by_name(nodes)
    assert by_name(site.infra.list_nodes(task)) == by_name(nodes)
    assert site.footprint() == held, "a second create_nodes built something again"


def test_growing_a_nodegroup_keeps_every_address_distinct(site: sites.Site) -> None:
    """Growing the default workers of a cluster that also has a `gpu` nodegroup puts the
    new node's spec before an existing one (the conductor lists groups by role): it still
    gets an address of its own, and the existing nodes keep theirs."""
    task = site.new_task(workers=0)
    gpu = base.NodeSpec(
        name="gpu-0", role=base.Role.WORKER, flavor=None, image=None, nodegroup="gpu"
    )
    nodes = site.infra.create_nodes(task, [*doubles.node_specs(1, 0), gpu])
    specs = [*doubles.node_specs(1, 1), gpu]
    grown = site.infra.create_nodes(task, specs)
    assert_exactly(grown, specs)
    assert all(by_name(grown)[n.name] == n for n in nodes)


def test_state_survives_a_takeover(site: sites.Site) -> None:
    """A conductor that takes over gets a fresh task holding a copy of the checkpointed
    state: with it the driver finds the same nodes, grows the cluster without touching
    them, and deletes everything."""
    first = site.new_task(workers=0)
    nodes = site.infra.create_nodes(first, doubles.node_specs(1, 0))
    held = site.footprint()
    second = site.takeover(first)
    assert by_name(site.infra.list_nodes(second)) == by_name(nodes)
    assert by_name(site.infra.create_nodes(second, doubles.node_specs(1, 0))) == by_name(nodes)
    assert site.footprint() == held, "the taken-over create_nodes built something again"

    third = site.takeover(second)
    specs = doubles.node_specs(1, 1)
    grown = site.infra.create_nodes(third, specs)
    assert_exactly(grown, specs)
    assert by_name(grown)["master-0"] == by_name(nodes)["master-0"]
    assert by_name(site.infra.list_nodes(third)) == by_name(grown)

    site.infra.delete_cluster(site.takeover(third))
    assert site.infra.list_nodes(third) == []
    site.assert_clean()


def test_delete_nodes_removes_just_those(site: sites.Site) -> None:
    task = site.new_task()
    nodes = by_name(site.infra.create_nodes(task, doubles.node_specs(1, 1)))
    site.infra.delete_nodes(task, ["node-0", "node-7"])  # node-7 never existed: fine
    assert by_name(site.infra.list_nodes(task)) == {"master-0": nodes["master-0"]}
    site.infra.delete_nodes(task, ["node-0"])  # already gone: fine
    assert by_name(site.infra.list_nodes(task)) == {"master-0": nodes["master-0"]}


def test_delete_cluster_removes_everything_and_can_run_again(site: sites.Site) -> None:
    task = site.new_task()
    site.infra.create_nodes(task, doubles.node_specs(1, 1))
    site.infra.delete_cluster(task)
    assert site.infra.list_nodes(task) == []
    site.assert_clean()
    site.infra.delete_cluster(task)
    site.infra.delete_cluster(site.takeover(task))
    never_built = site.new_task()
    site.infra.delete_cluster(never_built)
    assert site.infra.list_nodes(never_built) == []
    site.assert_clean()
