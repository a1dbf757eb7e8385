# SPDX-License-Identifier: Apache-2.0
"""Clusters, served as Mitaka's /v1/bays and as today's /v1/clusters (one implementation,
two views: magnum.api.v1.views). Writes record the operation; conductors run it.

What differs by view and microversion:
- /v1/clusters answers create, update and delete asynchronously at every version (202
  `{"uuid"}`); /v1/bays does from 1.2, and before that answers 201 / 200 with the bay.
- PATCH takes `?rollback=<bool>` from 1.3.
- A count of 0 workers is refused below 1.10 (a cluster may then have no workers).
- Today's clusters have per-cluster overrides of their template, generated names,
  `master_count > 1` only with `master_lb_enabled`, health fields a PATCH may set, and on
  GET the label differences and, when failed, `faults`.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import falcon

from magnum.api import microversions, schemas, validation
from magnum.api.v1 import common, views
from magnum.common import context, exceptions, names
from magnum.db import models
from magnum.objects import cluster_templates, clusters, fields, nodegroups, query

LOG = logging.getLogger(__name__)
INTERNAL = common.BASE_INTERNAL | {
    "/api_address",
    "/node_addresses",
    "/master_addresses",
    "/stack_id",
    "/cluster_id",
    "/ca_cert_ref",
    "/magnum_cert_ref",
    "/etcd_ca_cert_ref",
    "/front_proxy_ca_cert_ref",
    "/trust_id",
    "/trustee_user_name",
    "/trustee_password",
    "/trustee_user_id",
    "/status",
    "/status_reason",
    "/coe_version",
    "/container_version",
    "/faults",
    "/labels_overridden",
    "/labels_added",
    "/labels_skipped",
}
# Per view: the template field (mandatory), and what a PATCH may name (API field names).
MANDATORY = {"bays": frozenset({"/baymodel_id"}), "clusters": frozenset({"/cluster_template_id"})}
DEFAULTS = {
    "node_count": 1,
    "master_count": 1,
    "bay_create_timeout": 0,
    "create_timeout": 60,
    "merge_labels": False,
}
PATCHABLE = (
    "name",
    "cluster_template_id",
    "node_count",
    "master_count",
    "create_timeout",
    "discovery_url",
)
# Today's cluster: its overrides can be named in a PATCH (and refused when changed), and
# the health fields may change (Magnum's external health monitors set them).
TODAY_PATCHABLE = (
    *PATCHABLE,
    "keypair",
    "docker_volume_size",
    "labels",
    "merge_labels",
    "master_flavor_id",
    "flavor_id",
    "fixed_network",
    "fixed_subnet",
    "floating_ip_enabled",
    "master_lb_enabled",
    "health_status",
    "health_status_reason",
)
CHANGEABLE = frozenset({"node_count", "health_status", "health_status_reason"})
# Paths whose string value is read as a literal, as Magnum does ("{'a': 'b'}").
LITERAL_PATHS = frozenset({"/labels", "/health_status_reason"})
BODIES: dict[str, type[schemas.BayBody] | type[schemas.ClusterBody]] = {
    "bays": schemas.BayBody,
    "clusters": schemas.ClusterBody,
}
ASYNC_BAYS = microversions.gate(since="1.2")  # 202 {"uuid"} for bays from here on
ROLLBACK = microversions.gate(since="1.3")
ZERO_NODES = microversions.gate(since="1.10")
ZERO_REFUSED = "Resizing a nodegroup to zero is not supported in the provided microversion."
_FAILED = frozenset(s for s in fields.ClusterStatus if s.endswith("_FAILED"))


def refuse_zero_nodes(version: microversions.Version, node_count: int) -> None:
    """Below 1.10 a cluster (or nodegroup) keeps at least one node."""
    if node_count == 0 and not ZERO_NODES.admits(version):
        raise exceptions.InvalidParameterValue(err=ZERO_REFUSED)


def _patchable(view: views.View) -> tuple[str, ...]:
    if view is views.CLUSTER:
        return TODAY_PATCHABLE
    inverse = {attr: field for field, attr in view.columns.items()}
    return tuple(inverse.get(attr, attr) for attr in PATCHABLE)


def _literal_values(req: falcon.Request) -> None:
    """Today's PATCH of /labels or /health_status_reason may give the object as a string
    holding a Python or JSON literal; read it before the patch is applied."""
    data = common.json_body(req, argument="patch")
    if not isinstance(data, list):
        return
    for op in data:
        if (
            isinstance(op, dict)
            and isinstance(op.get("path"), str)  # else the patch schema judges it
            and op["path"] in LITERAL_PATHS
            and isinstance(op.get("value"), str)
        ):
            try:
                value = ast.literal_eval(op["value"])
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue  # left a string: the body's validation names the field
            if isinstance(value, dict):
                op["value"] = value
    req.context["json_body"] = data


class _Base:
    def __init__(self, api: Any, view: views.View = views.BAY) -> None:
        self.api = api
        self.view = view
        self.body = BODIES[view.collection]
        self.today = view is views.CLUSTER

    def _asynchronous(self, version: microversions.Version) -> bool:
        return self.today or ASYNC_BAYS.admits(version)

    def _accepted(self, resp: falcon.Response, uuid: str) -> None:
        common.send(resp, {"uuid": uuid}, status=202)

    def _notify(self, ctx: context.RequestContext, cluster_uuid: str) -> None:
        """Tell the conductors. The operation is already durable: if the message is lost,
        a conductor's scan for unowned operations still finds it."""
        try:
            self.api.conductor.cluster_operation(ctx, cluster_uuid=cluster_uuid)
        except Exception:
            LOG.exception(
                "bay %s: could not notify the conductors; left for their next scan", cluster_uuid
            )

    def _check_counts(
        self, template: models.ClusterTemplate, masters: int, workers: int, existing: int
    ) -> None:
        """A resize runs the drivers' validate of a create, for the new counts."""
        validation.cluster(
            self.api.drivers, template, master_count=masters, node_count=workers, existing=existing
        )

    def _extras(
        self, session: Any, rows: Sequence[models.Cluster], *, faults: bool
    ) -> Callable[[models.Cluster], dict[str, Any]]:
        """Today's full items also show how their labels differ from their templates' and,
        on GET of a failed cluster, what failed."""
        if not self.today:
            return lambda row: {}
        template_labels = cluster_templates.labels_of(
            session, (r.cluster_template_id for r in rows)
        )
        failures: dict[str, dict[str, str | None]] = {}
        if faults:
            for row in rows:
                if row.status in _FAILED:
                    failures[row.uuid] = {
                        group.name: group.status_reason or row.status_reason
                        for group in nodegroups.of_cluster(session, row.uuid)
                        if group.status in _FAILED
                    } or {row.status: row.status_reason}

        def extra(row: models.Cluster) -> dict[str, Any]:
            own = template_labels.get(row.cluster_template_id, {})
            out = views.label_diffs(dict(row.labels or {}), own)
            if row.uuid in failures:
                out["faults"] = failures[row.uuid]
            return out

        return extra


