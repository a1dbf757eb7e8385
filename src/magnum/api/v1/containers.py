# SPDX-License-Identifier: Apache-2.0
"""/v1/containers: containers on bays whose COE driver offers them (Magnum Mitaka's
container API; the swarm driver does), a 400 naming the COE for any other bay.

The API validates, scopes and authorizes; a conductor places the container on a node,
talks to that node's Docker and writes the row, through RPC *calls*, so Docker's
refusals reach the tenant as 4xx answers. Lists are read from the database, whose
statuses the conductors' periodic sync keeps true; GET of one container refreshes it
from Docker first.

Paths: /v1/containers[/detail], /v1/containers/{ident}, and the actions
PUT /v1/containers/{ident}/{start|stop|reboot|pause|unpause} (200, JSON null),
GET /v1/containers/{ident}/logs and PUT /v1/containers/{ident}/execute?command=...
(200 {"output": ..., "truncated": ...}). /v1/containers/{action}/{ident} is accepted too.

Execute and logs last as long as the tenant's command or log makes them, so they are
bounded ([api] exec_timeout, max_exec_output, max_concurrent_execs):
  - a command still running after exec_timeout seconds is killed: 504, naming the limit
    and whether the kill worked (the container, upstream of the API, did not answer in
    time; the request itself was fine, so not a 4xx);
  - output beyond max_exec_output bytes: execute stops the command (as `| head -c` would)
    and answers 200 with the first bytes; logs answers the most recent bytes; both with
    "truncated": true;
  - at most max_concurrent_execs of these calls wait in one API process (and
    [conductor] max_concurrent_execs run on one conductor); one more is answered 503
    with Retry-After at once, so they never hold the threads other requests need.

A create ignores a `uuid` in its body, as bays and baymodels do: uuids are unique across
projects, so honouring one would answer differently for a uuid that another project's
container holds than for a free one, which would tell any project that it exists.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import falcon

from magnum.api import schemas
from magnum.api.v1 import common
from magnum.common import context, exceptions, utils
from magnum.db import models
from magnum.objects import cluster_templates, clusters, containers, fields, vocabulary

COLLECTION = "containers"
BRIEF = (
    "uuid",
    "name",
    "image",
    "bay_uuid",
    "command",
    "memory",
    "environment",
    "status",
    "status_reason",
    "host",
)
SORTABLE = common.sort_keys(BRIEF)
INTERNAL = common.BASE_INTERNAL | {"/status", "/status_reason", "/host", "/docker_id"}
MANDATORY = frozenset({"/bay_uuid", "/image"})
PATCHABLE = ("name", "image", "command", "memory", "environment", "bay_uuid")
CHANGEABLE = frozenset({"name"})
ACTIONS = frozenset({"start", "stop", "reboot", "pause", "unpause"})
READS = frozenset({"logs"})
EXECUTE = "execute"
ALL_ACTIONS = ACTIONS | READS | {EXECUTE}
READY = (fields.ClusterStatus.CREATE_COMPLETE, fields.ClusterStatus.UPDATE_COMPLETE)
RETRY_AFTER = 5  # seconds a call refused for want of an execute/logs slot is told to wait


# API field -> row attribute, where they differ (Mitaka's names for containers)
COLUMNS = {"bay_uuid": "cluster_uuid"}


def _internal(values: dict[str, Any]) -> dict[str, Any]:
    return {COLUMNS.get(key, key): value for key, value in values.items()}


def render(row: Any, prefix: str, *, brief: bool = False) -> dict[str, Any]:
    body = {key: getattr(row, COLUMNS.get(key, key)) for key in BRIEF}
    if body["environment"] is None:
        body["environment"] = {}
    body["links"] = common.links(prefix, COLLECTION, row.uuid)
    if not brief:
        body["created_at"] = utils.isotime(row.created_at)
        body["updated_at"] = utils.isotime(row.updated_at)
    return body


def _target(row: models.Container | models.Cluster) -> dict[str, Any]:
    return {"project_id": row.project_id, "user_id": row.user_id}


class _Base:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _get(self, ctx: context.RequestContext, ident: str) -> models.Container:
        with self.api.db.reader() as session:
            return containers.get(session, ctx, ident)

    def _show(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        with self.api.db.reader() as session:
            row = containers.get_by_uuid(session, uuid)
        if row is None:
            raise exceptions.ContainerNotFound(container=uuid)
        common.send(resp, render(row, req.prefix))


class Collection(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._list(req, resp, detail=False)

    def on_get_detail(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._list(req, resp, detail=True)

    def _list(self, req: falcon.Request, resp: falcon.Response, *, detail: bool) -> None:
        ctx = common.ctx(req)
        self.api.policy.authorize("container:detail" if detail else "container:get_all", ctx)
        pg = common.page(
            req,
            max_limit=self.api.max_limit,
            sortable=SORTABLE,
            allowed=common.PAGE_ARGS | {"bay_ident"},
        )
        cluster_ident = req.params.get("bay_ident")
        if cluster_ident is not None and not isinstance(cluster_ident, str):
            raise exceptions.InvalidParameterValue(err="Repeated query parameters are not allowed")
        with self.api.db.reader() as session:
            cluster_uuid = (
                clusters.get(session, ctx, cluster_ident, vocab=vocabulary.BAY).uuid
                if cluster_ident is not None
                else None
            )
            rows = containers.list_(
                session,
                ctx,
                dataclasses.replace(pg, sort_key=COLUMNS.get(pg.sort_key, pg.sort_key)),
                cluster_uuid=cluster_uuid,
            )
        body = common.collection(
            req,
            COLLECTION,
            rows,
            lambda r: render(r, req.prefix, brief=not detail),
            pg,
            detail=detail,
        )
        if cluster_ident is not None and "next" in body:
            body["next"] += f"&bay_ident={cluster_ident}"
        common.send(resp, body)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        body = schemas.validate(schemas.ContainerBody, common.json_body(req, argument="container"))
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            try:
                cluster = clusters.get(session, ctx, body.bay_uuid, vocab=vocabulary.BAY)
            except exceptions.ClusterNotFound as exc:  # a bad body field is a 400
                raise exceptions.InvalidParameterValue(err=exc.message) from None
            coe = cluster_templates.coe_of(session, cluster.cluster_template_id)
        self.api.policy.authorize("container:create", ctx, _target(cluster))
        self.api.drivers.containers_for(coe or "")  # 400 naming the COE if it has none
        if cluster.operation is not None or cluster.status not in READY:
            state = (
                f"{cluster.status}, {cluster.operation} requested"
                if cluster.operation
                else cluster.status
            )
            raise exceptions.InvalidState(
                detail=f"Bay {cluster.name or cluster.uuid} is {state}; containers need a bay that "
                "is CREATE_COMPLETE or UPDATE_COMPLETE with no operation in progress."
            )
        # A client-supplied uuid is ignored (see the module's doc): the conductor makes one.
        values = _internal(body.model_dump(exclude={"status", "uuid"}))
        uuid = self.api.conductor.container_create(ctx, values=values)
        with self.api.db.session() as session:
            row = containers.get_by_uuid(session, uuid)
        if row is None:  # deleted (with its bay?) the moment it was made
            raise exceptions.ContainerNotFound(container=uuid)
        common.created(req, resp, COLLECTION, row.uuid, render(row, req.prefix))


class Item(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        row = self._get(ctx, ident)
        self.api.policy.authorize("container:get", ctx, _target(row))
        if row.docker_id is not None:
            self.api.conductor.container_show(ctx, uuid=row.uuid)
        self._show(req, resp, row.uuid)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = containers.get(session, ctx, ident, for_update=True)
            self.api.policy.authorize("container:update", ctx, _target(row))
            current = {key: getattr(row, COLUMNS.get(key, key)) for key in PATCHABLE}
            patched = common.apply_patch(
                current, req, internal=INTERNAL, mandatory=MANDATORY, defaults={}
            )
            values = schemas.validate(schemas.ContainerBody, patched).model_dump()
            changed = sorted(k for k in PATCHABLE if values[k] != current[k])
            if forbidden := [k for k in changed if k not in CHANGEABLE]:
                raise exceptions.InvalidParameterValue(
                    err=f"cannot change container property(ies) {', '.join(forbidden)}: "
                    "only the name of a container can change."
                )
            if changed:
                containers.rename(row, values["name"])
        common.send(resp, render(row, req.prefix))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        row = self._get(ctx, ident)
        self.api.policy.authorize("container:delete", ctx, _target(row))
        self.api.conductor.container_delete(ctx, uuid=row.uuid)
        resp.status = 204


def _split(first: str, second: str) -> tuple[str, str]:
    """(ident, action) of /v1/containers/{ident}/{action} or /v1/containers/{action}/{ident}."""
    if second in ALL_ACTIONS:
        return first, second
    if first in ALL_ACTIONS:
        return second, first
    raise falcon.HTTPNotFound()


class Action(_Base):
    def __init__(self, api: Any) -> None:
        super().__init__(api)
        self._made = threading.Lock()
        self._slots: threading.BoundedSemaphore | None = None  # made at the first call

    def _bounded(self, call: Any) -> dict[str, Any]:
        """`call(timeout, max_output)` (an execute or logs RPC) in one of this process's
        slots, or TooBusy (503, Retry-After) at once."""
        with self._made:
            if self._slots is None:
                self._slots = threading.BoundedSemaphore(self.api.max_concurrent_execs)
            slots = self._slots
        if not slots.acquire(blocking=False):
            raise exceptions.TooBusy(
                detail=f"This API process already waits for {self.api.max_concurrent_execs} "
                "container execute and logs calls ([api] max_concurrent_execs).",
                retry_after=RETRY_AFTER,
            )
        try:
            answer: dict[str, Any] = call(self.api.exec_timeout, self.api.max_exec_output)
        finally:
            slots.release()
        return {"output": answer["output"], "truncated": bool(answer.get("truncated"))}

    def on_put(self, req: falcon.Request, resp: falcon.Response, ident: str, action: str) -> None:
        ident, action = _split(ident, action)
        if action in READS:
            raise falcon.HTTPMethodNotAllowed(["GET"])
        ctx = common.ctx(req)
        if action == EXECUTE:
            common.reject_unknown_args(req, {"command"})
            command = req.params.get("command")
            if command is None:
                raise exceptions.InvalidParameterValue(err='Missing argument: "command"')
            if not isinstance(command, str):
                raise exceptions.InvalidParameterValue(
                    err="Repeated query parameters are not allowed"
                )
            if not command.strip():
                raise exceptions.InvalidParameterValue(err="Command to execute can not be empty.")
            row = self._get(ctx, ident)
            self.api.policy.authorize("container:execute", ctx, _target(row))
            answer = self._bounded(
                lambda timeout, max_output: self.api.conductor.container_exec(
                    ctx, uuid=row.uuid, command=command, timeout=timeout, max_output=max_output
                )
            )
            common.send(resp, answer)
            return
        common.reject_unknown_args(req)
        row = self._get(ctx, ident)
        self.api.policy.authorize(f"container:{action}", ctx, _target(row))
        self.api.conductor.container_action(ctx, uuid=row.uuid, action=action)
        common.send(resp, None)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str, action: str) -> None:
        ident, action = _split(ident, action)
        if action not in READS:
            raise falcon.HTTPMethodNotAllowed(["PUT"])
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        row = self._get(ctx, ident)
        self.api.policy.authorize("container:logs", ctx, _target(row))
        answer = self._bounded(
            lambda timeout, max_output: self.api.conductor.container_logs(
                ctx, uuid=row.uuid, timeout=timeout, max_output=max_output
            )
        )
        common.send(resp, answer)
