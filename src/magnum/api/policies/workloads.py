# SPDX-License-Identifier: Apache-2.0
"""A bay's Kubernetes objects (/v1/pods, /v1/rcs, /v1/services, Mitaka); the target is the
bay: readers list and show them, members create, replace and delete them."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

KINDS = (
    ("pod", "pods", "pod"),
    ("rc", "rcs", "replication controller"),
    ("service", "services", "service"),
)


def _rules(prefix: str, collection: str, noun: str) -> list[policy.RuleDefault]:
    path = f"/v1/{collection}"
    items = (f"{path}/{{ident}}", f"{path}/{{ident}}/{{bay_ident}}")
    return [
        base.rule(
            f"{prefix}:create",
            base.ADMIN_OR_MEMBER,
            f"Create a {noun} on a bay from a manifest.",
            base.ops("POST", path),
            old=base.MITAKA_OWNER,
        ),
        base.rule(
            f"{prefix}:update",
            base.ADMIN_OR_MEMBER,
            f"Replace a {noun} with the manifest a JSON Patch sets.",
            base.ops("PATCH", *items),
            old=base.MITAKA_OWNER,
        ),
        base.rule(
            f"{prefix}:delete",
            base.ADMIN_OR_MEMBER,
            f"Delete a {noun} of a bay.",
            base.ops("DELETE", *items),
            old=base.MITAKA_OWNER,
        ),
        base.rule(
            f"{prefix}:get",
            base.ADMIN_OR_READER,
            f"Show a {noun} of a bay.",
            base.ops("GET", *items),
            old=base.MITAKA_OWNER,
        ),
        base.rule(
            f"{prefix}:get_all",
            base.ADMIN_OR_READER,
            f"List a bay's {collection}.",
            base.ops("GET", path),
            old=base.MITAKA_OWNER,
        ),
        base.rule(
            f"{prefix}:detail",
            base.ADMIN_OR_READER,
            f"List a bay's {collection} in full.",
            base.ops("GET", f"{path}/detail"),
            old=base.MITAKA_OWNER,
        ),
    ]


RULES = [rule for kind in KINDS for rule in _rules(*kind)]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
