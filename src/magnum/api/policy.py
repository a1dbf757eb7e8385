# SPDX-License-Identifier: Apache-2.0
"""Authorization with oslo.policy. Defaults in code follow Magnum's Mitaka policy file;
operators override them with a policy file as usual ([oslo_policy] policy_file)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from oslo_config import cfg
from oslo_policy import policy

from magnum.common import context, exceptions

ADMIN_OR_OWNER = "rule:admin_or_owner"
_BASE = [
    policy.RuleDefault("context_is_admin", "role:admin"),
    policy.RuleDefault("admin_or_owner", "is_admin:True or project_id:%(project_id)s"),
    policy.RuleDefault("default", ADMIN_OR_OWNER),
    policy.RuleDefault("admin_api", "rule:context_is_admin"),
    policy.RuleDefault("admin_or_user", "is_admin:True or user_id:%(user_id)s"),
]
_ACTIONS = ("create", "delete", "detail", "get", "get_all", "update")
CONTAINER_ACTIONS = ("start", "stop", "reboot", "pause", "unpause", "logs", "execute")
RULES = [
    *_BASE,
    *(policy.RuleDefault(f"bay:{a}", "rule:default") for a in _ACTIONS),
    *(policy.RuleDefault(f"baymodel:{a}", "rule:default") for a in _ACTIONS),
    policy.RuleDefault("baymodel:publish", ADMIN_OR_OWNER),
    policy.RuleDefault("bay:load_image", "rule:default"),
    policy.RuleDefault("magnum-service:get_all", "rule:admin_api"),
    policy.RuleDefault("container:create", "rule:admin_or_user"),  # target: the bay
    policy.RuleDefault("container:delete", "rule:admin_or_user"),
    policy.RuleDefault("container:update", "rule:admin_or_user"),
    *(
        policy.RuleDefault(f"container:{a}", "rule:default")
        for a in ("detail", "get", "get_all", *CONTAINER_ACTIONS)
    ),
    policy.RuleDefault("certificate:create", "rule:admin_or_user"),
    policy.RuleDefault("certificate:get", "rule:admin_or_user"),
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
