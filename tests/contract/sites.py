# SPDX-License-Identifier: Apache-2.0
"""Which drivers the contract suite runs over, and where it runs them.

Drivers are found the way the registry finds them: every entry point of its two groups,
whichever distribution registers it. Those of the test-double distribution
(tests/plugins, magnum-testdrivers) run anywhere; every other one is a real driver and
builds real clusters on this host (root, dockerd, network namespaces), so the tests that
build with it carry the `realhost` marks and run in scripts/test's serial pass.

A COE driver is driven on nodes made by the infrastructure driver its distribution ships
beside it (the fake COE on the fake infrastructure, swarm on local).

A Site is where one infrastructure driver builds: its configuration, the clusters made
there (deleted at the end whatever happened) and what they hold on the host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import shutil
import uuid
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest

from magnum import conf as magnum_conf
from magnum.drivers import base, registry
from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import network
from tests import doubles
from tests.functional import hostcheck

DOUBLES = "magnum-testdrivers"  # the distribution of tests/plugins


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One entry point of a driver group."""

    group: str
    name: str
    dist: str

    @property
    def real(self) -> bool:
        return self.dist != DOUBLES


def entries(group: str) -> list[Entry]:
    found = [
        Entry(group=group, name=ep.name, dist=ep.dist.name if ep.dist else "")
        for ep in metadata.entry_points(group=group)
    ]
    return sorted(found, key=lambda e: e.name)


def infra_entries() -> list[Entry]:
    return entries(registry.INFRA_GROUP)


def coe_entries() -> list[Entry]:
    return entries(registry.COE_GROUP)


def partner(coe: Entry) -> Entry | None:
    """The infrastructure driver shipped beside a COE driver."""
    return next((e for e in infra_entries() if e.dist == coe.dist), None)


def marks(*drivers: Entry | None) -> list[pytest.MarkDecorator]:
    return hostcheck.REALHOST if any(d is None or d.real for d in drivers) else []


def cheap(found: list[Entry]) -> list[Any]:
    """Parameters for tests that build nothing: no marks, real drivers included."""
    return [pytest.param(e, id=e.name) for e in found]


def building(found: list[Entry]) -> list[Any]:
    """Parameters for tests that build clusters: real drivers carry the realhost marks."""
    return [pytest.param(e, id=e.name, marks=marks(e)) for e in found]


def pairs() -> list[Any]:
    """(COE, its infrastructure) for every COE entry point, for tests that build clusters:
    real ones carry the realhost marks."""
    found = []
    for coe in coe_entries():
        infra = partner(coe)
        name = infra.name if infra else "nothing"
        found.append(
            pytest.param((coe, infra), id=f"{coe.name}-on-{name}", marks=marks(coe, infra))
        )
    return found


def make_conf(state: pathlib.Path, run: pathlib.Path) -> Any:
    """A configuration with nothing enabled yet, keeping everything under `state` and `run`."""
    conf = magnum_conf.new(messaging=False)
    conf([], default_config_files=[])
    conf.set_override("state_path", str(state))
    conf.set_override("run_dir", str(run), group="local")
    conf.set_override("enabled_infra_drivers", [], group="conductor")
    conf.set_override("enabled_coe_drivers", [], group="conductor")
    return conf


def load_infra(conf: Any, entry: Entry) -> base.InfraDriver:
    """The driver as the conductor gets it: through the registry, enabled by name."""
    conf.set_override("enabled_infra_drivers", [entry.name], group="conductor")
    return registry.load(conf).infra[entry.name]


def load_coe(conf: Any, entry: Entry) -> base.CoeDriver:
    conf.set_override("enabled_coe_drivers", [entry.name], group="conductor")
    (driver,) = registry.load(conf).coe.values()
    return driver


def files(*roots: pathlib.Path) -> list[str]:
    """Files (not directories) under `roots`, less the key secret a host keeps for good."""
    return sorted(
        str(p)
        for root in roots
        if root.exists()
        for p in root.rglob("*")
        if not p.is_dir() and p.name != "pki.secret"
    )


