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
    table = (
        (
            "create",
            base.ADMIN_OR_MEMBER,
            f"Create a {noun} on a bay from a manifest.",
            "POST",
            (path,),
        ),
        (
            "update",
            base.ADMIN_OR_MEMBER,
            f"Replace a {noun} with the manifest a JSON Patch sets.",
            "PATCH",
            items,
        ),
        ("delete", base.ADMIN_OR_MEMBER, f"Delete a {noun} of a bay.", "DELETE", items),
        ("get", base.ADMIN_OR_READER, f"Show a {noun} of a bay.", "GET", items),
        ("get_all", base.ADMIN_OR_READER, f"List a bay's {collection}.", "GET", (path,)),
        (
            "detail",
            base.ADMIN_OR_READER,
            f"List a bay's {collection} in full.",
            "GET",
            (f"{path}/detail",),
        ),
    )
    return [
        base.rule(
            f"{prefix}:{action}", persona, text, base.ops(method, *paths), old=base.MITAKA_OWNER
        )
        for action, persona, text, method, paths in table
    ]


RULES = [rule for kind in KINDS for rule in _rules(*kind)]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
