# SPDX-License-Identifier: Apache-2.0
"""The default policy's personas: reader reads, member (and admin) also writes and acts,
a caller with none of the three roles does nothing, and no rule reaches another project."""

from __future__ import annotations

import pytest

from magnum import conf as magnum_conf
from magnum.api import policy
from magnum.common import context

# The actions that only read; every other registered action writes or acts.
READS = frozenset({"get", "get_all", "detail", "logs"})
OWN = {"project_id": "p1", "user_id": "u1"}


@pytest.fixture(scope="module")
def enforcer() -> policy.Policy:
    return policy.Policy(magnum_conf.load([], config_files=[]))


def _caller(*roles: str, project: str = "p1", user: str = "u1") -> context.RequestContext:
    return context.RequestContext(project_id=project, user_id=user, roles=roles)


def _actions() -> list[str]:
    bases = {rule.name for rule in policy._BASE}
    return sorted(r.name for r in policy.RULES if r.name not in bases)


ACTIONS = _actions()
# What only an admin may do, in any project: listing services, publishing or hiding a
# template, writing quotas (today's defaults)
ADMIN_ACTIONS = sorted(
    r.name
    for r in policy.RULES
    if r.name in ACTIONS and r.check_str in ("rule:admin_api", "rule:context_is_admin")
)
TENANT_ACTIONS = [a for a in ACTIONS if a not in ADMIN_ACTIONS]

# Rules that let an admin read any project's records (quotas, stats), as Magnum's do
CROSS_PROJECT_READS = sorted(
    r.name for r in policy.RULES if r.check_str.startswith("rule:context_is_admin or ")
)


def test_admin_actions_are_admins_alone(enforcer: policy.Policy) -> None:
    assert {"magnum-service:get_all", "clustertemplate:publish"} <= set(ADMIN_ACTIONS)
    for action in ADMIN_ACTIONS:
        assert enforcer.check(action, _caller("admin"), OWN), action
        assert not enforcer.check(action, _caller("member"), OWN), action
        assert not enforcer.check(action, _caller("reader"), OWN), action


@pytest.mark.parametrize("action", CROSS_PROJECT_READS)
def test_cross_project_reads_are_for_admins(enforcer: policy.Policy, action: str) -> None:
    other = {"project_id": "p2", "user_id": "u2"}
    assert enforcer.check(action, _caller("admin"), other)
    assert not enforcer.check(action, _caller("member", "reader"), other)


def test_every_vocabulary_has_its_rules() -> None:
    for prefix in ("bay", "cluster", "baymodel", "clustertemplate"):
        for action in ("create", "delete", "detail", "get", "get_all", "update"):
            assert f"{prefix}:{action}" in ACTIONS
    assert {"baymodel:publish", "clustertemplate:publish", "bay:load_image"} <= set(ACTIONS)
    assert {"container:execute", "certificate:create", "certificate:get"} <= set(ACTIONS)


@pytest.mark.parametrize("action", TENANT_ACTIONS)
def test_reader_only_reads(enforcer: policy.Policy, action: str) -> None:
    reads = action.split(":", 1)[1] in READS
    assert enforcer.check(action, _caller("reader"), OWN) is reads


@pytest.mark.parametrize("action", TENANT_ACTIONS)
@pytest.mark.parametrize(
    "roles", [("member",), ("admin",), ("admin", "member"), ("reader", "member")]
)
def test_member_and_admin_do_everything_in_their_project(
    enforcer: policy.Policy, action: str, roles: tuple[str, ...]
) -> None:
    assert enforcer.check(action, _caller(*roles), OWN)


@pytest.mark.parametrize("action", TENANT_ACTIONS)
@pytest.mark.parametrize("roles", [(), ("observer",), ("_member_",)])
def test_no_persona_no_access(enforcer: policy.Policy, action: str, roles: tuple[str, ...]) -> None:
    assert not enforcer.check(action, _caller(*roles), OWN)


@pytest.mark.parametrize("action", [a for a in TENANT_ACTIONS if a not in CROSS_PROJECT_READS])
def test_no_rule_reaches_another_project(enforcer: policy.Policy, action: str) -> None:
    other = {"project_id": "p2", "user_id": "u1"}
    assert not enforcer.check(action, _caller("admin", "member"), other)


def test_creator_rules_still_need_the_creator(enforcer: policy.Policy) -> None:
    someone_else = _caller("member", user="u2")
    for action in ("container:create", "container:update", "container:delete"):
        assert not enforcer.check(action, someone_else, OWN)
    assert not enforcer.check("certificate:create", someone_else, OWN)
    assert enforcer.check("container:start", someone_else, OWN)
    assert not enforcer.check("certificate:get", _caller("reader", user="u2"), OWN)
    assert enforcer.check("certificate:get", _caller("reader"), OWN)


def test_services_are_for_admins(enforcer: policy.Policy) -> None:
    assert enforcer.check("magnum-service:get_all", _caller("admin"))
    assert not enforcer.check("magnum-service:get_all", _caller("member"))
    assert not enforcer.check("magnum-service:get_all", _caller("reader"))


def test_unregistered_actions_need_a_member(enforcer: policy.Policy) -> None:
    assert enforcer.check("bay:something_new", _caller("member"))
    assert not enforcer.check("bay:something_new", _caller("reader"))
