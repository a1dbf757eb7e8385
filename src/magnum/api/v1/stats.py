# SPDX-License-Identifier: Apache-2.0
"""/v1/stats (1.4): how many clusters and nodes a project has, or all projects together.

`?type=` names what is counted; Magnum knows only `cluster`. A cluster's nodes are its
masters and workers (the sums over its nodegroups), whatever its status. A project's
readers read their own project's counts; only an admin reads another project's, or (no
`project_id`) the totals of every project.
"""

from __future__ import annotations

from typing import Any

import falcon

from magnum.api.v1 import common
from magnum.api.v1 import quotas as quota_api
from magnum.common import exceptions
from magnum.objects import quotas

TYPES = ("cluster",)


class Collection:
    def __init__(self, api: Any) -> None:
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req, ("project_id", "type"))
        ctx = common.ctx(req)
        self.api.policy.authorize("stats:get_all", ctx)
        project_id, kind = req.params.get("project_id"), req.params.get("type", "cluster")
        if not isinstance(project_id, str | None) or not isinstance(kind, str):
            raise exceptions.InvalidParameterValue(err="Repeated query parameters are not allowed")
        if kind not in TYPES:
            allowed = ",".join(TYPES)
            raise exceptions.InvalidParameterValue(
                err=f"Invalid stats type. Allowed values are '{allowed}'"
            )
        admin = self.api.policy.check("context_is_admin", ctx)
        if not admin:
            if project_id is not None and project_id != ctx.project_id:
                raise exceptions.NotAuthorized()
            project_id = ctx.project_id
        if project_id is not None:
            quota_api.check_project(project_id)
        with self.api.db.reader() as session:
            clusters, nodes = quotas.usage(session, project_id)
        common.send(resp, {"clusters": clusters, "nodes": nodes})