class Collection(_Base, common.Listing):
    def rows(self, session: Any, ctx: context.RequestContext, pg: query.Page) -> Sequence[Any]:
        return clusters.list_(session, ctx, pg, vocab=self.view.vocab)

    def extras(
        self, session: Any, rows: Sequence[Any], *, detail: bool
    ) -> Callable[[Any], dict[str, Any]] | None:
        return self._extras(session, rows, faults=False) if detail else None

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        view = self.view
        version = microversions.negotiated(req)
        body = schemas.validate(self.body, common.json_body(req, argument=view.argument))
        values = view.to_internal(body.model_dump())
        ctx = common.ctx(req)
        self.api.policy.authorize(f"{view.policy}:create", ctx)
        if self.today:
            refuse_zero_nodes(version, values["node_count"])
            if values.get("name") is None:
                values["name"] = names.generate("cluster")

        def check(template: models.ClusterTemplate) -> None:
            if self.today:
                _check_overrides(template, values)
            validation.cluster(
                self.api.drivers,
                template,
                master_count=values["master_count"],
                node_count=values["node_count"],
            )

        with self.api.db.session() as session:
            try:
                row = clusters.create(
                    session,
                    ctx,
                    values,
                    default_timeout=self.api.default_bay_timeout,
                    check=check,
                    limits=self.api.limits(),
                    vocab=view.vocab,
                )
            except exceptions.ClusterTemplateNotFound as exc:
                # a bad body field is a 400; from 1.10 Magnum lets the 404 through
                if not (self.today and ZERO_NODES.admits(version)):
                    raise exceptions.InvalidParameterValue(err=exc.message) from None
                raise
            rendered = None if self._asynchronous(version) else view.render(row, req.prefix)
        self._notify(ctx, row.uuid)
        if rendered is None:
            self._accepted(resp, row.uuid)
        else:
            common.created(req, resp, view.collection, row.uuid, rendered)


