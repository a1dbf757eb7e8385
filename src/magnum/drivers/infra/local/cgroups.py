# SPDX-License-Identifier: Apache-2.0
"""One cgroup per node: the flavor's memory and CPU limits, exact accounting, and a
reliable way to find and kill every process of a node.

A node's daemons live in `magnum/<bay id>/<node>`; its containers below it in
`.../ctr` (dockerd's --cgroup-parent). cgroup v1 (one hierarchy per controller) and
the unified v2 hierarchy are both handled; v1 is what the development host runs.
"""

from __future__ import annotations

import contextlib
import pathlib

from magnum.drivers.infra.local import host

ROOT = pathlib.Path("/sys/fs/cgroup")
TOP = "magnum"
# Controllers a node's processes are placed in on v1; dockerd adds its containers to
# every hierarchy it finds (cpuset, devices, freezer, name=systemd ...), so teardown
# walks all of them.
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "blkio")
CPU_PERIOD = 100_000


def is_v2() -> bool:
    return (ROOT / "cgroup.controllers").exists()


def node_path(cluster_id: str, node: str) -> str:
    return f"{TOP}/{cluster_id}/{node}"


def cluster_path(cluster_id: str) -> str:
    return f"{TOP}/{cluster_id}"


def _dirs(rel: str, controllers: tuple[str, ...] = V1_CONTROLLERS) -> list[pathlib.Path]:
    if is_v2():
        return [ROOT / rel]
    return [ROOT / c / rel for c in controllers]


def _all_hierarchies(rel: str) -> list[pathlib.Path]:
    if is_v2():
        return [ROOT / rel]
    return [d / rel for d in ROOT.iterdir() if d.is_dir() and not d.is_symlink()]


def _enable_v2_controllers(rel: str) -> None:
    # v2 needs each ancestor to delegate the controllers to its children.
    parts = pathlib.PurePosixPath(rel).parts
    for depth in range(len(parts)):
        parent = ROOT.joinpath(*parts[:depth])
        with contextlib.suppress(OSError):
            (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        (parent / parts[depth]).mkdir(exist_ok=True)


def create_dir(rel: str) -> None:
    """Make `rel` (no limits) in the hierarchies nodes use."""
    if is_v2():
        _enable_v2_controllers(rel)
        return
    for d in _dirs(rel):
        d.mkdir(parents=True, exist_ok=True)


def create(rel: str, *, memory_mb: int, cpus: int) -> list[pathlib.Path]:
    """Make the node cgroup with its limits; return the cgroup.procs files to join."""
    if is_v2():
        _enable_v2_controllers(rel)
        (ROOT / rel / "memory.max").write_text(str(memory_mb * 1024 * 1024))
        (ROOT / rel / "cpu.max").write_text(f"{cpus * CPU_PERIOD} {CPU_PERIOD}")
        return [ROOT / rel / "cgroup.procs"]
    for d in _dirs(rel):
        d.mkdir(parents=True, exist_ok=True)
    (ROOT / "memory" / rel / "memory.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024))
    (ROOT / "cpu" / rel / "cpu.cfs_period_us").write_text(str(CPU_PERIOD))
    (ROOT / "cpu" / rel / "cpu.cfs_quota_us").write_text(str(cpus * CPU_PERIOD))
    return procs_files(rel)


def procs_files(rel: str) -> list[pathlib.Path]:
    """The cgroup.procs files a process writes its pid to, to join the cgroup `rel`."""
    return [d / "cgroup.procs" for d in _dirs(rel)]


def pids(rel: str) -> set[int]:
    """Every process in the node cgroup and below (its containers included)."""
    base = ROOT / rel if is_v2() else ROOT / "pids" / rel
    found: set[int] = set()
    if not base.exists():
        return found
    for procs in base.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            found.update(int(p) for p in procs.read_text().split())
    return found


def kill_all(rel: str, *, keep: set[int] | None = None, timeout: float = 10.0) -> None:
    """SIGKILL everything in the node cgroup (except `keep`) until nothing else is left.

    Repeated because a daemon may fork while we are killing its siblings.
    """
    spare = keep or set()

    def gone() -> bool:
        left = pids(rel) - spare
        host.kill(left)
        return not left

    host.wait_for(f"processes of cgroup {rel} to exit", gone, timeout=timeout)


def remove(rel: str) -> None:
    """rmdir the tree at `rel` in every hierarchy, deepest first (cgroups need rmdir, not rm)."""
    for top in _all_hierarchies(rel):
        if not top.exists():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()
        with contextlib.suppress(FileNotFoundError):
            top.rmdir()
