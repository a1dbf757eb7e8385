# SPDX-License-Identifier: Apache-2.0
"""Magnum's policy in code: one module per resource, the personas in `base`.

`list_rules` is the `oslo.policy.policies` entry point (namespace `magnum`), so
`oslopolicy-sample-generator --namespace magnum` writes every default with its
documentation (etc/magnum/policy.yaml.sample, kept current by a unit test).
"""

from __future__ import annotations

import itertools

from oslo_policy import policy

from magnum.api.policies import (
    base,
    bay,
    baymodel,
    certificate,
    cluster,
    clustertemplate,
    container,
    mservice,
    nodegroup,
    quota,
    stats,
    workloads,
)

MODULES = (
    base,
    cluster,
    bay,
    clustertemplate,
    baymodel,
    nodegroup,
    container,
    certificate,
    quota,
    stats,
    mservice,
    workloads,
)


def list_rules() -> list[policy.RuleDefault]:
    return list(itertools.chain.from_iterable(m.list_rules() for m in MODULES))
