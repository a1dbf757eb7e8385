# SPDX-License-Identifier: Apache-2.0
"""What a local bay shares between its nodes: directories, its network and router
(network.py), the bay cgroup, and its TLS credentials (kept in the bay's driver state).

Driver state written here (task.state):
  local.plan     the bay's addresses (network.Plan.to_state: subnet, external, fixed)
  local.subnet   the bay's network, e.g. "10.250.3.0/24" or its fixed_network
  local.nodes    {name: {"address": ..., "slot": ..., "role": ...}} (mirrors node.json files)
  pki            magnum.common.pki.BayCredentials.to_state() (keys encrypted)
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
from typing import Any

from oslo_config import cfg

from magnum.common import exceptions, pki
from magnum.drivers import base
from magnum.drivers.infra.local import catalog, cgroups, frontend, host, network, registry

STATE = "local"


def state_root(conf: cfg.ConfigOpts) -> pathlib.Path:
    return pathlib.Path(conf.local.state_dir or pathlib.Path(conf.state_path) / "bays")


def dirs(conf: cfg.ConfigOpts, cluster_uuid: str) -> tuple[pathlib.Path, pathlib.Path]:
    short = network.short_id(cluster_uuid)
    return state_root(conf) / short, pathlib.Path(conf.local.run_dir) / short


# One lock for the whole host, whatever the state directory: subnets and bridges are
# host-wide, and two conductors (or tests) with different state dirs must not pick the
# same /24.
HOST_LOCK = pathlib.Path("/run/lock/magnum-local-alloc.lock")


def _claim_dir(state_dir: pathlib.Path, cluster_uuid: str) -> None:
    """Bay directories are named by a short id; refuse to share one with another bay."""
    marker = state_dir / "bay.json"
    if marker.exists():
        owner = json.loads(marker.read_text())["uuid"]
        if owner != cluster_uuid:
            raise exceptions.ClusterOperationFailed(
                reason=f"Bay {cluster_uuid} collides with bay {owner} on short id "
                f"{network.short_id(cluster_uuid)}."
            )
        return
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    marker.write_text(json.dumps({"uuid": cluster_uuid}))


def plan_of(task: base.ClusterTask) -> network.Plan | None:
    """The bay's addresses as recorded in its driver state."""
    mine = task.state.get(STATE, {})
    return network.Plan.of_state(mine.get("plan", {})) if isinstance(mine, dict) else None


def ensure_network(conf: cfg.ConfigOpts, task: base.ClusterTask) -> network.Plan:
    """The bay's network and router, allocated under a host-wide lock so that no two
    bays share an external /24 (nor a /24 of the subnet pool)."""
    uuid = task.cluster.uuid
    mine = task.state.setdefault(STATE, {})
    state_dir, _ = dirs(conf, uuid)
    with host.locked(HOST_LOCK):
        _claim_dir(state_dir, uuid)
        plan = _known_plan(mine, uuid, floating_ips=task.cluster_template.floating_ip_enabled)
        if plan is None and network.link_exists(network.bridge_name(uuid)):
            raise exceptions.ClusterOperationFailed(
                reason="The bay was made before bays had routers (its nodes are on a bridge "
                "of the host); it can be deleted, not grown: make a new bay instead."
            )
        if plan is None:
            fixed = catalog.fixed_network(conf, task.cluster_template)
            used = network.used_networks()
            external = network.pick_subnet(
                catalog.pool(conf, "external_pool"), used, what="external network's pool"
            )
            subnet = fixed or network.pick_subnet(catalog.pool(conf, "subnet_pool"), used)
            plan = network.Plan(
                subnet=subnet,
                external=external,
                fixed=fixed is not None,
                floating_ips=task.cluster_template.floating_ip_enabled,
            )
        network.ensure_router(uuid, plan)
        # The bay's cgroup level is made here, under the lock, so that a concurrent
        # teardown of the last other bay cannot rmdir the shared top level under us.
        cgroups.create_dir(cgroups.cluster_path(network.short_id(uuid)))
    if mine.get("plan") != plan.to_state() or mine.get("subnet") != str(plan.subnet):
        mine["plan"] = plan.to_state()
        mine["subnet"] = str(plan.subnet)
        task.checkpoint()
    return plan


def _known_plan(
    mine: dict[str, Any], cluster_uuid: str, *, floating_ips: bool
) -> network.Plan | None:
    if (plan := network.Plan.of_state(mine.get("plan", {}))) is not None:
        return plan
    # The router survives a conductor that died before its checkpoint.
    found = network.router_plan(cluster_uuid)
    if found is None:
        return None
    subnet, external = found
    fixed = not any(
        r.get("dst") == str(subnet)
        for r in json.loads(host.run("ip", "-j", "-4", "route", "show").stdout or "[]")
    )
    return network.Plan(subnet=subnet, external=external, fixed=fixed, floating_ips=floating_ips)


def credentials(conf: cfg.ConfigOpts, task: base.ClusterTask) -> pki.ClusterCredentials:
    """The bay's CA and client certificate, made once and kept in the driver state."""
    had = pki.STATE_KEY in task.state
    creds = pki.ensure_cluster_credentials(
        task.state, cluster_uuid=task.cluster.uuid, secret=pki.key_secret(conf)
    )
    if not had:
        task.checkpoint()
    return creds


def teardown(conf: cfg.ConfigOpts, cluster_uuid: str) -> None:
    """Remove what the bay's nodes shared, once they are gone."""
    registry.stop(cluster_uuid, run_dir=dirs(conf, cluster_uuid)[1])
    frontend.stop(cluster_uuid, run_dir=dirs(conf, cluster_uuid)[1])
    network.delete_router(cluster_uuid)
    network.delete_bridge(network.bridge_name(cluster_uuid), network.rule_comment(cluster_uuid))
    short = network.short_id(cluster_uuid)
    state_dir, run_dir = dirs(conf, cluster_uuid)
    host.unmount_all(state_dir, run_dir)
    with host.locked(HOST_LOCK):
        # Only the bay's own subtree goes. The shared top `magnum` cgroup stays for good (like
        # docker's own): removing it when this bay was its last child in some hierarchy
        # raced with runc creating a container's cgroup below it for another bay.
        cgroups.remove(cgroups.cluster_path(short))
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        _remove_if_empty(run_dir.parent)


def _remove_if_empty(path: pathlib.Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def leftover_netns(cluster_uuid: str) -> list[str]:
    """Node names of namespaces this bay still has, recorded or not."""
    prefix = network.netns_name(cluster_uuid, "")
    if not network.NETNS_DIR.exists():
        return []
    return sorted(
        p.name[len(prefix) :] for p in network.NETNS_DIR.iterdir() if p.name.startswith(prefix)
    )
