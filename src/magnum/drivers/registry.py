# SPDX-License-Identifier: Apache-2.0
"""Loads the enabled drivers once, at start-up, and fails loudly on a bad configuration."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from oslo_config import cfg

from magnum.common import exceptions
from magnum.drivers import base, capabilities

INFRA_GROUP = "magnum.drivers.infra"
COE_GROUP = "magnum.drivers.coe"


@dataclasses.dataclass(frozen=True, slots=True)
class Drivers:
    infra: Mapping[str, base.InfraDriver]
    coe: Mapping[str, base.CoeDriver]

    def infra_for(self, name: str | None = None) -> base.InfraDriver:
        if not self.infra:
            raise exceptions.ClusterOperationFailed(reason="No infrastructure driver is enabled.")
        if name is None:
            return next(iter(self.infra.values()))
        try:
            return self.infra[name]
        except KeyError:
            raise exceptions.ClusterOperationFailed(
                reason=f"Infrastructure driver {name} is not enabled."
            ) from None

    def coe_for(self, coe: str) -> base.CoeDriver:
        try:
            return self.coe[coe]
        except KeyError:
            raise exceptions.ClusterOperationFailed(
                reason=f"No enabled driver provides the {coe} COE."
            ) from None

    def node_profile(self, coe: str) -> base.NodeProfile:
        """How the driver of `coe` wants its nodes prepared (the default when none is enabled:
        the create then fails on coe_for)."""
        driver = self.coe.get(coe)
        return driver.node_profile if driver is not None else base.DEFAULT_PROFILE

    # --- capabilities: ask for one, never for a COE ----------------------------------
    def containers_for(self, coe: str) -> capabilities.ContainerInterface:
        """The containers the driver of `coe` offers. Raises CapabilityNotOffered (400,
        naming the COE) when it offers none or no enabled driver provides `coe`."""
        driver = self.coe.get(coe)
        if driver is None or driver.containers is None:
            raise exceptions.CapabilityNotOffered(coe=coe, capability="containers")
        return driver.containers

    def workloads_for(self, coe: str) -> capabilities.WorkloadInterface:
        """The workloads (pods, services, ...) the driver of `coe` offers; as containers_for."""
        driver = self.coe.get(coe)
        if driver is None or driver.workloads is None:
            raise exceptions.CapabilityNotOffered(coe=coe, capability="workloads")
        return driver.workloads

    def images_for(self, coe: str) -> capabilities.ImageInterface:
        """The image loading the driver of `coe` offers. Raises ClusterOperationFailed when
        no enabled driver provides `coe`, NotSupported (400) when it cannot load images."""
        images = self.coe_for(coe).images
        if images is None:
            raise exceptions.NotSupported(operation=f"Loading images into {coe} bays")
        return images


# Capability attribute of a COE driver -> the interface its value implements.
CAPABILITIES: Mapping[str, type] = {
    "containers": capabilities.ContainerInterface,
    "images": capabilities.ImageInterface,
    "workloads": capabilities.WorkloadInterface,
}


def _check_capabilities(name: str, driver: base.CoeDriver) -> None:
    for attr, interface in CAPABILITIES.items():
        offered = getattr(driver, attr)
        if offered is not None and not isinstance(offered, interface):
            raise exceptions.DriverError(
                reason=f"{COE_GROUP}:{name} offers {attr} that are not a {interface.__name__}."
            )


def _load(group: str, names: Sequence[str], kind: Any, conf: cfg.ConfigOpts) -> dict[str, Any]:
    available = {ep.name: ep for ep in metadata.entry_points(group=group)}
    if missing := sorted(set(names) - available.keys()):
        raise exceptions.DriverNotFound(names=", ".join(missing), group=group)
    loaded: dict[str, Any] = {}
    for name in names:
        cls = available[name].load()
        if not (isinstance(cls, type) and issubclass(cls, kind)):
            raise exceptions.DriverError(reason=f"{group}:{name} is not a {kind.__name__}.")
        loaded[name] = cls(conf)  # an abstract method left unimplemented fails here, not later
    return loaded


def load(conf: cfg.ConfigOpts) -> Drivers:
    infra: dict[str, base.InfraDriver] = _load(
        INFRA_GROUP, conf.conductor.enabled_infra_drivers, base.InfraDriver, conf
    )
    coe_by_name: dict[str, base.CoeDriver] = _load(
        COE_GROUP, conf.conductor.enabled_coe_drivers, base.CoeDriver, conf
    )
    coe: dict[str, base.CoeDriver] = {}
    for name, driver in coe_by_name.items():
        _check_capabilities(name, driver)
        if driver.coe in coe:
            raise exceptions.DriverConflict(
                first=coe[driver.coe].__class__.__name__, second=name, what=f"the {driver.coe} COE"
            )
        coe[driver.coe] = driver
        driver.bind(infra)
    return Drivers(infra=infra, coe=coe)
