# SPDX-License-Identifier: Apache-2.0
"""Mitaka's bays (/v1/bays): the clusters' rules under their old names, as aliases."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

COLLECTION = "/v1/bays"
ITEM = "/v1/bays/{bay_ident}"

_ALIASES = (
    ("create", "Create a bay.", base.ops("POST", COLLECTION)),
    ("delete", "Delete a bay.", base.ops("DELETE", ITEM)),
    ("update", "Update (resize) a bay.", base.ops("PATCH", ITEM)),
    ("get", "Show a bay, and its events.", base.ops("GET", ITEM, f"{ITEM}/events")),
    ("get_all", "List the project's bays.", base.ops("GET", COLLECTION)),
    ("detail", "List the project's bays in full.", base.ops("GET", f"{COLLECTION}/detail")),
    (
        "get_all_all_projects",
        "List every project's bays (an admin's by default, or ?all_projects=true).",
        base.ops("GET", f"{COLLECTION}?all_projects=true"),
    ),
    (
        "detail_all_projects",
        "List every project's bays in full (an admin's by default, or ?all_projects=true).",
        base.ops("GET", f"{COLLECTION}/detail?all_projects=true"),
    ),
    (
        "get_one_all_projects",
        "Show a bay of any project (an admin's by default, or ?all_projects=true).",
        base.ops("GET", f"{ITEM}?all_projects=true"),
    ),
)

RULES = [
    *(base.alias(f"bay:{action}", f"cluster:{action}", text, o) for action, text, o in _ALIASES),
    base.rule(
        "bay:load_image",
        base.ADMIN_OR_MEMBER,
        "Load container images (a docker save archive) onto every node of a bay.",
        base.ops("POST", f"{ITEM}/images"),
        old=base.MITAKA_OWNER,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
