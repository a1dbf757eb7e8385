# SPDX-License-Identifier: Apache-2.0
"""Containers on a bay (/v1/containers, Mitaka). Creating, changing and deleting one needs
the user who created it (its bay's, on create); actions need a member of the project."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

COLLECTION = "/v1/containers"
ITEM = "/v1/containers/{container_ident}"
ACTIONS = ("start", "stop", "reboot", "pause", "unpause")

RULES = [
    base.rule(
        "container:create",
        base.ADMIN_OR_MEMBER_USER,
        "Create a container on a bay the caller created (the target is the bay).",
        base.ops("POST", COLLECTION),
        old=base.MITAKA_USER,
    ),
    base.rule(
        "container:update",
        base.ADMIN_OR_MEMBER_USER,
        "Rename a container the caller created.",
        base.ops("PATCH", ITEM),
        old=base.MITAKA_USER,
    ),
    base.rule(
        "container:delete",
        base.ADMIN_OR_MEMBER_USER,
        "Delete a container the caller created.",
        base.ops("DELETE", ITEM),
        old=base.MITAKA_USER,
    ),
    base.rule(
        "container:get",
        base.ADMIN_OR_READER,
        "Show a container of the project.",
        base.ops("GET", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "container:get_all",
        base.ADMIN_OR_READER,
        "List the project's containers.",
        base.ops("GET", COLLECTION),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "container:detail",
        base.ADMIN_OR_READER,
        "List the project's containers in full.",
        base.ops("GET", f"{COLLECTION}/detail"),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "container:logs",
        base.ADMIN_OR_READER,
        "Read a container's logs.",
        base.ops("GET", f"{ITEM}/logs"),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "container:execute",
        base.ADMIN_OR_MEMBER,
        "Run a command in a container.",
        base.ops("PUT", f"{ITEM}/execute"),
        old=base.MITAKA_OWNER,
    ),
    *(
        base.rule(
            f"container:{action}",
            base.ADMIN_OR_MEMBER,
            f"{action.capitalize()} a container of the project.",
            base.ops("PUT", f"{ITEM}/{action}"),
            old=base.MITAKA_OWNER,
        )
        for action in ACTIONS
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
