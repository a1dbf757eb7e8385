# SPDX-License-Identifier: Apache-2.0
"""The request context: who is calling, on behalf of which project.

Built by the API's auth middleware (noauth, or Keystone: what keystonemiddleware's
auth_token validated), carried over RPC as a plain dict, and used as the credentials of
policy checks.

A token is scoped to a project, a domain or the whole system. `domain_id` is the domain of
a *domain-scoped* token only (oslo.policy takes a `domain_id` in the credentials to mean
domain scope), `system_scope` is "all" for a system-scoped one; the domains of the user and
of the project are `user_domain_id` and `project_domain_id`. A token scoped to no project
has `project_id` "" (it owns nothing, and sees only what the policy lets it see across
projects).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import uuid
from collections.abc import Iterator, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RequestContext:
    project_id: str
    user_id: str | None = None
    project_name: str | None = None
    user_name: str | None = None
    domain_id: str | None = None
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    system_scope: str | None = None
    roles: tuple[str, ...] = ()
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    # The policy's `context_is_admin` holds for the caller (Keystone; noauth never sets it).
    is_admin: bool = False
    # Reads cover every project's rows (the API grants it per request, by the policy's
    # *_all_projects rules); every write stays in the caller's project.
    all_projects: bool = False
    request_id: str = dataclasses.field(default_factory=lambda: f"req-{uuid.uuid4()}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["roles"] = list(self.roles)
        data.pop("auth_token")
        data.pop("all_projects")  # the API's reads alone; a conductor acts in one project
        return data

    def policy_credentials(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id or None,
            "user_id": self.user_id,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
            "domain_id": self.domain_id,
            "user_domain_id": self.user_domain_id,
            "project_domain_id": self.project_domain_id,
            "system_scope": self.system_scope,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestContext:
        """Rebuild a context that crossed RPC (see to_dict); unknown keys are ignored."""
        known = {f.name for f in dataclasses.fields(cls)} - {"auth_token", "all_projects"}
        values = {k: v for k, v in data.items() if k in known}
        values["roles"] = tuple(values.get("roles") or ())
        values.setdefault("project_id", "")
        return cls(**values)


# The caller of the RPC call or cast a conductor thread is serving now (see calling).
_CALLER: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "magnum_caller", default=None
)


@contextlib.contextmanager
def calling(ctxt: Mapping[str, Any]) -> Iterator[RequestContext]:
    """Serve an RPC message on behalf of the caller it carries: log records written
    meanwhile name its request id (see CallerFilter)."""
    caller = RequestContext.from_dict(ctxt)
    token = _CALLER.set(caller)
    try:
        yield caller
    finally:
        _CALLER.reset(token)


def caller() -> RequestContext | None:
    return _CALLER.get()


class CallerFilter(logging.Filter):
    """Adds `request_id` (the current caller's, or "-") to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _CALLER.get()
        record.request_id = current.request_id if current is not None else "-"
        return True
