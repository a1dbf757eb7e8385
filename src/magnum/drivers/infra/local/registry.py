# SPDX-License-Identifier: Apache-2.0
"""The per-bay image registry of bays whose baymodel has `registry_enabled`.

One Debian `docker-registry` (distribution 2.8) process per bay, in the bay's router
(network.py), listening on its every address at [local] registry_port. Nodes and tenants
name it `<gateway>:<port>` (e.g. 10.250.3.1:5000) for a bay routed from the host, and
`<router's external address>:<port>` for a bay on its template's fixed_network (the
nodes reach that address too). Other bays' routers drop what their nodes send it. Its
storage lives under the bay's state directory, so deleting the bay deletes the images.
The process runs in its own cgroup below the bay's (`magnum/<bay id>/registry`) and in
its own session, so it outlives the conductor that started it and is found and killed
through the cgroup, like a node.

Every node's dockerd lists the registry under `insecure-registries` (plain HTTP: the
traffic never leaves the host) and runs with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=0,
so swarm agents pull service images from it.

The router's INPUT chain drops what is not let in: a rule there accepts the port.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import secrets
import shlex
import shutil
import urllib.error
import urllib.request

from oslo_config import cfg

from magnum.common import exceptions
from magnum.drivers.infra.local import cgroups, host, network, spawn

CGROUP_NAME = "registry"  # never a node name: nodes are master-N and node-N
MEMORY_MB = 256
START_TIMEOUT = 15.0


def address(conf: cfg.ConfigOpts, plan: network.Plan) -> str:
    """host:port of the bay's registry, as nodes and tenants name it (both reach it
    there: the gateway of a routed bay, the router's external address otherwise)."""
    return f"{plan.front_address}:{conf.local.registry_port}"


def _dir(state_dir: pathlib.Path) -> pathlib.Path:
    return state_dir / CGROUP_NAME


def _pidfile(run_dir: pathlib.Path) -> pathlib.Path:
    return run_dir / "registry.pid"


def _cgroup(cluster_uuid: str) -> str:
    return cgroups.node_path(network.short_id(cluster_uuid), CGROUP_NAME)


def _config(root: pathlib.Path, listen: str) -> str:
    # JSON is YAML: no YAML library needed, and nothing is interpolated unquoted.
    return json.dumps(
        {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(root / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": listen, "secret": secrets.token_hex(16)},
        },
        indent=1,
    )


def _comment(cluster_uuid: str) -> str:
    return f"{network.rule_comment(cluster_uuid)} registry"


def answers(listen: str, timeout: float = 1.0) -> bool:
    """Whether the registry serves its API (GET /v2/ answers 200) at `listen`."""
    # Plain HTTP to the bay's own gateway address, never through the conductor's proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{listen}/v2/", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def running_pid(run_dir: pathlib.Path) -> int | None:
    pid = host.read_pid(_pidfile(run_dir))
    return pid if pid is not None and host.pid_alive(pid) else None


def ensure(
    conf: cfg.ConfigOpts,
    *,
    cluster_uuid: str,
    plan: network.Plan,
    state_dir: pathlib.Path,
    run_dir: pathlib.Path,
) -> str:
    """Make sure the bay's registry runs and answers; return its host:port as nodes name
    it. Idempotent."""
    binary = shutil.which(conf.local.registry)
    if binary is None:
        raise exceptions.ClusterOperationFailed(
            reason=f"{conf.local.registry} is not installed on this host "
            "(apt-get install docker-registry); registry_enabled bays need it."
        )
    listen = address(conf, plan)
    network.router_accept(cluster_uuid, conf.local.registry_port, _comment(cluster_uuid))
    pid = running_pid(run_dir)
    if pid is None:
        pid = _start(
            binary,
            cluster_uuid=cluster_uuid,
            listen=f"0.0.0.0:{conf.local.registry_port}",
            state_dir=state_dir,
            run_dir=run_dir,
        )

    def ready() -> bool:
        if not host.pid_alive(pid):
            raise exceptions.ClusterOperationFailed(
                reason=f"The bay registry at {listen} exited: {_log_tail(state_dir)}"
            )
        return answers(listen)

    try:
        host.wait_for(f"the bay registry at {listen}", ready, timeout=START_TIMEOUT)
    except exceptions.WaitTimedOut as exc:
        raise exceptions.ClusterOperationFailed(
            reason=f"The bay registry at {listen} did not answer within "
            f"{START_TIMEOUT:.0f}s: {_log_tail(state_dir)}"
        ) from exc
    return listen


def _start(
    binary: str,
    *,
    cluster_uuid: str,
    listen: str,
    state_dir: pathlib.Path,
    run_dir: pathlib.Path,
) -> int:
    root = _dir(state_dir)
    (root / "data").mkdir(mode=0o700, parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(_config(root, listen))
    config.chmod(0o600)
    procs = cgroups.create(_cgroup(cluster_uuid), memory_mb=MEMORY_MB, cpus=1)
    run_dir.mkdir(parents=True, exist_ok=True)
    # the registry needs no environment but PATH, and resolves nothing against its cwd
    return spawn.start(
        [binary, "serve", str(config)],
        cgroup_procs=procs,
        log=root / "registry.log",
        prefix=network.in_router(cluster_uuid),
        env={},
        pidfile=_pidfile(run_dir),
    )


def _log_tail(state_dir: pathlib.Path, lines: int = 3) -> str:
    try:
        text = (_dir(state_dir) / "registry.log").read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def stop(cluster_uuid: str, *, run_dir: pathlib.Path) -> None:
    """Kill the bay's registry and remove its firewall rule and cgroup; its storage goes
    with the bay's state directory. Safe when there is no registry."""
    rel = _cgroup(cluster_uuid)
    cgroups.kill_all(rel)
    spawn.reap(host.read_pid(_pidfile(run_dir)))
    cgroups.remove(rel)
    with contextlib.suppress(FileNotFoundError):
        _pidfile(run_dir).unlink()
    comment = _comment(cluster_uuid)
    # The router's rule goes with the router. A bay made before routers had its rule in
    # the host's INPUT chain, naming the bay in its comment: find it without knowing the
    # port it used.
    for line in host.run("iptables", "-w", "-S", "INPUT", check=False).stdout.splitlines():
        if f'"{comment}"' in line and line.startswith("-A INPUT"):
            host.run("iptables", "-w", "-D", *shlex.split(line)[1:], check=False)
