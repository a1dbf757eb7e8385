# SPDX-License-Identifier: Apache-2.0
"""A cluster's nodegroups (/v1/clusters/{c}/nodegroups, from 1.9); the target is the
cluster."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

COLLECTION = "/v1/clusters/{cluster_ident}/nodegroups"
ITEM = f"{COLLECTION}/{{nodegroup}}"

RULES = [
    base.rule(
        "nodegroup:get_all",
        base.ADMIN_OR_READER,
        "List the nodegroups of a cluster of the project.",
        base.ops("GET", COLLECTION),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "nodegroup:get",
        base.ADMIN_OR_READER,
        "Show a nodegroup of a cluster of the project.",
        base.ops("GET", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "nodegroup:create",
        base.ADMIN_OR_MEMBER,
        "Add a nodegroup to a cluster of the project.",
        base.ops("POST", COLLECTION),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "nodegroup:update",
        base.ADMIN_OR_MEMBER,
        "Change (resize) a nodegroup of a cluster of the project.",
        base.ops("PATCH", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "nodegroup:delete",
        base.ADMIN_OR_MEMBER,
        "Delete a nodegroup of a cluster of the project.",
        base.ops("DELETE", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "nodegroup:get_all_all_projects",
        base.ADMIN_API,
        "List a cluster's nodegroups, any project's (an admin's default, or ?all_projects=true).",
        base.ops("GET", f"{COLLECTION}?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "nodegroup:get_one_all_projects",
        base.ADMIN_API,
        "Show a nodegroup of any project's cluster (an admin's default, or ?all_projects=true).",
        base.ops("GET", f"{ITEM}?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
