# SPDX-License-Identifier: Apache-2.0
"""The contract every COE driver entry point passes (drivers/base.CoeDriver), test doubles
and real drivers alike, each on nodes of the infrastructure driver shipped beside it (see
sites.py). The real pair builds 1+1 clusters on this host and leaves it as it was."""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from magnum.drivers import base
from tests import doubles
from tests.contract import sites

CHEAP_S = 2.0
# Capability attribute -> its interface in magnum.drivers.capabilities.
CAPABILITIES = {
    "containers": "ContainerInterface",
    "images": "ImageInterface",
    "workloads": "WorkloadInterface",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Bed:
    site: sites.Site
    coe: base.CoeDriver


@pytest.fixture(params=sites.pairs())
def bed(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Bed]:
    coe, infra = request.param
    with sites.site(infra, tmp_path) as made:
        yield Bed(made, sites.load_coe(made.conf, coe))


def capability_interface(attribute: str) -> type | None:
    """The interface of a capability, if magnum.drivers.capabilities defines it."""
    try:
        module = importlib.import_module("magnum.drivers.capabilities")
    except ImportError:
        return None
    found = getattr(module, CAPABILITIES[attribute], None)
    return found if isinstance(found, type) else None


def assert_endpoints(ends: base.Endpoints, nodes: Sequence[base.Node]) -> None:
    """The addresses are the nodes' own; the API is reached on a master."""
    masters = [n.address for n in nodes if n.role is base.Role.MASTER]
    workers = [n.address for n in nodes if n.role is base.Role.WORKER]
    assert sorted(ends.master_addresses) == sorted(masters)
    assert sorted(ends.node_addresses) == sorted(workers)
    api = ends.api_address
    assert urllib.parse.urlsplit(api if "//" in api else f"//{api}").hostname in masters, ends


def assert_healthy(bed: Bed, task: base.ClusterTask, nodes: Sequence[base.Node]) -> None:
    health = bed.coe.health(task, nodes)
    assert health.healthy, health.reason


def conf(tmp_path: pathlib.Path) -> Any:
    return sites.make_conf(tmp_path / "state", tmp_path / "run")


# --- cheap: no cluster is built ---------------------------------------------------------
@pytest.mark.parametrize("entry", sites.cheap(sites.coe_entries()))
def test_ships_beside_an_infrastructure_driver(entry: sites.Entry) -> None:
    assert sites.partner(entry) is not None, f"{entry.dist} ships no infrastructure driver"


@pytest.mark.parametrize("entry", sites.cheap(sites.coe_entries()))
def test_loads_through_the_registry_for_its_coe(entry: sites.Entry, tmp_path: pathlib.Path) -> None:
    driver = sites.load_coe(conf(tmp_path), entry)
    assert isinstance(driver, base.CoeDriver)
    assert isinstance(driver.coe, str) and driver.coe


@pytest.mark.parametrize("entry", sites.cheap(sites.coe_entries()))
@pytest.mark.parametrize("attribute", sorted(CAPABILITIES))
def test_capability_is_none_or_its_interface(
    entry: sites.Entry, attribute: str, tmp_path: pathlib.Path
) -> None:
    """What a driver offers is its own (the same object every time it is asked, the same
    answer from every instance) and is None or an implementation of the interface."""
    settings = conf(tmp_path)
    driver = sites.load_coe(settings, entry)
    offered = getattr(driver, attribute, None)
    assert getattr(driver, attribute, None) is offered
    other = sites.load_coe(settings, entry)
    assert (getattr(other, attribute, None) is None) == (offered is None)
    interface = capability_interface(attribute)
    if offered is not None and interface is not None:
        assert isinstance(offered, interface), f"{attribute}: {offered!r} is no {interface}"


@pytest.mark.parametrize("entry", sites.cheap(sites.coe_entries()))
def test_validate_is_cheap_and_accepts_a_small_cluster(
    entry: sites.Entry, tmp_path: pathlib.Path
) -> None:
    dirs = (tmp_path / "state", tmp_path / "run")
    driver = sites.load_coe(sites.make_conf(*dirs), entry)
    started = time.monotonic()
    driver.validate(doubles.cluster_template(), master_count=1, node_count=1)
    assert time.monotonic() - started < CHEAP_S
    assert sites.files(*dirs) == [], "validate built something"


# --- building: a 1+1 cluster ---------------------------------------------------------
def test_bootstrap_forms_a_healthy_cluster(bed: Bed) -> None:
    task = bed.site.new_task()
    nodes = bed.site.infra.create_nodes(task, doubles.node_specs(1, 1, bed.coe.node_profile))
    assert_endpoints(bed.coe.bootstrap(task, nodes), nodes)
    assert_healthy(bed, task, nodes)


def test_bootstrap_again_changes_nothing(bed: Bed) -> None:
    """Run again by the same conductor, or by one that took over with the checkpointed
    state, bootstrap finds the cluster formed."""
    task = bed.site.new_task()
    nodes = bed.site.infra.create_nodes(task, doubles.node_specs(1, 1, bed.coe.node_profile))
    ends = bed.coe.bootstrap(task, nodes)
    assert bed.coe.bootstrap(task, nodes) == ends
    taken_over = bed.site.takeover(task)
    assert bed.coe.bootstrap(taken_over, nodes) == ends
    assert_healthy(bed, taken_over, nodes)


def test_add_then_remove_workers(bed: Bed) -> None:
    """A 1+0 cluster grows to 1+1 and shrinks back, as the conductor's resize does it:
    create_nodes + add_workers, then remove_workers + delete_nodes + add_workers([])."""
    task = bed.site.new_task(workers=0)
    infra = bed.site.infra
    small = infra.create_nodes(task, doubles.node_specs(1, 0, bed.coe.node_profile))
    assert_endpoints(bed.coe.bootstrap(task, small), small)

    grown = infra.create_nodes(task, doubles.node_specs(1, 1, bed.coe.node_profile))
    new = [n for n in grown if n not in small]
    assert [n.name for n in new] == ["node-0"]
    ends = bed.coe.add_workers(task, grown, new)
    assert_endpoints(ends, grown)
    assert_healthy(bed, task, grown)
    assert bed.coe.add_workers(bed.site.takeover(task), grown, new) == ends

    bed.coe.remove_workers(task, grown, new)
    bed.coe.remove_workers(task, grown, new)  # again, as after a takeover: fine
    infra.delete_nodes(task, [n.name for n in new])
    left = infra.list_nodes(task)
    assert left == small
    assert_endpoints(bed.coe.add_workers(task, left, []), left)
    assert_healthy(bed, task, left)
