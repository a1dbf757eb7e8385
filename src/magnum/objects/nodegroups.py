# SPDX-License-Identifier: Apache-2.0
"""Nodegroups: every cluster has a default master and a default worker group; a cluster's
master_count and node_count are the sums over its groups of each role. Counts and
statuses are written only on behalf of magnum.objects.clusters, in its transactions;
this module also reads them for the API (lookup, lists) and keeps the rules of a group's
fields (counts, node labels, taints).

A group's status tells the operation that touches it: CREATE_*, UPDATE_* (a resize) or
DELETE_* (a delete: its node_count is 0 until the conductor has removed its nodes, then
the row goes in the write that settles the operation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from magnum.common import exceptions, utils
from magnum.db import models
from magnum.objects import cluster_templates, query, vocabulary

MASTER = "master"
WORKER = "worker"
DEFAULT_MASTER = "default-master"
DEFAULT_WORKER = "default-worker"
# The stems of the default groups' node names (master-N, node-N): no other group may be
# named so, or its nodes would take their names.
RESERVED = frozenset({"master", "node"})
# What a nodegroup's status says while an operation touches it: the action's stem.
CREATE, UPDATE, DELETE = "create", "update", "delete"
DELETING = ("DELETE_IN_PROGRESS", "DELETE_FAILED")
G = models.NodeGroup


class NodeGroupNotFound(exceptions.NotFound):
    template = "Nodegroup {nodegroup} could not be found."


class NodeGroupAlreadyExists(exceptions.Conflict):
    template = "A node group with name {name} already exists in the cluster {cluster}."


class NodeGroupInvalidInput(exceptions.Conflict):
    template = "{attr} for {nodegroup} is invalid ({expl})."


NOUNS = vocabulary.Nouns(kind="nodegroup", not_found=NodeGroupNotFound)


def add_defaults(
    session: orm.Session, cluster: models.Cluster, template: models.ClusterTemplate
) -> tuple[models.NodeGroup, models.NodeGroup]:
    master = _default(
        cluster,
        template,
        DEFAULT_MASTER,
        MASTER,
        flavor_id=cluster.master_flavor_id
        or cluster.flavor_id
        or template.master_flavor_id
        or template.flavor_id,
        node_count=cluster.master_count,
        min_node_count=1,
    )
    worker = _default(
        cluster,
        template,
        DEFAULT_WORKER,
        WORKER,
        flavor_id=cluster.flavor_id or template.flavor_id,
        node_count=cluster.node_count,
        min_node_count=0,
    )
    session.add_all([master, worker])
    session.flush()
    return master, worker


def _default(
    cluster: models.Cluster,
    template: models.ClusterTemplate,
    name: str,
    role: str,
    *,
    flavor_id: str | None,
    node_count: int,
    min_node_count: int,
) -> models.NodeGroup:
    """A default nodegroup of `role`, taking the rest from the template."""
    return models.NodeGroup(
        uuid=utils.new_uuid(),
        cluster_uuid=cluster.uuid,
        project_id=cluster.project_id,
        name=name,
        role=role,
        is_default=True,
        flavor_id=flavor_id,
        image_id=template.image_id,
        docker_volume_size=cluster.docker_volume_size or template.docker_volume_size,
        labels=dict(cluster.labels if cluster.labels is not None else template.labels or {}),
        node_count=node_count,
        min_node_count=min_node_count,
        max_node_count=None,
        node_addresses=[],
        status=cluster.status,
    )


def of_cluster(session: orm.Session, cluster_uuid: str) -> Sequence[models.NodeGroup]:
    """Masters first, then workers; each by name."""
    return session.scalars(
        sa.select(models.NodeGroup)
        .where(models.NodeGroup.cluster_uuid == cluster_uuid)
        .order_by(models.NodeGroup.role != MASTER, models.NodeGroup.name)
    ).all()


def of_clusters(
    session: orm.Session, cluster_uuids: Sequence[str]
) -> dict[str, list[models.NodeGroup]]:
    """The groups of each of these clusters, in of_cluster's order, in one query."""
    out: dict[str, list[models.NodeGroup]] = {uuid: [] for uuid in cluster_uuids}
    if not out:
        return out
    rows = session.scalars(
        sa.select(models.NodeGroup)
        .where(models.NodeGroup.cluster_uuid.in_(list(out)))
        .order_by(models.NodeGroup.role != MASTER, models.NodeGroup.name)
    ).all()
    for row in rows:
        out[row.cluster_uuid].append(row)
    return out


