# SPDX-License-Identifier: Apache-2.0
"""What a local bay shares between its nodes: directories, a /24 and bridge, the
FORWARD rule, the bay cgroup, and its TLS credentials (kept in the bay's driver state).

Driver state written here (task.state):
  local.subnet   the bay's /24, e.g. "10.250.3.0/24"
  local.nodes    {name: {"address": ..., "slot": ..., "role": ...}} (mirrors node.json files)
  pki            magnum.common.pki.BayCredentials.to_state() (keys encrypted)
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import pathlib
import shutil

from oslo_config import cfg

from magnum.common import exceptions, pki
from magnum.drivers import base
from magnum.drivers.infra.local import cgroups, frontend, host, network, registry

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


def ensure_network(conf: cfg.ConfigOpts, task: base.ClusterTask) -> ipaddress.IPv4Network:
    """The bay's /24 and bridge, allocated under a host-wide lock so bays never overlap."""
    uuid = task.cluster.uuid
    bridge = network.bridge_name(uuid)
    mine = task.state.setdefault(STATE, {})
    state_dir, _ = dirs(conf, uuid)
    with host.locked(HOST_LOCK):
        _claim_dir(state_dir, uuid)
        subnet = _known_subnet(mine, bridge)
        if subnet is None:
            pool = ipaddress.ip_network(conf.local.subnet_pool)
            if not isinstance(pool, ipaddress.IPv4Network):
                raise exceptions.DriverError(reason="[local] subnet_pool must be IPv4.")
            subnet = network.pick_subnet(pool, network.used_networks())
        network.ensure_bridge(bridge, subnet)
        # The bay's cgroup level is made here, under the lock, so that a concurrent
        # teardown of the last other bay cannot rmdir the shared top level under us.
        cgroups.create_dir(cgroups.cluster_path(network.short_id(uuid)))
    network.ensure_forward_rule(bridge, network.rule_comment(uuid))
    if mine.get("subnet") != str(subnet):
        mine["subnet"] = str(subnet)
        task.checkpoint()
    return subnet


def _known_subnet(mine: dict[str, object], bridge: str) -> ipaddress.IPv4Network | None:
    if isinstance(mine.get("subnet"), str):
        return ipaddress.IPv4Network(mine["subnet"])
    # The bridge survives a conductor that died before its checkpoint.
    return network.bridge_subnet(bridge)


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
