# SPDX-License-Identifier: Apache-2.0
"""Checks that need the enabled drivers, run while the API waits.

The API loads the same driver registry as the conductor but calls only the
drivers' `validate()`, which the contract (magnum.drivers.base) keeps cheap and
free of remote calls. So an unknown flavor, image or network, or a bay this host
cannot hold, is a 400 before anything is built.
"""

from __future__ import annotations

from typing import Any

from magnum.common import exceptions
from magnum.drivers import base, registry
from magnum.objects import quotas


def template(drivers: registry.Drivers, source: Any) -> None:
    """A baymodel must name what the infrastructure offers (and its COE's rules if enabled)."""
    model = base.ClusterTemplateView.of(source)
    if drivers.infra:
        drivers.infra_for().validate(model, master_count=1, node_count=1)
    if model.coe in drivers.coe:
        drivers.coe[model.coe].validate(model, master_count=1, node_count=1)


def cluster(
    drivers: registry.Drivers,
    source: Any,
    *,
    master_count: int,
    node_count: int,
    existing: int = 0,
) -> None:
    """A cluster of these counts (`existing` nodes of them built already, for a resize)
    needs an enabled driver for its COE and must fit the infrastructure."""
    model = base.ClusterTemplateView.of(source)
    if model.coe not in drivers.coe or not drivers.infra:
        raise exceptions.ClusterTypeNotEnabled(
            server_type=model.server_type or "vm", os=source.cluster_distro, coe=model.coe
        )
    drivers.infra_for().validate(
        model, master_count=master_count, node_count=node_count, existing=existing
    )
    drivers.coe[model.coe].validate(model, master_count=master_count, node_count=node_count)


def limits(
    drivers: registry.Drivers, *, clusters_per_project: int, nodes_per_project: int
) -> quotas.Limits:
    """The quotas' defaults with the infrastructure's capacity of the moment."""
    capacity = drivers.infra_for().capacity() if drivers.infra else None
    return quotas.Limits(
        clusters_per_project=clusters_per_project,
        nodes_per_project=nodes_per_project,
        host_nodes=capacity,
    )
