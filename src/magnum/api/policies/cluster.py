# SPDX-License-Identifier: Apache-2.0
"""Clusters (/v1/clusters, and the bays of Mitaka's API: see bay)."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

COLLECTION = "/v1/clusters"
ITEM = "/v1/clusters/{cluster_ident}"

RULES = [
    base.rule(
        "cluster:create",
        base.ADMIN_OR_MEMBER,
        "Create a cluster in the caller's project.",
        base.ops("POST", COLLECTION),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:delete",
        base.ADMIN_OR_MEMBER,
        "Delete a cluster of the project.",
        base.ops("DELETE", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:update",
        base.ADMIN_OR_MEMBER,
        "Update (resize) a cluster of the project with a JSON Patch.",
        base.ops("PATCH", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:update_health_status",
        base.ADMIN_OR_MEMBER,
        "Set a cluster's health_status and health_status_reason (a PATCH naming them).",
        base.ops("PATCH", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:resize",
        base.ADMIN_OR_MEMBER,
        "Resize a cluster's nodegroup, or remove given nodes.",
        base.ops("POST", f"{ITEM}/actions/resize"),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:upgrade",
        base.ADMIN_OR_MEMBER,
        "Upgrade a cluster to another cluster template.",
        base.ops("POST", f"{ITEM}/actions/upgrade"),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:get",
        base.ADMIN_OR_READER,
        "Show a cluster of the project, and its timeline of events.",
        base.ops("GET", ITEM, f"{ITEM}/events"),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:get_all",
        base.ADMIN_OR_READER,
        "List the project's clusters (brief items).",
        base.ops("GET", COLLECTION),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:detail",
        base.ADMIN_OR_READER,
        "List the project's clusters (full items).",
        base.ops("GET", f"{COLLECTION}/detail"),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "cluster:get_all_all_projects",
        base.ADMIN_API,
        "List every project's clusters (an admin's default, or ?all_projects=true), "
        "instead of cluster:get_all.",
        base.ops("GET", f"{COLLECTION}?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "cluster:detail_all_projects",
        base.ADMIN_API,
        "List every project's clusters in full (an admin's default, or "
        "?all_projects=true), instead of cluster:detail.",
        base.ops("GET", f"{COLLECTION}/detail?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "cluster:get_one_all_projects",
        base.ADMIN_API,
        "Show a cluster of any project (an admin's default, or ?all_projects=true); "
        "cluster:get still decides for the caller's own.",
        base.ops("GET", f"{ITEM}?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
