# SPDX-License-Identifier: Apache-2.0
"""The request context: who is calling, on behalf of which project.

Built by the API's auth middleware (noauth or Keystone), carried over RPC as a
plain dict, and used as the credentials of policy checks.
"""

from __future__ import annotations

import dataclasses
import uuid
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