def default(session: orm.Session, cluster_uuid: str, role: str) -> models.NodeGroup | None:
    return session.scalar(
        sa.select(models.NodeGroup).where(
            models.NodeGroup.cluster_uuid == cluster_uuid,
            models.NodeGroup.role == role,
            models.NodeGroup.is_default.is_(True),
        )
    )


def sums(session: orm.Session, cluster_uuid: str) -> tuple[int, int]:
    """(master_count, node_count) of a cluster: its groups' node counts summed by role."""
    rows = session.execute(
        sa.select(models.NodeGroup.role, sa.func.sum(models.NodeGroup.node_count))
        .where(models.NodeGroup.cluster_uuid == cluster_uuid)
        .group_by(models.NodeGroup.role)
    ).all()
    totals = {role: int(total or 0) for role, total in rows}
    return totals.get(MASTER, 0), totals.get(WORKER, 0)


def set_addresses(
    session: orm.Session,
    cluster_uuid: str,
    name: str,
    addresses: Sequence[str],
    status: str,
) -> None:
    """A group's addresses and the cluster's new status, once an operation settles; a group
    being deleted keeps saying so (`settled` removes it, or it stays DELETE_FAILED)."""
    where = (G.cluster_uuid == cluster_uuid, G.name == name)
    now = utils.utcnow()
    session.execute(
        sa.update(G)
        .where(*where)
        .values(node_addresses=list(addresses), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(G)
        .where(*where, sa.or_(G.status.is_(None), G.status.not_in(DELETING)))
        .values(status=status)
        .execution_options(synchronize_session=False)
    )


def set_node_names(
    session: orm.Session, cluster_uuid: str, names: Mapping[str, Sequence[str]]
) -> None:
    for name, nodes in names.items():
        session.execute(
            sa.update(G)
            .where(G.cluster_uuid == cluster_uuid, G.name == name)
            .values(node_names=list(nodes))
            .execution_options(synchronize_session=False)
        )


def settled(
    session: orm.Session,
    cluster_uuid: str,
    *,
    kind: str,
    args: Mapping[str, Any],
    status: str,
    reason: str,
) -> None:
    """What an operation's end means for the cluster's groups (called by clusters.settle):
    a create gives every group its status; a finished update removes the groups whose
    delete it carried out (their nodes are gone), and the group an update named gets the
    outcome of its action (CREATE_COMPLETE, UPDATE_FAILED, ...)."""
    failed = status.endswith("_FAILED")
    mine = G.cluster_uuid == cluster_uuid
    if kind == "create":
        session.execute(
            sa.update(G)
            .where(mine)
            .values(status=status, status_reason=reason if failed else None)
            .execution_options(synchronize_session=False)
        )
    if kind == "update" and not failed:
        session.execute(
            sa.delete(G)
            .where(mine, G.status.in_(DELETING), G.is_default.is_(False))
            .execution_options(synchronize_session=False)
        )
    touched, action = args.get("nodegroup"), args.get("nodegroup_action")
    if isinstance(touched, str) and action in (CREATE, UPDATE, DELETE):
        outcome = f"{str(action).upper()}_{'FAILED' if failed else 'COMPLETE'}"
        session.execute(
            sa.update(G)
            .where(mine, G.name == touched)
            .values(status=outcome, status_reason=reason if failed else None)
            .execution_options(synchronize_session=False)
        )


# --- the API's reads ---------------------------------------------------------------------
_OF = sa.select(G).where(G.cluster_uuid == sa.bindparam("scope_cluster"))
_OF_ROLE = _OF.where(G.role == sa.bindparam("scope_role"))


def _of(cluster_uuid: str, role: str | None = None) -> query.Scope[Any]:
    """The cluster's groups (of `role`, when given)."""
    if role is None:
        return query.Scope(_OF, {"scope_cluster": cluster_uuid})
    return query.Scope(_OF_ROLE, {"scope_cluster": cluster_uuid, "scope_role": role})


def list_(
    session: orm.Session, cluster_uuid: str, page: query.Page, *, role: str | None = None
) -> Sequence[Any]:
    """A page of the cluster's groups (of `role`, when given)."""
    # query.paginate is written for any model with id, uuid and the sort column.
    model: Any = G
    return query.paginate(session, _of(cluster_uuid, role), model, page, nouns=NOUNS)


def get(
    session: orm.Session, cluster_uuid: str, ident: str, *, for_update: bool = False
) -> models.NodeGroup:
    """A group of the cluster by uuid, by internal id (an integer-looking ident, as in
    Magnum) or by name (unique in a cluster)."""
    if "\x00" in ident:
        raise NodeGroupNotFound(nodegroup=ident)
    stmt = sa.select(G).where(G.cluster_uuid == cluster_uuid)
    by_name = False
    if utils.is_uuid_like(ident):
        stmt = stmt.where(G.uuid == ident)
    elif ident.isascii() and ident.isdigit():
        stmt = stmt.where(G.id == int(ident)) if len(ident) < 10 else stmt.where(sa.false())
    else:
        by_name = True
        stmt = stmt.where(G.name == ident)
    if for_update:
        stmt = stmt.with_for_update()
    rows = session.scalars(stmt).all()
    # MariaDB compares names case- and trailing-space-insensitively; names are exact here.
    found = next((r for r in rows if not by_name or r.name == ident), None)
    if found is None:
        raise NodeGroupNotFound(nodegroup=ident)
    return found


def named(session: orm.Session, cluster_uuid: str, name: str) -> models.NodeGroup | None:
    rows = session.scalars(sa.select(G).where(G.cluster_uuid == cluster_uuid, G.name == name)).all()
    return next((r for r in rows if r.name == name), None)


def add(
    session: orm.Session, cluster: models.Cluster, values: Mapping[str, Any]
) -> models.NodeGroup:
    """Insert a new worker group of `cluster` (locked by the caller) from a create body,
    with no nodes yet: clusters.request_nodegroup_update then asks for them. Raises
    NodeGroupAlreadyExists when the cluster has a group of that name."""
    template = cluster_templates.by_uuid(session, cluster.cluster_template_id)
    if template is None:  # cannot happen while the cluster references it
        raise exceptions.ClusterTemplateNotFound(cluster_template=cluster.cluster_template_id)
    row = new(cluster, template, values)
    name, cluster_uuid = row.name, cluster.uuid  # the rows cannot be read after a failed flush
    session.add(row)
    try:
        session.flush()
    except sa_exc.IntegrityError:  # another create of the name won the race; all rolls back
        raise NodeGroupAlreadyExists(name=name, cluster=cluster_uuid) from None
    return row


def change(row: models.NodeGroup, values: Mapping[str, Any]) -> None:
    """A PATCH's new bounds, node labels and taints (checked by the caller)."""
    row.min_node_count = values["min_node_count"]
    row.max_node_count = values["max_node_count"]
    row.node_labels = dict(values["node_labels"])
    row.node_taints = [dict(t) for t in values["node_taints"]]
    row.updated_at = utils.utcnow()


def new(
    cluster: models.Cluster, template: models.ClusterTemplate, values: Mapping[str, Any]
) -> models.NodeGroup:
    """A worker group of `cluster` from a create body, with no nodes yet (the operation
    that builds them sets its count); what the body leaves out comes from the cluster, then
    its template."""
    cluster_labels = dict(getattr(cluster, "labels", None) or template.labels or {})
    labels = values.get("labels")
    if labels is None:
        labels = cluster_labels
    elif values.get("merge_labels"):
        labels = cluster_labels | dict(labels)
    return G(
        uuid=utils.new_uuid(),
        cluster_uuid=cluster.uuid,
        project_id=cluster.project_id,
        name=values["name"],
        role=values.get("role") or WORKER,
        is_default=False,
        flavor_id=values.get("flavor_id")
        or getattr(cluster, "flavor_id", None)
        or template.flavor_id,
        image_id=values.get("image_id") or template.image_id,
        docker_volume_size=values.get("docker_volume_size")
        or getattr(cluster, "docker_volume_size", None)
        or template.docker_volume_size,
        labels=dict(labels),
        node_count=0,
        min_node_count=values.get("min_node_count") or 0,
        max_node_count=values.get("max_node_count"),
        node_addresses=[],
        node_names=[],
        node_labels=dict(values.get("node_labels") or {}),
        node_taints=[dict(t) for t in values.get("node_taints") or ()],
        status=None,
        version=None,
    )


# --- the rules of a group's fields ----------------------------------------------------------
def check_counts(name: str, *, node_count: int, min_count: int, max_count: int | None) -> None:
    """Magnum's rules: min <= node_count <= max (when max is set), min <= max."""

    def bad(attr: str, low: tuple[str, int], high: tuple[str, int]) -> NodeGroupInvalidInput:
        expl = f"{low[0]} ({low[1]}) should be less or equal to {high[0]} ({high[1]})"
        return NodeGroupInvalidInput(attr=attr, nodegroup=name, expl=expl)

    if max_count is not None:
        if max_count < min_count:
            raise bad(
                "max_node_count", ("min_node_count", min_count), ("max_node_count", max_count)
            )
        if node_count > max_count:
            raise bad("max_node_count", ("node_count", node_count), ("max_node_count", max_count))
    if min_count > node_count:
        raise bad("min_node_count", ("min_node_count", min_count), ("node_count", node_count))


# Kubernetes' syntax of label and taint keys and values.
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Keys in the kubernetes.io and k8s.io namespaces a kubelet may set on its own node.
KUBELET_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.kubernetes.io/zone",
        "failure-domain.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
    }
)
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if not slash:
        prefix, name = "", key
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"the name part of key '{exceptions.shorten(key)}' must be 1-63 characters, "
            "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        )
    if slash and (
        not prefix or len(prefix) > 253 or not all(_DNS_LABEL.match(p) for p in prefix.split("."))
    ):
        return f"the prefix of key '{exceptions.shorten(key)}' must be a DNS subdomain"
    return None


