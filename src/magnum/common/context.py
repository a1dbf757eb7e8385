# SPDX-License-Identifier: Apache-2.0
"""The request context: who is calling, on behalf of which project.

Built by the API's auth middleware (noauth or Keystone), carried over RPC as a
plain dict, and used as the credentials of policy checks.
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
    roles: tuple[str, ...] = ()
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    is_admin: bool = False
    request_id: str = dataclasses.field(default_factory=lambda: f"req-{uuid.uuid4()}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["roles"] = list(self.roles)
        data.pop("auth_token")
        return data

    def policy_credentials(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "user_id": self.user_id,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
            "domain_id": self.domain_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestContext:
        """Rebuild a context that crossed RPC (see to_dict); unknown keys are ignored."""
        known = {f.name for f in dataclasses.fields(cls)} - {"auth_token"}
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
