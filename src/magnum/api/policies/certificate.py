# SPDX-License-Identifier: Apache-2.0
"""A cluster's certificates (/v1/certificates) and the conductor's client credential
(/v1/credentials, from 1.12); the target is the cluster."""

from __future__ import annotations

from oslo_policy import policy

from magnum.api.policies import base

ITEM = "/v1/certificates/{cluster_ident}"

RULES = [
    base.rule(
        "certificate:create",
        base.ADMIN_OR_MEMBER_USER,
        "Sign a CSR with a cluster's CA: a member who created the cluster.",
        base.ops("POST", "/v1/certificates"),
        old=base.MITAKA_USER,
    ),
    base.rule(
        "certificate:get",
        base.ADMIN_OR_READER_USER,
        "Read a cluster's CA certificate: a reader who created the cluster.",
        base.ops("GET", ITEM),
        old=base.MITAKA_USER,
    ),
    base.rule(
        "certificate:rotate_ca",
        base.ADMIN_OR_MEMBER,
        "Rotate a cluster's CA (from 1.5).",
        base.ops("PATCH", ITEM),
        old=base.MITAKA_OWNER,
    ),
    base.rule(
        "credential:rotate",
        base.PROJECT_MEMBER,
        "Reissue the conductor's client certificate of a cluster, revoking the old one "
        "(from 1.12).",
        base.ops("PATCH", "/v1/credentials/{cluster_ident}"),
        old=base.MITAKA_OWNER,
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
