# SPDX-License-Identifier: Apache-2.0
"""Authorization with oslo.policy. Defaults in code follow Magnum's Mitaka policy file,
with personas: operators override them with a policy file as usual ([oslo_policy]
policy_file).

Personas are Keystone's default roles, admin > member > reader, in the caller's project:
`project_reader` may read (get, list, logs, the CA certificate) and `project_member` may
also write and act (create, update, delete, publish, load images, container actions and
execute, sign certificates). As noauth has no implied roles, each persona names the roles
above it too; a caller with none of the three roles may do nothing. Every action's rule
names a persona rule, so the Keystone work (or a policy file) can redefine the personas
without touching the actions. `context_is_admin` (role:admin) alone may list services.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from oslo_config import cfg
from oslo_policy import policy

from magnum.common import context, exceptions

PROJECT_MEMBER = "rule:project_member"
PROJECT_READER = "rule:project_reader"
ADMIN_OR_MEMBER = "rule:admin_or_member"
ADMIN_OR_READER = "rule:admin_or_reader"
ADMIN_OR_MEMBER_USER = "rule:admin_or_member_user"
ADMIN_OR_READER_USER = "rule:admin_or_reader_user"
ADMIN = "rule:context_is_admin"  # role:admin, whatever the target's project
ADMIN_OR_PROJECT_READER = f"{ADMIN} or {PROJECT_READER}"
_BASE = [
    policy.RuleDefault("context_is_admin", "role:admin"),
    # Mitaka's rules, kept for policy files that name them; the defaults below do not.
    policy.RuleDefault("admin_or_owner", "is_admin:True or project_id:%(project_id)s"),
    policy.RuleDefault("admin_or_user", "is_admin:True or user_id:%(user_id)s"),
    policy.RuleDefault("admin_api", "rule:context_is_admin"),
    # The personas (see the module's doc).
    policy.RuleDefault(
        "project_member", "(role:member or role:admin) and project_id:%(project_id)s"
    ),
    policy.RuleDefault(
        "project_reader",
        "(role:reader or role:member or role:admin) and project_id:%(project_id)s",
    ),
    policy.RuleDefault("admin_or_member", f"is_admin:True or {PROJECT_MEMBER}"),
    policy.RuleDefault("admin_or_reader", f"is_admin:True or {PROJECT_READER}"),
    # The same, and the caller created the target (a container, or the bay of a certificate)
    policy.RuleDefault(
        "admin_or_member_user", f"is_admin:True or ({PROJECT_MEMBER} and user_id:%(user_id)s)"
    ),
    policy.RuleDefault(
        "admin_or_reader_user", f"is_admin:True or ({PROJECT_READER} and user_id:%(user_id)s)"
    ),
    # What an action without a rule of its own needs: a write's persona.
    policy.RuleDefault("default", ADMIN_OR_MEMBER),
]
_READS = ("detail", "get", "get_all")
_WRITES = ("create", "delete", "update")
CONTAINER_ACTIONS = ("start", "stop", "reboot", "pause", "unpause", "logs", "execute")
CONTAINER_READS = ("logs",)
WORKLOADS = ("pod", "rc", "service")  # /v1/pods, /v1/rcs, /v1/services
# Both vocabularies: /v1/bays and /v1/baymodels, /v1/clusters and /v1/clustertemplates.
_CLUSTERS = ("bay", "cluster")
_TEMPLATES = ("baymodel", "clustertemplate")
RULES = [
    *_BASE,
    *(
        policy.RuleDefault(f"{p}:{a}", ADMIN_OR_READER)
        for p in _CLUSTERS + _TEMPLATES
        for a in _READS
    ),
    *(
        policy.RuleDefault(f"{p}:{a}", ADMIN_OR_MEMBER)
        for p in _CLUSTERS + _TEMPLATES
        for a in _WRITES
    ),
    # Mitaka let a baymodel's owner publish it; today only admins publish or hide
    policy.RuleDefault("baymodel:publish", ADMIN_OR_MEMBER),
    policy.RuleDefault("clustertemplate:publish", "rule:admin_api"),
    policy.RuleDefault("bay:load_image", ADMIN_OR_MEMBER),
    policy.RuleDefault("cluster:upgrade", ADMIN_OR_MEMBER),  # target: the cluster
    policy.RuleDefault("magnum-service:get_all", "rule:admin_api"),
    policy.RuleDefault("container:create", ADMIN_OR_MEMBER_USER),  # target: the bay
    policy.RuleDefault("container:delete", ADMIN_OR_MEMBER_USER),
    policy.RuleDefault("container:update", ADMIN_OR_MEMBER_USER),
    *(policy.RuleDefault(f"container:{a}", ADMIN_OR_READER) for a in _READS + CONTAINER_READS),
    *(
        policy.RuleDefault(f"container:{a}", ADMIN_OR_MEMBER)
        for a in CONTAINER_ACTIONS
        if a not in CONTAINER_READS
    ),
    # A bay's Kubernetes objects (target: the bay): readers list and show, members write.
    *(policy.RuleDefault(f"{p}:{a}", ADMIN_OR_READER) for p in WORKLOADS for a in _READS),
    *(policy.RuleDefault(f"{p}:{a}", ADMIN_OR_MEMBER) for p in WORKLOADS for a in _WRITES),
    policy.RuleDefault("certificate:create", ADMIN_OR_MEMBER_USER),  # target: the bay
    policy.RuleDefault("certificate:get", ADMIN_OR_READER_USER),
    policy.RuleDefault("certificate:rotate_ca", ADMIN_OR_MEMBER),  # target: the cluster
    policy.RuleDefault("credential:rotate", PROJECT_MEMBER),
    # Quotas are the operator's: only an admin sets or lists them; a project reads its own
    # (the API also refuses a non-admin another project's quota, and its stats).
    *(policy.RuleDefault(f"quota:{a}", ADMIN) for a in ("create", "update", "delete", "get_all")),
    policy.RuleDefault("quota:get", ADMIN_OR_PROJECT_READER),
    policy.RuleDefault("stats:get_all", ADMIN_OR_PROJECT_READER),
    # A cluster's nodegroups (target: the cluster): readers list and show them, members
    # add, change and delete them and resize the cluster.
    *(policy.RuleDefault(f"nodegroup:{a}", ADMIN_OR_READER) for a in ("get", "get_all")),
    *(policy.RuleDefault(f"nodegroup:{a}", ADMIN_OR_MEMBER) for a in _WRITES),
    policy.RuleDefault("cluster:resize", ADMIN_OR_MEMBER),
]


class Policy:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        # With a policy file, oslo.policy re-reads it when it changes (a stat per check).
        # Without one it would search the config directories on every check: skip that.
        self._enforcer = policy.Enforcer(conf)
        self._enforcer.register_defaults(RULES)
        self._enforcer.load_rules()
        self._decide: Callable[[str, Hashable, Hashable], bool] = self._enforce
        if conf.find_file(conf.oslo_policy.policy_file) is None:
            self._enforcer.use_conf = False  # the defaults loaded above stay in force
            # The rules can no longer change, so a decision depends only on its inputs; and
            # oslo.policy inspects every check's signature on each call (a third of a GET).
            self._decide = functools.lru_cache(maxsize=4096)(self._enforce)

    def _enforce(self, action: str, target: Hashable, creds: Hashable) -> bool:
        return bool(self._enforcer.enforce(action, dict(target), dict(creds)))  # type: ignore[call-overload]

    def authorize(
        self, action: str, ctx: context.RequestContext, target: dict[str, Any] | None = None
    ) -> None:
        """Raise PolicyNotAuthorized unless `ctx` may do `action` on `target`.

        Without a target the caller's own project and user are the target, which
        satisfies owner rules, as in Magnum.
        """
        if target is None:
            target = {"project_id": ctx.project_id, "user_id": ctx.user_id}
        if not self._decide(action, _frozen(target), _frozen(ctx.policy_credentials())):
            raise exceptions.PolicyNotAuthorized(action=action)

    def check(
        self, action: str, ctx: context.RequestContext, target: dict[str, Any] | None = None
    ) -> bool:
        try:
            self.authorize(action, ctx, target)
        except exceptions.PolicyNotAuthorized:
            return False
        return True


def _frozen(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items()))
