# SPDX-License-Identifier: Apache-2.0
"""Microversion negotiation, accepting both the Mitaka and the cross-project headers."""

from __future__ import annotations

import dataclasses

from magnum.api import microversions
from magnum.common import exceptions

# The range comes from the microversion table (magnum.api.microversions).
MIN_VERSION = microversions.MIN_VERSION
MAX_VERSION = microversions.MAX_VERSION
SERVICE_NAMES = (
    "container-infra",
    "container-infrastructure",
    "container-infrastructure-management",
)
EMITTED_SERVICE = "container-infra"
LEGACY_HEADER = "X-OpenStack-Magnum-API-Version"
HEADER = "OpenStack-API-Version"


fmt = microversions.fmt


RANGE = f"[{fmt(MIN_VERSION)}, {fmt(MAX_VERSION)}]"


@dataclasses.dataclass(frozen=True, slots=True)
class Negotiated:
    version: tuple[int, int]


def _parse(value: str, header: str) -> tuple[int, int]:
    if value.strip().lower() == "latest":
        return MAX_VERSION
    parts = value.strip().split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise exceptions.NotAcceptable(detail=f"Invalid value for {header} header")
    return int(parts[0]), int(parts[1])


def negotiate(new_style: str | None, legacy: str | None) -> Negotiated:
    """The version a request asked for (minimum when it asked for none)."""
    if new_style is not None:
        words = new_style.split()
        if len(words) != 2 or words[0].lower() not in SERVICE_NAMES:
            raise exceptions.NotAcceptable(detail=f"Invalid service type for {HEADER} header")
        version = _parse(words[1], HEADER)
    elif legacy is not None:
        version = _parse(legacy, LEGACY_HEADER)
    else:
        return Negotiated(MIN_VERSION)
    if version[0] != MIN_VERSION[0]:
        raise exceptions.NotAcceptable(
            detail=f"Mutually exclusive versions requested. Version {fmt(version)} requested but "
            f"not supported by this service. The supported version range is: {RANGE}."
        )
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise exceptions.NotAcceptable(
            detail=f"Version {fmt(version)} was requested but the minor version is not "
            f"supported by this service. The supported version range is: {RANGE}."
        )
    return Negotiated(version)


def range_headers() -> dict[str, str]:
    return {
        "X-OpenStack-Magnum-API-Minimum-Version": fmt(MIN_VERSION),
        "X-OpenStack-Magnum-API-Maximum-Version": fmt(MAX_VERSION),
        "OpenStack-API-Minimum-Version": f"{EMITTED_SERVICE} {fmt(MIN_VERSION)}",
        "OpenStack-API-Maximum-Version": f"{EMITTED_SERVICE} {fmt(MAX_VERSION)}",
        "Vary": f"{HEADER}, {LEGACY_HEADER}",
    }


def version_headers(version: tuple[int, int]) -> dict[str, str]:
    return {LEGACY_HEADER: fmt(version), HEADER: f"{EMITTED_SERVICE} {fmt(version)}"}
