# SPDX-License-Identifier: Apache-2.0
"""Names for what a request leaves unnamed, in Magnum's style: `zeta-22-cluster`."""

from __future__ import annotations

import secrets

GREEK = (
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
)


def generate(kind: str) -> str:
    """`<greek letter>-<1..24>-<kind>`, e.g. kind "cluster" or "template"."""
    return f"{secrets.choice(GREEK)}-{secrets.randbelow(24) + 1}-{kind}"
