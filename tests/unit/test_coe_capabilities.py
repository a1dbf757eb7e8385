# SPDX-License-Identifier: Apache-2.0
"""COE capabilities: a driver offers containers, images and workloads or not (None), the
registry answers "does this COE's driver offer X?" and checks what drivers offer."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence
from typing import Any

import pytest
from oslo_config import cfg

from magnum.common import exceptions
from magnum.drivers import base, capabilities, registry
from magnum.drivers.coe.swarm.driver import SwarmDriver


class _Images(capabilities.ImageInterface):
    def load_image(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], path: pathlib.Path
    ) -> list[str]:
        del task, nodes, path
        return ["a:1"]


class _Lifecycle(base.CoeDriver):
    coe = "lifecycle"

    def bootstrap(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Endpoints:
        raise NotImplementedError

    def add_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        raise NotImplementedError

    def remove_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        raise NotImplementedError

    def health(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Health:
        raise NotImplementedError


class _Bare(_Lifecycle):
    coe = "kubernetes"


class _WithImages(_Lifecycle):
    coe = "mesos"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        self.images = _Images()


@pytest.fixture
def drivers() -> registry.Drivers:
    conf = cfg.ConfigOpts()
    return registry.Drivers(
        infra={},
        coe={"swarm": SwarmDriver(conf), "kubernetes": _Bare(conf), "mesos": _WithImages(conf)},
    )


def test_swarm_offers_containers_and_images_but_no_workloads(drivers: registry.Drivers) -> None:
    swarm = drivers.coe["swarm"]
    assert isinstance(swarm.containers, capabilities.ContainerInterface)
    assert isinstance(swarm.images, capabilities.ImageInterface)
    assert swarm.workloads is None
    assert drivers.containers_for("swarm") is swarm.containers
    assert drivers.images_for("swarm") is swarm.images
    swarm.close()


@pytest.mark.parametrize("coe", ["kubernetes", "mesos", "nosuchcoe"])
def test_no_containers_is_a_400_naming_the_coe(drivers: registry.Drivers, coe: str) -> None:
    with pytest.raises(exceptions.CapabilityNotOffered) as caught:
        drivers.containers_for(coe)
    assert caught.value.status == 400
    assert caught.value.message == (
        f"Cannot fulfill request with a {coe} bay: its COE driver offers no containers."
    )


def test_workloads_are_offered_by_none_yet(drivers: registry.Drivers) -> None:
    for coe in drivers.coe:
        with pytest.raises(exceptions.CapabilityNotOffered, match="offers no workloads"):
            drivers.workloads_for(coe)


def test_images_keep_their_words(drivers: registry.Drivers) -> None:
    assert isinstance(drivers.images_for("mesos"), _Images)
    with pytest.raises(exceptions.NotSupported) as caught:
        drivers.images_for("kubernetes")
    assert caught.value.message == "Loading images into kubernetes bays is not supported."
    with pytest.raises(exceptions.ClusterOperationFailed, match="No enabled driver"):
        drivers.images_for("nosuchcoe")


def test_the_registry_refuses_a_capability_of_the_wrong_type() -> None:
    driver = _Bare(cfg.ConfigOpts())
    registry._check_capabilities("bare", driver)
    driver.images = object()  # type: ignore[assignment]
    with pytest.raises(exceptions.DriverError, match="bare offers images that are not a"):
        registry._check_capabilities("bare", driver)


def test_upgrade_is_not_supported_by_default() -> None:
    driver = _Bare(cfg.ConfigOpts())
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(base.ClusterTemplateView)}
    template = base.ClusterTemplateView(
        **values | {"uuid": "t1", "coe": "kubernetes", "labels": {}, "registry_enabled": False}
    )
    with pytest.raises(exceptions.NotSupported, match="Upgrading kubernetes clusters"):
        driver.check_upgrade(template, template)
