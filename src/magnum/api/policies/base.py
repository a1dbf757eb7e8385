# SPDX-License-Identifier: Apache-2.0
"""The personas every action's default names, and helpers the resource modules share.

Keystone's default roles nest: admin > member > reader. A Keystone token lists the roles
a role implies, a noauth caller only what X-Roles says, so each persona names the roles
above it too. The personas:

- `project_reader`: reads the target's project (lists, shows, logs, the CA certificate).
- `project_member`: also writes and acts in the target's project.
- `project_admin`: the admin role in the target's project (no default needs more than a
  member in its own project today; it is here for operators' policy files).
- `context_is_admin` (`admin_api`): the admin role, whatever the project or scope: lists
  and gets across projects (`*_all_projects`), services, quotas, publishing templates.

The Mitaka rule names (`admin_or_owner`, `admin_or_user`, `admin_api`) stay defined for
policy files that name them.
"""

from __future__ import annotations

from collections.abc import Iterable

from oslo_policy import policy

# Check strings naming the personas (what the resource modules' defaults use)
ADMIN = "rule:context_is_admin"
ADMIN_API = "rule:admin_api"
PROJECT_READER = "rule:project_reader"
PROJECT_MEMBER = "rule:project_member"
PROJECT_ADMIN = "rule:project_admin"
ADMIN_OR_READER = "rule:admin_or_reader"
ADMIN_OR_MEMBER = "rule:admin_or_member"
ADMIN_OR_READER_USER = "rule:admin_or_reader_user"
ADMIN_OR_MEMBER_USER = "rule:admin_or_member_user"
ADMIN_OR_PROJECT_READER = f"{ADMIN} or {PROJECT_READER}"
# Mitaka's default for nearly every action: any role in the project
MITAKA_OWNER = "rule:admin_or_owner"
MITAKA_USER = "rule:admin_or_user"

# What scope a token must have for a rule (checked unless [oslo_policy] enforce_scope is off)
PROJECT = ["project"]
ANY_SCOPE = ["system", "project"]  # the admin across projects may hold a system token

DEPRECATED_SINCE = "0.1.0"
DEPRECATED_REASON = (
    "The secure-RBAC personas replace Mitaka's any-role-of-the-project default "
    "([oslo_policy] enforce_new_defaults = false still honours it)."
)

Operation = policy.Operation


def ops(method: str, *paths: str) -> list[Operation]:
    """The operations (one method on each path) a rule guards, for the documentation."""
    return [Operation(method=method, path=path) for path in paths]


def rule(
    name: str,
    check_str: str,
    description: str,
    operations: Iterable[Operation],
    *,
    scope_types: list[str] | None = None,
    old: str | None = None,
) -> policy.DocumentedRuleDefault:
    """One documented action rule. `old`: the Mitaka default it replaces, which oslo.policy
    still ORs in while [oslo_policy] enforce_new_defaults is false."""
    deprecated = None
    if old is not None and old != check_str:
        deprecated = policy.DeprecatedRule(
            name,
            old,
            deprecated_reason=DEPRECATED_REASON,
            deprecated_since=DEPRECATED_SINCE,
        )
    return policy.DocumentedRuleDefault(
        name,
        check_str,
        description,
        list(operations),
        deprecated_rule=deprecated,
        scope_types=list(scope_types if scope_types is not None else PROJECT),
    )


def alias(
    name: str, of: str, description: str, operations: Iterable[Operation]
) -> policy.DocumentedRuleDefault:
    """Mitaka's name of an action (bay:*, baymodel:*) whose default is today's rule `of`:
    redefine `of` to change both, or `name` to change the Mitaka API alone."""
    scope = ANY_SCOPE if name.endswith("_all_projects") else PROJECT
    return rule(name, f"rule:{of}", f"{description} Alias of {of}.", operations, scope_types=scope)


_IN_PROJECT = "project_id:%(project_id)s"
RULES = [
    policy.RuleDefault("context_is_admin", "role:admin", "The admin role, in any project."),
    policy.RuleDefault(
        "admin_or_owner",
        "is_admin:True or project_id:%(project_id)s",
        "Mitaka: an admin, or any role in the target's project (no default uses it).",
    ),
    policy.RuleDefault(
        "admin_or_user",
        "is_admin:True or user_id:%(user_id)s",
        "Mitaka: an admin, or the user who created the target (no default uses it).",
    ),
    policy.RuleDefault("admin_api", ADMIN, "Admin across projects."),
    policy.RuleDefault(
        "project_reader",
        f"(role:reader or role:member or role:admin) and {_IN_PROJECT}",
        "Project reader: a reader (or more) of the target's project.",
    ),
    policy.RuleDefault(
        "project_member",
        f"(role:member or role:admin) and {_IN_PROJECT}",
        "Project member: a member (or admin) of the target's project.",
    ),
    policy.RuleDefault(
        "project_admin",
        f"role:admin and {_IN_PROJECT}",
        "Project admin: the admin role in the target's project.",
    ),
    policy.RuleDefault(
        "admin_or_reader",
        f"is_admin:True or {PROJECT_READER}",
        "What reads need: a project reader (is_admin is the API's own admin context).",
    ),
    policy.RuleDefault(
        "admin_or_member",
        f"is_admin:True or {PROJECT_MEMBER}",
        "What writes need: a project member.",
    ),
    policy.RuleDefault(
        "admin_or_reader_user",
        f"is_admin:True or ({PROJECT_READER} and user_id:%(user_id)s)",
        "A project reader who also created the target (a bay's certificates).",
    ),
    policy.RuleDefault(
        "admin_or_member_user",
        f"is_admin:True or ({PROJECT_MEMBER} and user_id:%(user_id)s)",
        "A project member who also created the target (containers on a bay).",
    ),
    policy.RuleDefault(
        "default", ADMIN_OR_MEMBER, "What an action without a rule of its own needs."
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(RULES)