def _check_overrides(template: models.ClusterTemplate, values: Mapping[str, Any]) -> None:
    """Today's rules on what a cluster asks of its template."""
    lb = values.get("master_lb_enabled")
    if lb is None:
        lb = template.master_lb_enabled
    if values["master_count"] > 1 and not lb:
        raise exceptions.InvalidParameterValue(
            err="master_count must be 1 when master_lb_enabled is False"
        )
    size = values.get("docker_volume_size") or template.docker_volume_size
    if template.docker_storage_driver == "devicemapper" and size is not None and size < 3:
        raise exceptions.InvalidParameterValue(
            err=f"docker volume size {size} GB is not valid, expecting minimum value 3GB for "
            "devicemapper storage"
        )


class Item(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req, (common.ALL_PROJECTS,))
        policy = self.view.policy
        ctx = common.all_projects(self.api, req, f"{policy}:get_one_all_projects")
        with self.api.db.reader() as session:
            row = clusters.read(session, ctx, ident, vocab=self.view.vocab)
            common.authorize_row(self.api, f"{policy}:get", ctx, row)
            extra = self._extras(session, [row], faults=True)(row)
        version = microversions.negotiated(req)
        common.send(resp, self.view.render(row, req.prefix, version=version) | extra)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        version = microversions.negotiated(req)
        rollback = self._rollback(req, version)
        ctx = common.ctx(req)
        view = self.view
        patchable = _patchable(view)
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, for_update=True, vocab=view.vocab)
            self.api.policy.authorize(f"{view.policy}:update", ctx, common.target(row))
            if self.today:
                _literal_values(req)
            current = view.values(row, patchable)
            patched = common.apply_patch(
                current,
                req,
                internal=INTERNAL,
                mandatory=MANDATORY[view.collection],
                defaults=DEFAULTS,
            )
            values = schemas.validate(self.body, patched).model_dump()
            changed = sorted(k for k in patchable if values[k] != current[k])
            allowed = CHANGEABLE if self.today else {"node_count"}
            if forbidden := [k for k in changed if k not in allowed]:
                raise exceptions.InvalidParameterValue(
                    err=f"cannot change {view.vocab.word} property(ies) {', '.join(forbidden)}."
                )
            if "health_status" in changed or "health_status_reason" in changed:
                self.api.policy.authorize("cluster:update_health_status", ctx, common.target(row))
                reason = values["health_status_reason"]
                clusters.set_health(
                    session,
                    row,
                    ctx,
                    values["health_status"],
                    None if reason is None else json.dumps(reason, sort_keys=True),
                )
            resize = "node_count" in changed
            if resize:
                if self.today:
                    refuse_zero_nodes(version, values["node_count"])
                group = nodegroups.default(session, row.uuid, nodegroups.WORKER)
                assert group is not None, "every cluster has a default worker nodegroup"
                clusters.request_resize(
                    session,
                    row,
                    ctx,
                    group,
                    values["node_count"],
                    default_timeout=self.api.default_bay_timeout,
                    check=self._check_counts,
                    limits=self.api.limits(),
                    vocab=view.vocab,
                    rollback=rollback,
                )
            rendered = None if self._asynchronous(version) else view.render(row, req.prefix)
        if resize:
            self._notify(ctx, row.uuid)
        if rendered is None:
            self._accepted(resp, row.uuid)
        else:
            common.send(resp, rendered)

    def _rollback(self, req: falcon.Request, version: microversions.Version) -> bool:
        """`?rollback=<bool>` (from 1.3): a failed resize puts the old count back."""
        allowed = ("rollback",) if ROLLBACK.admits(version) else ()
        common.reject_unknown_args(req, allowed)
        return bool(common.bool_param(req, "rollback"))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, for_update=True, vocab=self.view.vocab)
            self.api.policy.authorize(f"{self.view.policy}:delete", ctx, common.target(row))
            clusters.request(
                session,
                row,
                fields.Operation.DELETE,
                ctx,
                default_timeout=self.api.default_bay_timeout,
                vocab=self.view.vocab,
            )
        self._notify(ctx, row.uuid)
        resp.status = 204
