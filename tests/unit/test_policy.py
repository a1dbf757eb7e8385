# SPDX-License-Identifier: Apache-2.0
"""The default policy (magnum.api.policies) per persona: a project reader reads, a member
(and an admin) also writes and acts, a caller with none of the three roles does nothing,
no project rule reaches another project, and only an admin across projects passes the
`*_all_projects` rules; Mitaka's bay:*/baymodel:* names are aliases of today's; scope
types are checked unless [oslo_policy] enforce_scope is off; every rule is documented."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest
from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from magnum import conf as magnum_conf
from magnum.api import policies, policy
from magnum.api.policies import base
from magnum.common import context

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "magnum" / "api"
# The actions that only read; every other registered action writes or acts.
READS = frozenset({"get", "get_all", "detail", "logs"})
OWN = {"project_id": "p1", "user_id": "u1"}
OTHER = {"project_id": "p2", "user_id": "u2"}
PREFIXES = "bay|baymodel|cluster|clustertemplate|nodegroup|container|certificate|credential"
ACTION = rf'"((?:{PREFIXES}|quota|stats|magnum-service|pod|rc|service):[a-z_]+)"'
PERSONAS = frozenset(r.name for r in base.RULES)
BY_NAME = {r.name: r for r in policies.list_rules()}


def _resolved(name: str) -> str:
    """The check string of `name`, following aliases (rule:<another action>)."""
    check = BY_NAME[name].check_str
    while check.startswith("rule:") and check[5:] in BY_NAME and check[5:] not in PERSONAS:
        check = BY_NAME[check[5:]].check_str
    return check


ACTIONS = sorted(n for n in BY_NAME if n not in PERSONAS)
# What only an admin may do, in any project: lists and gets across projects, services,
# publishing or hiding a template, writing quotas.
ADMIN_ACTIONS = sorted(a for a in ACTIONS if _resolved(a) in (base.ADMIN_API, base.ADMIN))
ALL_PROJECTS = sorted(a for a in ACTIONS if a.endswith("_all_projects"))
# Rules that let an admin read any project's records (quotas, stats), as Magnum's do
CROSS_PROJECT_READS = sorted(a for a in ACTIONS if _resolved(a) == base.ADMIN_OR_PROJECT_READER)
TENANT_ACTIONS = [a for a in ACTIONS if a not in ADMIN_ACTIONS]


def _conf(**oslo_policy_opts: Any) -> cfg.ConfigOpts:
    return magnum_conf.load([], config_files=[], overrides={"oslo_policy": oslo_policy_opts})


@pytest.fixture(scope="module")
def enforcer() -> policy.Policy:
    return policy.Policy(_conf())


def _caller(*roles: str, project: str = "p1", user: str = "u1") -> context.RequestContext:
    return context.RequestContext(project_id=project, user_id=user, roles=roles)


def _creds(*roles: str, project: str | None = "p1", **scope: Any) -> dict[str, Any]:
    """Credentials as a Keystone token gives them: project-, system- or domain-scoped."""
    return {"project_id": project, "user_id": "u1", "roles": list(roles), **scope}


def _oslo(conf: cfg.ConfigOpts) -> oslo_policy.Enforcer:
    e = policy.enforcer(conf)
    e.load_rules()
    return e


def test_every_action_the_api_authorizes_is_registered() -> None:
    """Every literal action name in the API's code, and every view's prefix with each of
    its actions, has a rule of its own (none falls back to `default`)."""
    literal = set()
    for path in (SRC / "v1").glob("*.py"):
        literal |= set(re.findall(ACTION, path.read_text(encoding="utf-8")))
    assert {"cluster:update_health_status", "nodegroup:get", "magnum-service:get_all"} <= literal
    computed = {
        f"{p}:{a}"
        for p in ("bay", "cluster", "baymodel", "clustertemplate")
        for a in (
            *("create", "delete", "detail", "get", "get_all", "update"),
            *("get_all_all_projects", "detail_all_projects", "get_one_all_projects"),
        )
    }
    computed |= {"baymodel:publish", "clustertemplate:publish", "bay:load_image"}
    computed |= {
        f"{p}:{a}"
        for p in ("pod", "rc", "service")
        for a in ("create", "delete", "detail", "get", "get_all", "update")
    }
    computed |= {
        f"container:{a}"
        for a in ("start", "stop", "reboot", "pause", "unpause", "logs", "execute", "get")
    }
    missing = sorted((literal | computed) - set(ACTIONS))
    assert missing == []


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_is_documented(name: str) -> None:
    rule = BY_NAME[name]
    assert isinstance(rule, oslo_policy.DocumentedRuleDefault)
    assert len(rule.description) > 10
    assert rule.operations
    for op in rule.operations:
        assert op["method"] in ("GET", "POST", "PATCH", "PUT", "DELETE")
        assert op["path"].startswith("/v1/")
    assert rule.scope_types in (["project"], ["system", "project"])
    # cross-project rules take a system-scoped admin; a project's own rules need a project
    assert (rule.scope_types == ["system", "project"]) is (
        name in ADMIN_ACTIONS or name in CROSS_PROJECT_READS
    )


def test_admin_actions_are_admins_alone(enforcer: policy.Policy) -> None:
    assert {"magnum-service:get_all", "clustertemplate:publish"} <= set(ADMIN_ACTIONS)
    assert set(ALL_PROJECTS) <= set(ADMIN_ACTIONS)
    for action in ADMIN_ACTIONS:
        assert enforcer.check(action, _caller("admin"), OWN), action
        assert not enforcer.check(action, _caller("member"), OWN), action
        assert not enforcer.check(action, _caller("reader"), OWN), action


def test_all_projects_rules_have_upstream_names() -> None:
    expected = {
        "cluster:get_all_all_projects",
        "cluster:detail_all_projects",
        "cluster:get_one_all_projects",
        "clustertemplate:get_all_all_projects",
        "clustertemplate:detail_all_projects",
        "clustertemplate:get_one_all_projects",
        "nodegroup:get_all_all_projects",
        "nodegroup:get_one_all_projects",
        "bay:get_all_all_projects",
        "baymodel:get_one_all_projects",
    }
    assert expected <= set(ALL_PROJECTS)


@pytest.mark.parametrize("action", ALL_PROJECTS)
def test_all_projects_is_the_admin_across_projects(enforcer: policy.Policy, action: str) -> None:
    """Whatever the target's project; a project's own admin persona is not enough."""
    assert enforcer.check(action, _caller("admin", project="p9"), OTHER)
    assert enforcer.check(action, _caller("admin"), OWN)
    for roles in (("member",), ("reader",), ("member", "reader"), ()):
        assert not enforcer.check(action, _caller(*roles), OWN), roles
        assert not enforcer.check(action, _caller(*roles), OTHER), roles


@pytest.mark.parametrize("action", CROSS_PROJECT_READS)
def test_cross_project_reads_are_for_admins(enforcer: policy.Policy, action: str) -> None:
    assert enforcer.check(action, _caller("admin"), OTHER)
    assert not enforcer.check(action, _caller("member", "reader"), OTHER)


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


def test_the_personas(enforcer: policy.Policy) -> None:
    """project_admin is the admin role in the target's project; context_is_admin (the
    admin across projects) is the admin role anywhere."""
    assert enforcer.check("project_admin", _caller("admin"), OWN)
    assert not enforcer.check("project_admin", _caller("admin"), OTHER)
    assert not enforcer.check("project_admin", _caller("member"), OWN)
    assert enforcer.check("context_is_admin", _caller("admin"), OTHER)
    assert not enforcer.check("context_is_admin", _caller("member", "reader"), OWN)
    assert enforcer.check("project_member", _caller("admin"), OWN)
    assert not enforcer.check("project_member", _caller("reader"), OWN)
    assert enforcer.check("project_reader", _caller("reader"), OWN)
    assert not enforcer.check("project_reader", _caller("reader"), OTHER)


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


# --- aliases and policy files -----------------------------------------------------------------
def _with_file(tmp_path: pathlib.Path, rules: dict[str, str], **opts: Any) -> policy.Policy:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(rules), encoding="utf-8")
    return policy.Policy(_conf(policy_file=str(path), **opts))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"{o}:{a}", f"{n}:{a}")
        for o, n in (("bay", "cluster"), ("baymodel", "clustertemplate"))
        for a in ("create", "update", "get_all", "get_one_all_projects")
    ],
)
def test_mitaka_names_are_aliases(tmp_path: pathlib.Path, old: str, new: str) -> None:
    """Redefining today's rule redefines the Mitaka name too; redefining the Mitaka name
    changes the Mitaka API alone."""
    assert BY_NAME[old].check_str == f"rule:{new}"
    observer = _caller("observer")
    today = _with_file(tmp_path, {new: "role:observer"})
    assert today.check(old, observer, OWN) and today.check(new, observer, OWN)
    assert not today.check(old, _caller("admin"), OWN)
    mitaka = _with_file(tmp_path, {old: "role:observer"})
    assert mitaka.check(old, observer, OWN)
    assert not mitaka.check(new, observer, OWN)


def test_baymodel_publish_keeps_mitakas_default(enforcer: policy.Policy) -> None:
    assert enforcer.check("baymodel:publish", _caller("member"), OWN)
    assert not enforcer.check("clustertemplate:publish", _caller("member"), OWN)


def test_redefined_persona_changes_every_action(tmp_path: pathlib.Path) -> None:
    custom = _with_file(tmp_path, {"project_reader": "role:auditor and project_id:%(project_id)s"})
    assert custom.check("cluster:get", _caller("auditor"), OWN)
    assert custom.check("bay:get_all", _caller("auditor"), OWN)
    assert not custom.check("cluster:get", _caller("reader"), OWN)
    assert not custom.check("cluster:create", _caller("auditor"), OWN)


def test_old_defaults_only_when_new_defaults_are_not_enforced(tmp_path: pathlib.Path) -> None:
    """Mitaka let any role of the project write (admin_or_owner); today's defaults need a
    member, unless the operator sets enforce_new_defaults = false while migrating."""
    observer = _caller("observer")
    assert not policy.Policy(_conf()).check("cluster:create", observer, OWN)
    with pytest.warns(UserWarning, match="deprecated"):
        lenient = policy.Policy(_conf(enforce_new_defaults=False))
    assert lenient.check("cluster:create", observer, OWN)
    assert lenient.check("bay:create", observer, OWN)  # the alias follows
    assert not lenient.check("cluster:create", observer, OTHER)
    assert not lenient.check("clustertemplate:publish", observer, OWN)  # never was Mitaka's


# --- scope ------------------------------------------------------------------------------------
SYSTEM_ADMIN = _creds("admin", "member", "reader", project=None, system_scope="all")
DOMAIN_ADMIN = _creds("admin", "member", "reader", project=None, domain_id="d1")


@pytest.mark.parametrize("action", ADMIN_ACTIONS + CROSS_PROJECT_READS)
def test_system_scoped_admin_passes_cross_project_rules(action: str) -> None:
    e = _oslo(_conf())
    assert e.enforce(action, OTHER, dict(SYSTEM_ADMIN))
    assert not e.enforce(action, OTHER, dict(DOMAIN_ADMIN))


@pytest.mark.parametrize("action", [a for a in TENANT_ACTIONS if a not in CROSS_PROJECT_READS])
def test_enforce_scope_keeps_system_tokens_out_of_projects(action: str) -> None:
    """A system-scoped admin has no project: with enforce_scope its token is refused by
    a project's rules whatever the check string says (here: one that names its role)."""
    conf = _conf()
    e = _oslo(conf)
    e.set_rules(
        oslo_policy.Rules.from_dict({action: "role:admin"}), overwrite=False, use_conf=False
    )
    assert not e.enforce(action, OWN, dict(SYSTEM_ADMIN))
    assert not e.enforce(action, OWN, dict(DOMAIN_ADMIN))
    assert e.enforce(action, OWN, _creds("admin"))


