# SPDX-License-Identifier: Apache-2.0
"""The one ClusterTask the tests hand drivers directly (without a conductor), and the
cluster templates, clusters and node specs they build it from.

RecordingTask keeps `state` in a dict and records what a driver does with it: every
progress message, every checkpoint, and the state as of the last checkpoint, which is
what a conductor taking the operation over would find (`takeover`). Both progress and
checkpoint insist that the state stays JSON, as the conductor's database column does.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import MutableMapping
from typing import Any

from magnum.drivers import base


class RecordingTask:
    """drivers.base.ClusterTask over a dict, recording progress messages and checkpoints.

    Without a cluster template (a last-resort teardown that has none), reading
    `cluster_template` fails: a driver method that should not need it shows that it does.
    """

    def __init__(
        self,
        cluster: base.ClusterView,
        cluster_template: base.ClusterTemplateView | None = None,
        *,
        state: MutableMapping[str, Any] | None = None,
    ) -> None:
        self._cluster = cluster
        self._cluster_template = cluster_template
        self._state: dict[str, Any] = copy.deepcopy(dict(state or {}))
        self.messages: list[str] = []
        self.checkpoints = 0
        self.persisted: dict[str, Any] = copy.deepcopy(self._state)

    @property
    def cluster(self) -> base.ClusterView:
        return self._cluster

    @property
    def cluster_template(self) -> base.ClusterTemplateView:
        if self._cluster_template is None:
            raise NotImplementedError("this task has no cluster template")
        return self._cluster_template

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    def progress(self, reason: str) -> None:
        json.dumps(self._state)  # what the conductor persists must stay JSON
        self.messages.append(reason)

    def checkpoint(self) -> None:
        self.persisted = json.loads(json.dumps(self._state))
        self.checkpoints += 1

    def takeover(self) -> RecordingTask:
        """A fresh task for the same cluster, holding a copy of the state as of the last
        checkpoint: what a conductor that takes over the operation is handed."""
        return RecordingTask(self._cluster, self._cluster_template, state=self.persisted)


def cluster_template(**overrides: Any) -> base.ClusterTemplateView:
    """A swarm template every driver accepts (names from the local catalog's defaults)."""
    fields: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "coe": "swarm",
        "image_id": "fedora-atomic",
        "flavor_id": "m1.small",
        "master_flavor_id": None,
        "keypair_id": "default",
        "external_network_id": "public",
        "fixed_network": None,
        "network_driver": None,
        "volume_driver": None,
        "dns_nameserver": None,
        "docker_volume_size": None,
        "http_proxy": None,
        "https_proxy": None,
        "no_proxy": None,
        "server_type": "vm",
        "labels": {},
        "registry_enabled": False,
        "tls_disabled": False,
    }
    fields.update(overrides)
    return base.ClusterTemplateView(**fields)


def cluster_view(
    model: base.ClusterTemplateView, *, masters: int, workers: int
) -> base.ClusterView:
    """A new cluster of `model` with its two default nodegroups."""
    groups = tuple(
        base.NodeGroupView(
            name=base.DEFAULT_NODEGROUP[role],
            role=role,
            flavor_id=(model.master_flavor_id or model.flavor_id)
            if role is base.Role.MASTER
            else model.flavor_id,
            image_id=model.image_id,
            node_count=count,
            labels={},
        )
        for role, count in ((base.Role.MASTER, masters), (base.Role.WORKER, workers))
    )
    return base.ClusterView(
        uuid=str(uuid.uuid4()),
        name="t",
        project_id="p",
        master_count=masters,
        node_count=workers,
        nodegroups=groups,
    )


def new_task(model: base.ClusterTemplateView, *, masters: int, workers: int) -> RecordingTask:
    return RecordingTask(cluster_view(model, masters=masters, workers=workers), model)


def node_specs(
    masters: int, workers: int, profile: base.NodeProfile = base.DEFAULT_PROFILE
) -> list[base.NodeSpec]:
    """The specs the conductor asks for: master-<i> then node-<i>, in the default groups,
    prepared as the COE's `profile` says."""
    return [
        base.NodeSpec(
            name=f"master-{i}",
            role=base.Role.MASTER,
            flavor=None,
            image=None,
            nodegroup=base.DEFAULT_NODEGROUP[base.Role.MASTER],
            profile=profile,
        )
        for i in range(masters)
    ] + [
        base.NodeSpec(
            name=f"node-{i}",
            role=base.Role.WORKER,
            flavor=None,
            image=None,
            nodegroup=base.DEFAULT_NODEGROUP[base.Role.WORKER],
            profile=profile,
        )
        for i in range(workers)
    ]
