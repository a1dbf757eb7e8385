# SPDX-License-Identifier: Apache-2.0
"""Microversions as data: what each version adds, and the gates that say in which versions
a route, an operation or a field exists (Ironic's style: one table, no overloaded methods).

A gate is a half-open range of versions, `since` (included) to `until` (excluded; None:
still there). Routes and operations are gated in magnum.api.routes; a view declares gated
fields with `Fields(..., field("cluster_id", since="1.13"), field("stack_id", until="1.13"))`
and shows `fields.at(negotiated(req))`. A request without a version header negotiates the
minimum, 1.1, where everything Mitaka served exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import falcon

from magnum.common import exceptions

Version = tuple[int, int]


@dataclasses.dataclass(frozen=True, slots=True)
class Microversion:
    version: Version
    adds: str


# Magnum's history (api/controllers/versions.py and rest_api_version_history.rst at master).
HISTORY: tuple[Microversion, ...] = (
    Microversion((1, 1), "Mitaka's API: bays, baymodels, containers, certificates, mservices"),
    Microversion((1, 2), 'bay and cluster create, update, delete are asynchronous: 202 {"uuid"}'),
    Microversion((1, 3), "PATCH of a bay or cluster takes ?rollback=<bool>"),
    Microversion((1, 4), "GET /v1/stats"),
    Microversion((1, 5), "PATCH /v1/certificates/{cluster}: CA rotation"),
    Microversion((1, 6), "/v1/quotas"),
    Microversion((1, 7), "POST /v1/clusters/{ident}/actions/resize"),
    Microversion((1, 8), "POST /v1/clusters/{ident}/actions/upgrade"),
    Microversion((1, 9), "/v1/clusters/{ident}/nodegroups"),
    Microversion((1, 10), "a cluster or nodegroup may have node_count 0"),
    Microversion((1, 11), "bays and baymodels removed: /v1/bays and /v1/baymodels answer 404"),
    Microversion((1, 12), "PATCH /v1/credentials/{cluster}: trust credentials rotation"),
    Microversion((1, 13), "cluster_id replaces stack_id in cluster responses"),
    Microversion((1, 14), "nodegroup node_labels and node_taints"),
)
KNOWN: frozenset[Version] = frozenset(m.version for m in HISTORY)


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def parse(text: str) -> Version:
    """Parse "1.13" into (1, 13); only versions of HISTORY."""
    major, _, minor = text.partition(".")
    version = (int(major), int(minor))
    if version not in KNOWN:
        raise ValueError(f"{text} is not a microversion of the history")
    return version


def _version(value: str | Version) -> Version:
    version = parse(value) if isinstance(value, str) else value
    if version not in KNOWN:
        raise ValueError(f"{fmt(version)} is not a microversion of the history")
    return version


MIN_VERSION: Version = HISTORY[0].version
# The newest version served in full: every gate below it holds for what is served. Raising
# it is this one line (the clusters API raises it once 1.2's asynchronous answers exist).
MAX_VERSION: Version = parse("1.14")
SERVED: tuple[Version, ...] = tuple(
    m.version for m in HISTORY if MIN_VERSION <= m.version <= MAX_VERSION
)


@dataclasses.dataclass(frozen=True, slots=True)
class Gate:
    """The versions [since, until) in which something exists."""

    since: Version = MIN_VERSION
    until: Version | None = None

    def __post_init__(self) -> None:
        _version(self.since)
        if self.until is not None:
            _version(self.until)

    def admits(self, version: Version) -> bool:
        return self.since <= version and (self.until is None or version < self.until)

    def __and__(self, other: Gate) -> Gate:
        until = [u for u in (self.until, other.until) if u is not None]
        return Gate(max(self.since, other.since), min(until) if until else None)

    def served(self, served: tuple[Version, ...] = SERVED) -> bool:
        """Whether it exists in some version this service serves."""
        return any(self.admits(v) for v in served)

    def everywhere(self, served: tuple[Version, ...] = SERVED) -> bool:
        """Whether it exists in every version this service serves (no check is needed)."""
        return all(self.admits(v) for v in served)

    def describe(self) -> dict[str, str]:
        out = {"since": fmt(self.since)}
        if self.until is not None:
            out["until"] = fmt(self.until)
        return out

    def check(self, version: Version, what: str) -> None:
        """Refuse a request for `what` at a version where it does not exist: 406 before it
        was added (as Magnum answers), 404 once it is removed (as if it never was)."""
        if version < self.since:
            raise exceptions.NotAcceptable(
                detail=f"Version {fmt(version)} was requested but the requested API {what} "
                "is not supported for this version."
            )
        if self.until is not None and version >= self.until:
            raise exceptions.RemovedInVersion(what=what, version=fmt(self.until))


ALWAYS = Gate()


def gate(*, since: str | Version | None = None, until: str | Version | None = None) -> Gate:
    return Gate(
        _version(since) if since is not None else MIN_VERSION,
        _version(until) if until is not None else None,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Gated:
    """A field (or query parameter) that exists only in some versions."""

    name: str
    gate: Gate


def field(
    name: str, *, since: str | Version | None = None, until: str | Version | None = None
) -> Gated:
    return Gated(name, gate(since=since, until=until))


class Fields:
    """Field names in order, some of them gated. `at(version)` is the tuple a version shows;
    iterating gives every field of any version (what may be sorted by, what docs list)."""

    __slots__ = ("_at", "_entries")

    def __init__(self, *entries: str | Gated) -> None:
        self._entries = tuple(e if isinstance(e, Gated) else Gated(e, ALWAYS) for e in entries)
        names = [e.name for e in self._entries]
        if len(set(names)) != len(names):
            raise ValueError(f"a field is named twice: {names}")
        self._at: dict[Version, tuple[str, ...]] = {}

    def at(self, version: Version) -> tuple[str, ...]:
        shown = self._at.get(version)
        if shown is None:
            shown = tuple(e.name for e in self._entries if e.gate.admits(version))
            self._at[version] = shown
        return shown

    def gate(self, name: str) -> Gate:
        return next(e.gate for e in self._entries if e.name == name)

    def __iter__(self) -> Iterator[str]:
        return (e.name for e in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Fields{tuple(self)}"


CONTEXT_KEY = "version"


def negotiated(req: falcon.Request) -> Version:
    """The version the request negotiated, as the middleware stored it. Paths outside /v1
    (the root document) negotiate none and read as the minimum."""
    value: Any = req.context.get(CONTEXT_KEY, MIN_VERSION)
    assert isinstance(value, tuple) and len(value) == 2
    return (int(value[0]), int(value[1]))
