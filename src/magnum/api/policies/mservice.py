# SPDX-License-Identifier: Apache-2.0
"""The service's own processes (/v1/mservices): the conductors and their state."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

RULES = [
    base.rule(
        "magnum-service:get_all",
        base.ADMIN_API,
        "List the conductors, their hosts and state.",
        base.ops("GET", "/v1/mservices"),
        scope_types=base.ANY_SCOPE,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
