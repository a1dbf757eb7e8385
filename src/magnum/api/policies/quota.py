# SPDX-License-Identifier: Apache-2.0
"""Quotas (/v1/quotas, from 1.6): the operator's. A project reads its own; only an admin
reads another's (the API refuses a non-admin that, whatever this rule says)."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

COLLECTION = "/v1/quotas"
ITEM = "/v1/quotas/{project_id}/{resource}"

RULES = [
    base.rule(
        "quota:create",
        base.ADMIN,
        "Set a project's limit on a resource.",
        base.ops("POST", COLLECTION),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "quota:update",
        base.ADMIN,
        "Change a project's limit.",
        base.ops("PATCH", ITEM),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "quota:delete",
        base.ADMIN,
        "Remove a project's limit (it has the default again).",
        base.ops("DELETE", ITEM),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "quota:get_all",
        base.ADMIN,
        "List quota records (every project's with all_tenants=true).",
        base.ops("GET", COLLECTION),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "quota:get",
        base.ADMIN_OR_PROJECT_READER,
        "Read a project's limit on a resource: its readers, or an admin.",
        base.ops("GET", ITEM),
        scope_types=base.ANY_SCOPE,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