def test_without_enforce_scope_only_check_strings_decide() -> None:
    conf = _conf(enforce_scope=False)
    e = _oslo(conf)
    assert all(not r.scope_types for r in e.registered_rules.values())
    e.set_rules(
        oslo_policy.Rules.from_dict({"cluster:get": "role:admin"}), overwrite=False, use_conf=False
    )
    assert e.enforce("cluster:get", OWN, dict(SYSTEM_ADMIN))
    assert e.enforce("cluster:get_all_all_projects", OWN, dict(DOMAIN_ADMIN))
    strict = _oslo(_conf())
    assert not strict.enforce("cluster:get_all_all_projects", OWN, dict(DOMAIN_ADMIN))


def test_the_policy_generator_shows_the_effective_policy(tmp_path: pathlib.Path) -> None:
    """`oslopolicy-policy-generator --namespace magnum` (the oslo.policy.enforcer entry
    point) merges the configured policy file into the defaults."""
    (tmp_path / "policy.yaml").write_text('"cluster:get": "role:auditor"\n', encoding="utf-8")
    conf = tmp_path / "magnum.conf"
    conf.write_text(f"[oslo_policy]\npolicy_file = {tmp_path / 'policy.yaml'}\n", "utf-8")
    tool = pathlib.Path(sys.executable).parent / "oslopolicy-policy-generator"
    out = subprocess.run(
        [str(tool), "--namespace", "magnum", "--config-file", str(conf)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert '"cluster:get": "role:auditor"' in out
    assert '"bay:get": "rule:cluster:get"' in out
    assert '"cluster:get_all_all_projects": "rule:admin_api"' in out


def test_all_projects_never_crosses_rpc() -> None:
    """The grant is the API's, per request: a conductor acts in the caller's project."""
    ctx = context.RequestContext(project_id="p1", all_projects=True)
    assert "all_projects" not in ctx.to_dict()
    back = context.RequestContext.from_dict(ctx.to_dict() | {"all_projects": True})
    assert back.all_projects is False
    assert "all_projects" not in ctx.policy_credentials()
