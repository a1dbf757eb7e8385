# SPDX-License-Identifier: Apache-2.0
"""Loading a tenant's image archive into every node of a settled bay.

Runs under ClusterOperations.on_settled (the bay's lease held, no operation in flight) with
a read-only task: nothing about the bay changes, its nodes' engines gain images. Only a
COE driver that offers images (drivers.capabilities.ImageInterface) can.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

from magnum.common import exceptions
from magnum.conductor.handlers import task as task_mod
from magnum.drivers import registry

LOG = logging.getLogger(__name__)


def load(drivers: registry.Drivers, task: task_mod.Snapshot, path: pathlib.Path) -> dict[str, Any]:
    infra = drivers.infra_for(task.state.get("infra"))
    images = drivers.images_for(task.cluster_template.coe)  # 400 if its driver cannot
    nodes = infra.list_nodes(task)
    if not nodes:
        raise exceptions.InvalidState(detail=f"Bay {task.cluster.uuid} has no nodes.")
    tags = images.load_image(task, nodes, path)
    LOG.info("bay %s: loaded %s into %d nodes", task.cluster.uuid, ", ".join(tags), len(nodes))
    return {"bay_uuid": task.cluster.uuid, "images": tags, "nodes": len(nodes)}
