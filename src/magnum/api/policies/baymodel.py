# SPDX-License-Identifier: Apache-2.0
"""Mitaka's baymodels (/v1/baymodels): the cluster templates' rules under their old names,
as aliases; publishing keeps Mitaka's own default."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

COLLECTION = "/v1/baymodels"
ITEM = "/v1/baymodels/{baymodel_ident}"

_ALIASES = (
    ("create", "Create a baymodel.", base.ops("POST", COLLECTION)),
    ("delete", "Delete a baymodel.", base.ops("DELETE", ITEM)),
    ("update", "Update a baymodel with a JSON Patch.", base.ops("PATCH", ITEM)),
    ("get", "Show a baymodel.", base.ops("GET", ITEM)),
    ("get_all", "List the project's and public baymodels.", base.ops("GET", COLLECTION)),
    (
        "detail",
        "List the project's and public baymodels in full.",
        base.ops("GET", f"{COLLECTION}/detail"),
    ),
    (
        "get_all_all_projects",
        "List every project's baymodels (an admin's by default, or ?all_projects=true).",
        base.ops("GET", f"{COLLECTION}?all_projects=true"),
    ),
    (
        "detail_all_projects",
        "List every project's baymodels in full (an admin's by default, or ?all_projects=true).",
        base.ops("GET", f"{COLLECTION}/detail?all_projects=true"),
    ),
    (
        "get_one_all_projects",
        "Show a baymodel of any project (an admin's by default, or ?all_projects=true).",
        base.ops("GET", f"{ITEM}?all_projects=true"),
    ),
)

RULES = [
    *(
        base.alias(f"baymodel:{action}", f"clustertemplate:{action}", text, o)
        for action, text, o in _ALIASES
    ),
    # Mitaka let a baymodel's owner publish it (clustertemplate:publish is an admin's).
    base.rule(
        "baymodel:publish",
        base.ADMIN_OR_MEMBER,
        "Make a baymodel public (Mitaka: a member of its project may).",
        [*base.ops("POST", COLLECTION), *base.ops("PATCH", ITEM)],
        old=base.MITAKA_OWNER,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
