# SPDX-License-Identifier: Apache-2.0
"""Statistics (/v1/stats, from 1.4): a project's readers read its own counts; an admin
names any project, or gets every project's totals."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

RULES = [
    base.rule(
        "stats:get_all",
        base.ADMIN_OR_PROJECT_READER,
        "How many clusters and nodes a project has.",
        base.ops("GET", "/v1/stats"),
        scope_types=base.ANY_SCOPE,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