class Site:
    """Where one infrastructure driver builds clusters, for one test."""

    def __init__(self, conf: Any, infra: Entry, dirs: tuple[pathlib.Path, pathlib.Path]) -> None:
        self.conf = conf
        self.dirs = dirs
        self.infra = load_infra(conf, infra)
        self.tasks: dict[str, doubles.RecordingTask] = {}  # the latest task of each cluster
        self.model = doubles.cluster_template(labels={"contract": "test"})

    def new_task(self, *, masters: int = 1, workers: int = 1) -> doubles.RecordingTask:
        task = doubles.new_task(self.model, masters=masters, workers=workers)
        self.tasks[task.cluster.uuid] = task
        return task

    def takeover(self, task: doubles.RecordingTask) -> doubles.RecordingTask:
        """A conductor taking the operation over: a fresh task from the persisted state."""
        fresh = task.takeover()
        self.tasks[task.cluster.uuid] = fresh
        return fresh

    def footprint(self) -> dict[str, Any]:
        """What the clusters of this site hold on the host now."""
        return {"files": files(*self.dirs)}

    def assert_clean(self) -> None:
        """Nothing any cluster of this site made is left."""
        assert self.footprint() == {"files": []}

    def delete_all(self) -> None:
        """Delete every cluster made here (each with its latest task); raise the first
        error once all have been tried."""
        errors: list[Exception] = []
        for task in self.tasks.values():
            try:
                self.infra.delete_cluster(task)
            except Exception as exc:  # noqa: BLE001 - delete every other cluster first
                errors.append(exc)
        if errors:
            raise errors[0]


class HostSite(Site):
    """A site for the real drivers: this host, checked against a snapshot taken before."""

    def __init__(self, conf: Any, infra: Entry, dirs: tuple[pathlib.Path, pathlib.Path]) -> None:
        super().__init__(conf, infra, dirs)
        self.before = hostcheck.snapshot(*dirs)

    def _take(self) -> dict[str, Any]:
        return hostcheck.without_kept(
            hostcheck.snapshot(*self.dirs), local_cluster.state_root(self.conf)
        )

    def _tags(self) -> list[str]:
        return [network.short_id(u) for u in self.tasks]

    def footprint(self) -> dict[str, Any]:
        """Namespaces, links, FORWARD rules, cgroups and node daemons of this site's clusters:
        what a driver that built something twice would have twice."""
        mine = hostcheck.ours(self._take(), self._tags(), self.dirs)
        return {k: mine[k] for k in ("netns", "links", "forward", "cgroup_tree", "procs")}

    def assert_clean(self) -> None:
        hostcheck.assert_clean(self.before, self._take, tags=self._tags(), dirs=self.dirs)


@contextlib.contextmanager
def site(infra: Entry | None, tmp_path: pathlib.Path) -> Iterator[Site]:
    """A site for `infra`, closed (every cluster deleted, the host checked) at the end."""
    if infra is None:
        pytest.fail("no infrastructure driver is shipped beside this COE driver")
    if not infra.real:
        dirs = (tmp_path / "state", tmp_path / "run")
        made: Site = Site(make_conf(*dirs), infra, dirs)
    else:
        hostcheck.skip_unless_possible()
        tag = uuid.uuid4().hex[:8]
        # Short paths: containerd's socket lives under the run dir (108-byte limit).
        dirs = (pathlib.Path(f"/tmp/mgn-{tag}"), pathlib.Path(f"/run/mgn-{tag}"))
        made = HostSite(make_conf(*dirs), infra, dirs)
    try:
        try:
            yield made
        except BaseException:
            with contextlib.suppress(Exception):  # the test's own failure is what matters
                made.delete_all()
            raise
        made.delete_all()
        made.assert_clean()
    finally:
        if infra.real:
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
