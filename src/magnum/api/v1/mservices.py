# SPDX-License-Identifier: Apache-2.0
"""/v1/mservices: the conductors and whether they are up."""

from __future__ import annotations

from typing import Any

import falcon

from magnum.api.v1 import common
from magnum.common import utils
from magnum.db import models
from magnum.objects import services


def render(row: models.MagnumService, *, down_after: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "host": row.host,
        "binary": row.binary,
        "state": services.state(row, down_after=down_after),
        "report_count": row.report_count,
        "disabled": row.disabled,
        "disabled_reason": row.disabled_reason,
        "created_at": utils.isotime(row.created_at),
        "updated_at": utils.isotime(row.updated_at),
    }


class Collection:
    def __init__(self, api: Any) -> None:
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        self.api.policy.authorize("magnum-service:get_all", common.ctx(req))
        with self.api.db.reader() as session:
            rows = services.list_(session)
        down_after = self.api.service_down_time
        common.send(resp, {"mservices": [render(r, down_after=down_after) for r in rows]})