def _value_problem(key: str, value: str) -> str | None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        return (
            f"the value of '{exceptions.shorten(key)}' must be at most 63 characters, "
            "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        )
    return None


def _in_kubernetes_namespace(prefix: str) -> bool:
    return any(prefix == ns or prefix.endswith(f".{ns}") for ns in ("kubernetes.io", "k8s.io"))


def _kubelet_may_set(key: str, prefix: str) -> bool:
    if key in KUBELET_LABELS:
        return True
    return any(prefix == ns or prefix.endswith(f".{ns}") for ns in KUBELET_NAMESPACES)


def check_node_labels(name: str, role: str, labels: Mapping[str, str]) -> None:
    def bad(expl: str) -> NodeGroupInvalidInput:
        return NodeGroupInvalidInput(attr="node_labels", nodegroup=name, expl=expl)

    if labels and role == MASTER:
        raise bad("node labels cannot be set on master nodegroups")
    for key, value in sorted(labels.items()):
        if (problem := _key_problem(key) or _value_problem(key, value)) is not None:
            raise bad(problem)
        prefix = key.rpartition("/")[0]
        if _in_kubernetes_namespace(prefix) and not _kubelet_may_set(key, prefix):
            raise bad(
                f"key '{exceptions.shorten(key)}' is in the kubernetes.io or k8s.io namespace; "
                f"only the {' and '.join(KUBELET_NAMESPACES)} prefixes and the labels a "
                "kubelet sets itself are allowed there"
            )


def check_node_taints(name: str, role: str, taints: Sequence[Mapping[str, str]]) -> None:
    def bad(expl: str) -> NodeGroupInvalidInput:
        return NodeGroupInvalidInput(attr="node_taints", nodegroup=name, expl=expl)

    if taints and role == MASTER:
        raise bad("node taints cannot be set on master nodegroups")
    for i, taint in enumerate(taints):
        if unknown := sorted(set(taint) - {"key", "value", "effect"}):
            shown = ", ".join(exceptions.shorten(k) for k in unknown)
            raise bad(f"taint {i} has unknown keys: {shown}; a taint has key, value and effect")
        if "key" not in taint:
            raise bad(f"taint {i} has no key")
        key = taint["key"]
        problem = _key_problem(key) or _value_problem(key, taint.get("value", ""))
        if problem is not None:
            raise bad(f"taint {i}: {problem}")
        if taint.get("effect") not in TAINT_EFFECTS:
            raise bad(
                f"taint {i}: effect must be one of {', '.join(TAINT_EFFECTS)}, not "
                f"'{exceptions.shorten(taint.get('effect'))}'"
            )
