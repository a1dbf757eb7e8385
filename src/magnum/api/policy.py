# SPDX-License-Identifier: Apache-2.0
"""Authorization with oslo.policy: the rules in code are magnum.api.policies (one module
per resource, the personas in policies.base); operators override them with a policy file
as usual ([oslo_policy] policy_file; `oslopolicy-sample-generator --namespace magnum`
writes every default, as etc/magnum/policy.yaml.sample shows).

Each rule has scope types: project-owned resources need a project-scoped token, what an
admin across projects does (`*_all_projects`, services, quotas) takes a system-scoped one
too. [oslo_policy] enforce_scope = false drops the scope types, leaving the check strings
alone to decide.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from oslo_config import cfg
from oslo_policy import policy

from magnum import conf as magnum_conf
from magnum.api import policies
from magnum.common import context, exceptions

RULES = policies.list_rules()


def _unscoped(rules: Iterable[policy.RuleDefault]) -> list[policy.RuleDefault]:
    out = []
    for rule in rules:
        bare = copy.copy(rule)
        bare.scope_types = None
        out.append(bare)
    return out


def enforcer(conf: cfg.ConfigOpts) -> policy.Enforcer:
    """An Enforcer with Magnum's defaults registered (scope types only with
    [oslo_policy] enforce_scope); its rules not loaded yet."""
    e = policy.Enforcer(conf)  # registers oslo.policy's own options
    conf.register_opts(magnum_conf.POLICY_OPTS, group="oslo_policy")  # idempotent
    e.register_defaults(RULES if conf.oslo_policy.enforce_scope else _unscoped(RULES))
    return e


def get_enforcer() -> policy.Enforcer:
    """The `oslo.policy.enforcer` entry point (`oslopolicy-policy-generator --namespace
    magnum`, which has parsed the global configuration by then): the effective policy of
    that configuration."""
    return enforcer(cfg.CONF)


class Policy:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        # With a policy file, oslo.policy re-reads it when it changes (a stat per check).
        # Without one it would search the config directories on every check: skip that.
        self._enforcer = enforcer(conf)
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
