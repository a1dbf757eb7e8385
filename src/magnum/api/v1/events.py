# SPDX-License-Identifier: Apache-2.0
"""GET /v1/{bays,clusters}/{ident}/events: a cluster's timeline, newest first.

Query: `limit` (at most [api] max_limit), `marker` (the uuid of the last event of the
previous page) and `since` (ISO 8601: only events at or after it). The body is
{"events": [...]} with a `next` link when the page is full. A deleted cluster's timeline
stays readable by uuid (it ends with DELETE_COMPLETE) until events are pruned.
"""

from __future__ import annotations

import datetime
import urllib.parse
from typing import Any

import falcon

from magnum.api.v1 import common, views
from magnum.common import context, exceptions, utils
from magnum.objects import clusters, events

ARGS = frozenset({"limit", "marker", "since"})
SORTABLE = frozenset({"id"})  # always newest first


def _since(raw: str | None) -> datetime.datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise exceptions.InvalidParameterValue(
            err=f"Invalid since: '{exceptions.shorten(raw)}'. Expected an ISO 8601 time such as "
            "2026-12-02T06:00:00Z"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


class Events:
    def __init__(self, api: Any, view: views.View) -> None:
        self.api = api
        self.view = view

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        ctx = common.ctx(req)
        pg = common.page(req, max_limit=self.api.max_limit, sortable=SORTABLE, allowed=ARGS)
        limit, marker = pg.limit, pg.marker  # page() checked both, and refused other args
        since_raw = common.one_param(req, "since")
        since = _since(since_raw)
        with self.api.db.reader() as session:
            uuid = self._cluster_uuid(session, ctx, ident)
            rows = events.list_(session, uuid, limit=limit, marker=marker, since=since)
            body: dict[str, Any] = {"events": [events.render(e) for e in rows]}
        if len(rows) == limit:
            query = {"limit": limit, "marker": rows[-1].uuid}
            if since_raw is not None:
                query["since"] = since_raw
            path = f"{req.prefix}/v1/{self.view.collection}/{uuid}/events"
            body["next"] = f"{path}?{urllib.parse.urlencode(query)}"
        common.send(resp, body)

    def _cluster_uuid(self, session: Any, ctx: context.RequestContext, ident: str) -> str:
        """The cluster `ident` names; a deleted one (by uuid) while its timeline is kept."""
        action = f"{self.view.policy}:get"
        try:
            row = clusters.get(session, ctx, ident, vocab=self.view.vocab)
        except exceptions.ClusterNotFound:
            if not utils.is_uuid_like(ident) or not events.exist(session, ident, ctx.project_id):
                raise
            self.api.policy.authorize(action, ctx, {"project_id": ctx.project_id})
            return ident
        self.api.policy.authorize(action, ctx, common.target(row))
        return row.uuid
