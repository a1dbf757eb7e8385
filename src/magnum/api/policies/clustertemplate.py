# SPDX-License-Identifier: Apache-2.0
"""Cluster templates (/v1/clustertemplates, and Mitaka's baymodels: see baymodel)."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

COLLECTION = "/v1/clustertemplates"
ITEM = "/v1/clustertemplates/{clustertemplate_ident}"

RULES = [
    base.rule(
        "clustertemplate:create",
        base.ADMIN_OR_MEMBER,
        "Create a cluster template in the caller's project.",
        base.ops("POST", COLLECTION),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "clustertemplate:delete",
        base.ADMIN_OR_MEMBER,
        "Delete a cluster template of the project (one no cluster uses).",
        base.ops("DELETE", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "clustertemplate:update",
        base.ADMIN_OR_MEMBER,
        "Update a cluster template of the project with a JSON Patch.",
        base.ops("PATCH", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "clustertemplate:publish",
        base.ADMIN_API,
        "Make a cluster template public or hidden (create or update setting public or "
        "hidden): every project sees a public one.",
        [*base.ops("POST", COLLECTION), *base.ops("PATCH", ITEM)],
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "clustertemplate:get",
        base.ADMIN_OR_READER,
        "Show a cluster template of the project (a public one needs no rule).",
        base.ops("GET", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "clustertemplate:get_all",
        base.ADMIN_OR_READER,
        "List the project's and the public cluster templates.",
        base.ops("GET", COLLECTION),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "clustertemplate:detail",
        base.ADMIN_OR_READER,
        "List the project's and the public cluster templates (full items).",
        base.ops("GET", f"{COLLECTION}/detail"),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "clustertemplate:get_all_all_projects",
        base.ADMIN_API,
        "List every project's cluster templates, hidden ones too (?all_projects=true), "
        "instead of clustertemplate:get_all.",
        base.ops("GET", f"{COLLECTION}?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "clustertemplate:detail_all_projects",
        base.ADMIN_API,
        "List every project's cluster templates in full (?all_projects=true), instead of "
        "clustertemplate:detail.",
        base.ops("GET", f"{COLLECTION}/detail?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
    base.rule(
        "clustertemplate:get_one_all_projects",
        base.ADMIN_API,
        "Show a cluster template of any project (an admin's by default, or ?all_projects=true).",
        base.ops("GET", f"{ITEM}?all_projects=true"),
        scope_types=base.ANY_SCOPE,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
