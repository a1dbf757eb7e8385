# SPDX-License-Identifier: Apache-2.0
"""Clusters: the only writer of cluster rows.

Every change of a cluster row goes through this module: creating it (with its default
nodegroups), requesting an operation, the conductor's progress, settling, health, the
lease that fences a conductor's writes, and deletion. Each change that a user would want
to know of adds an event (magnum.objects.events) in the same transaction. Callers decide
*when*; this module alone knows *how*.

The API records the wanted operation (status *_IN_PROGRESS, an operation record, a
deadline) in the transaction that validates it; a conductor then owns it through the
lease. A conductor's write is fenced by (uuid, lease owner, operation id): one that lost
the lease, or whose operation was replaced, changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import context, exceptions, utils
from magnum.db import engine, models
from magnum.objects import (
    cluster_templates,
    events,
    fields,
    nodegroups,
    query,
    quotas,
    vocabulary,
)

C = models.Cluster


_EVERY = sa.select(C)
_PROJECTS = sa.select(C).where(C.project_id == sa.bindparam("scope_project"))


def _scoped(ctx: context.RequestContext) -> query.Scope[models.Cluster]:
    """The caller's project's clusters (every project's for a caller the API granted
    all_projects)."""
    if ctx.all_projects:
        return query.Scope(_EVERY)
    return query.Scope(_PROJECTS, {"scope_project": ctx.project_id})


# --- reads ---------------------------------------------------------------------------
# What a list reads of a cluster when it asks for every column: all but what the drivers
# built (driver_state: kilobytes of PKI and driver JSON that no list shows).
LISTED = tuple(c.key for c in C.__table__.columns if c.key != "driver_state")


def list_(
    session: orm.Session,
    ctx: context.RequestContext,
    page: query.Page,
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> Sequence[Any]:
    if page.columns is None:
        page = dataclasses.replace(page, columns=LISTED)
    return query.paginate(session, _scoped(ctx), C, page, nouns=vocab.cluster)


def get(
    session: orm.Session,
    ctx: context.RequestContext,
    ident: str,
    *,
    for_update: bool = False,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> models.Cluster:
    return query.by_ident(
        session, _scoped(ctx), C, ident, nouns=vocab.cluster, for_update=for_update
    )


def read(
    session: orm.Session,
    ctx: context.RequestContext,
    ident: str,
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> Any:
    """get() for a reader: a read-only record of the cluster's columns."""
    return query.read_by_ident(session, _scoped(ctx), C, ident, nouns=vocab.cluster)


def get_by_uuid(session: orm.Session, uuid: str) -> models.Cluster | None:
    return session.scalar(sa.select(C).where(C.uuid == uuid))


def load(
    session: orm.Session, uuid: str, *, owner: str | None = None
) -> tuple[models.Cluster, models.ClusterTemplate, models.Operation | None] | None:
    """A cluster (held by `owner`, when given), its template and its active operation."""
    stmt = sa.select(C).where(C.uuid == uuid)
    if owner is not None:
        stmt = stmt.where(C.lease_owner == owner)
    row = session.scalar(stmt)
    if row is None:
        return None
    template = cluster_templates.by_uuid(session, row.cluster_template_id)
    if template is None:  # cannot happen while the cluster references it; be safe
        template = models.ClusterTemplate(uuid=row.cluster_template_id, coe="", labels={})
    op = None
    if row.operation_id is not None:
        op = session.get(models.Operation, row.operation_id)
    elif row.operation is not None and owner is not None:
        op = _adopt_unrecorded(session, row)
    return row, template, op


def _adopt_unrecorded(session: orm.Session, row: models.Cluster) -> models.Operation:
    """An operation on the row with no record (written by a release before operations were
    records, during a rolling upgrade): give it one, so it runs like any other."""
    record = models.Operation(
        uuid=utils.new_uuid(),
        cluster_uuid=row.uuid,
        kind=row.operation,
        args={},
        state="pending",
        user_id=row.user_id,
        project_id=row.project_id,
        created_at=utils.utcnow(),
        deadline=row.operation_deadline,
    )
    session.add(record)
    session.flush()
    row.operation_id = record.id
    session.flush()
    return record


def pending(db: engine.Database, uuid: str) -> bool:
    with db.session() as session:
        return session.scalar(sa.select(C.operation).where(C.uuid == uuid)) is not None


# --- the API's writes ----------------------------------------------------------------
def deadline(timeout_minutes: int | None, default_minutes: int) -> datetime.datetime:
    minutes = timeout_minutes or default_minutes
    return utils.utcnow() + datetime.timedelta(minutes=minutes)


def _new_operation(
    session: orm.Session,
    row: models.Cluster,
    op: fields.Operation,
    actor: events.Actor,
    args: Mapping[str, Any],
    *,
    default_timeout: int,
) -> models.Operation:
    record = models.Operation(
        uuid=utils.new_uuid(),
        cluster_uuid=row.uuid,
        kind=op.value,
        args=dict(args),
        state="pending",
        request_id=actor.request_id,
        user_id=actor.user_id,
        project_id=actor.project_id,
        created_at=utils.utcnow(),
        deadline=deadline(row.create_timeout, default_timeout),
    )
    session.add(record)
    session.flush()  # gives the record its id (a pending cluster row is inserted too)
    row.status = op.in_progress
    row.operation = op
    row.operation_id = record.id
    row.operation_deadline = record.deadline
    events.record(
        session,
        row,
        events.Kind.REQUESTED,
        status=row.status,
        message=f"{op} requested" + (f" ({_describe(args)})" if args else ""),
        operation=record.uuid,
        actor=actor,
    )
    return record


def _describe(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(args.items()))


def create(
    session: orm.Session,
    ctx: context.RequestContext,
    values: Mapping[str, Any],
    *,
    default_timeout: int,
    check: Callable[[models.ClusterTemplate], None] | None = None,
    limits: quotas.Limits | None = None,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> models.Cluster:
    """Insert a cluster in CREATE_IN_PROGRESS with its default nodegroups and the create
    operation. The template is locked so it cannot vanish meanwhile; `check` may refuse
    the cluster for its template, and `limits` for the project's quotas or the host's
    budget, before anything is written."""
    template = cluster_templates.get(
        session, ctx, values["cluster_template_id"], for_update=True, vocab=vocab
    )
    if check is not None:
        check(template)
    if limits is not None:
        nodes = int(values["master_count"]) + int(values["node_count"])
        quotas.reserve(session, ctx.project_id, limits, clusters=1, nodes=nodes)
    row = C(
        uuid=utils.new_uuid(),  # a client-supplied uuid is ignored, as in Magnum
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=values.get("name"),
        cluster_template_id=template.uuid,
        node_count=values["node_count"],
        master_count=values["master_count"],
        create_timeout=values.get("create_timeout"),
        discovery_url=values.get("discovery_url"),
        status=fields.ClusterStatus.CREATE_IN_PROGRESS,
        status_reason=values.get("status_reason"),
        node_addresses=[],
        master_addresses=[],
        driver_state={},
        **inherited(values, template),
    )
    # The operation record first: the cluster row is then inserted once, complete (a new
    # cluster shows no updated_at).
    _new_operation(
        session,
        row,
        fields.Operation.CREATE,
        events.Actor.of(ctx),
        {"master_count": row.master_count, "node_count": row.node_count},
        default_timeout=default_timeout,
    )
    session.add(row)
    nodegroups.add_defaults(session, row, template)
    return row


# A cluster's own value of each, or (left out, or null) its template's.
OVERRIDES = {
    "keypair": "keypair_id",
    "flavor_id": "flavor_id",
    "master_flavor_id": "master_flavor_id",
    "docker_volume_size": "docker_volume_size",
    "fixed_network": "fixed_network",
    "fixed_subnet": "fixed_subnet",
    "floating_ip_enabled": "floating_ip_enabled",
    "master_lb_enabled": "master_lb_enabled",
}


def inherited(values: Mapping[str, Any], template: models.ClusterTemplate) -> dict[str, Any]:
    """The per-cluster fields of a new cluster: each as asked, else the template's. Asked
    labels replace the template's, or with `merge_labels` are laid over them."""
    out = {
        field: values[field] if values.get(field) is not None else getattr(template, source)
        for field, source in OVERRIDES.items()
    }
    own = values.get("labels")
    base = dict(template.labels or {})
    if own is None:
        out["labels"] = base
    elif values.get("merge_labels"):
        out["labels"] = base | dict(own)
    else:
        out["labels"] = dict(own)
    return out


def request(
    session: orm.Session,
    row: models.Cluster,
    op: fields.Operation,
    ctx: context.RequestContext,
    *,
    default_timeout: int,
    args: Mapping[str, Any] | None = None,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> models.Operation:
    """Record that `op` should run on `row` (locked by the caller), or refuse if the
    cluster's state forbids it. An operation it replaces is marked superseded."""
    _may_start(row, op, vocab)
    actor = events.Actor.of(ctx)
    if row.operation_id is not None:
        replaced = session.get(models.Operation, row.operation_id)
        if replaced is not None:
            _finish_operation(replaced, state="superseded", outcome=None)
            events.record(
                session,
                row,
                events.Kind.SUPERSEDED,
                message=f"{replaced.kind} superseded by {op}",
                operation=replaced.uuid,
                actor=actor,
            )
    row.status_reason = None
    record = _new_operation(
        session, row, op, actor, dict(args or {}), default_timeout=default_timeout
    )
    session.flush()
    return record


def _may_start(row: models.Cluster, op: fields.Operation, vocab: vocabulary.Vocabulary) -> None:
    current = fields.ClusterStatus(row.status)
    if not fields.may_start(op, current):
        if op is fields.Operation.UPDATE:
            raise exceptions.InvalidState(
                detail=f'Updating a {vocab.word} when status is "{current}" is not supported.'
            )
        raise vocab.in_progress(cluster_name=row.name or row.uuid)


def request_resize(
    session: orm.Session,
    row: models.Cluster,
    ctx: context.RequestContext,
    nodegroup: models.NodeGroup,
    node_count: int,
    *,
    default_timeout: int,
    check: Callable[[models.ClusterTemplate, int, int, int], None] | None = None,
    limits: quotas.Limits | None = None,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
    rollback: bool = False,
) -> models.Operation:
    """Record an update that sets `nodegroup` (of `row`, locked by the caller) to
    `node_count` nodes (a bay's or cluster's PATCH of node_count). With `rollback`, a
    failure puts the group's present count back (magnum.conductor.operations)."""
    args: dict[str, Any] = {"node_count": node_count}
    if rollback:
        args["rollback"] = {nodegroup.name: nodegroup.node_count}
    return _request_count(
        session,
        row,
        ctx,
        nodegroup,
        node_count,
        args=args,
        default_timeout=default_timeout,
        check=check,
        limits=limits,
        vocab=vocab,
    )


def request_nodegroup_update(
    session: orm.Session,
    row: models.Cluster,
    ctx: context.RequestContext,
    nodegroup: models.NodeGroup,
    node_count: int,
    *,
    action: str,
    default_timeout: int,
    args: Mapping[str, Any] | None = None,
    check: Callable[[models.ClusterTemplate, int, int, int], None] | None = None,
    limits: quotas.Limits | None = None,
) -> models.Operation:
    """Record an update of one nodegroup of `row` (locked by the caller): its resize, or its
    create or delete (`action`: nodegroups.UPDATE, CREATE, DELETE; a new group is in the
    session already, with no nodes; a deleted one goes to 0 nodes). The operation's args
    name the group (and `args`: nodes_to_remove), and the group shows <ACTION>_IN_PROGRESS
    until the operation settles (magnum.objects.nodegroups.settled)."""
    asked = {"nodegroup": nodegroup.name, "nodegroup_action": action, "node_count": node_count}
    record = _request_count(
        session,
        row,
        ctx,
        nodegroup,
        node_count,
        args=asked | dict(args or {}),
        default_timeout=default_timeout,
        check=check,
        limits=limits,
        vocab=vocabulary.CLUSTER,
    )
    nodegroup.status = f"{action.upper()}_IN_PROGRESS"
    nodegroup.status_reason = None
    session.flush()
    return record


def _request_count(
    session: orm.Session,
    row: models.Cluster,
    ctx: context.RequestContext,
    nodegroup: models.NodeGroup,
    node_count: int,
    *,
    args: Mapping[str, Any],
    default_timeout: int,
    check: Callable[[models.ClusterTemplate, int, int, int], None] | None,
    limits: quotas.Limits | None,
    vocab: vocabulary.Vocabulary,
) -> models.Operation:
    """Every path that changes a node count comes here: the new counts pass the same checks
    as a create before anything is recorded (`check(template, master_count, node_count,
    existing)`, the drivers' validate, then the quotas), then the update is recorded and
    the cluster's counts become the sums over its groups."""
    _may_start(row, fields.Operation.UPDATE, vocab)  # a 409 comes before any 400
    delta = node_count - nodegroup.node_count
    masters = row.master_count + (delta if nodegroup.role == nodegroups.MASTER else 0)
    workers = row.node_count + (delta if nodegroup.role != nodegroups.MASTER else 0)
    if check is not None:
        template = cluster_templates.by_uuid(session, row.cluster_template_id)
        if template is not None:
            check(template, masters, workers, row.master_count + row.node_count)
    if limits is not None and delta > 0:
        quotas.reserve(session, row.project_id, limits, clusters=0, nodes=delta, resize=True)
    record = request(
        session,
        row,
        fields.Operation.UPDATE,
        ctx,
        default_timeout=default_timeout,
        args=args,
        vocab=vocab,
    )
    nodegroup.node_count = node_count
    session.flush()
    row.master_count, row.node_count = nodegroups.sums(session, row.uuid)
    session.flush()
    return record


# --- the conductor's writes (fenced by the lease) -------------------------------------
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Fence:
    """What a conductor's write on a cluster is conditioned on."""

    cluster_uuid: str
    project_id: str  # the cluster's
    owner: str
    operation_id: int
    operation_uuid: str
    actor: events.Actor

    @property
    def ref(self) -> events.Ref:
        return events.Ref(self.cluster_uuid, self.project_id)

    def where(self) -> tuple[sa.ColumnElement[bool], ...]:
        return (
            C.uuid == self.cluster_uuid,
            C.lease_owner == self.owner,
            C.operation_id == self.operation_id,
        )


class Superseded(exceptions.OperationInterrupted):
    """The cluster's operation changed (e.g. delete requested during create), or it is gone."""

    template = "The operation on cluster {cluster} was superseded."


def _fenced(session: orm.Session, fence: Fence, **values: Any) -> None:
    result = session.execute(
        sa.update(C)
        .where(*fence.where())
        .values(**values, updated_at=utils.utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Superseded(cluster=fence.cluster_uuid)


def start(db: engine.Database, fence: Fence) -> None:
    """Mark the operation running on `fence.owner`; a second conductor picking it up is a
    takeover, told in the timeline."""
    with db.session() as session:
        _fenced(session, fence)
        op = session.get(models.Operation, fence.operation_id)
        if op is None:
            raise Superseded(cluster=fence.cluster_uuid)
        if op.conductor == fence.owner and op.state == "running":
            return
        previous = op.conductor if op.state == "running" else None
        op.state = "running"
        op.conductor = fence.owner
        op.started_at = op.started_at or utils.utcnow()
        if previous is not None:
            kind, message = events.Kind.TAKEOVER, f"{op.kind} taken over from {previous}"
        else:
            kind, message = events.Kind.STARTED, f"{op.kind} started"
        events.record(
            session,
            fence.ref,
            kind,
            message=message,
            operation=op.uuid,
            actor=fence.actor,
            conductor=fence.owner,
        )


def progress(db: engine.Database, fence: Fence, reason: str, state: Mapping[str, Any]) -> None:
    with db.session() as session:
        _fenced(session, fence, status_reason=reason, driver_state=dict(state))
        events.record(
            session,
            fence.ref,
            events.Kind.PROGRESS,
            message=reason,
            operation=fence.operation_uuid,
            actor=fence.actor,
            conductor=fence.owner,
        )


def checkpoint(db: engine.Database, fence: Fence, state: Mapping[str, Any]) -> None:
    with db.session() as session:
        _fenced(session, fence, driver_state=dict(state))


def _finish_operation(
    op: models.Operation,
    *,
    state: str,
    outcome: str | None,
    error_code: str | None = None,
    message: str | None = None,
) -> None:
    op.state = state
    op.outcome = outcome
    op.error_code = error_code
    op.message = message
    op.finished_at = utils.utcnow()


def settle(
    db: engine.Database,
    fence: Fence,
    status: fields.ClusterStatus,
    reason: str,
    state: Mapping[str, Any],
    *,
    error_code: str | None = None,
    nodegroup_addresses: Mapping[str, Sequence[str]] | None = None,
    nodegroup_names: Mapping[str, Sequence[str]] | None = None,
    **values: Any,
) -> None:
    """End the operation: final status (checked against the state machine), no operation
    and no lease, in one write, so a settled cluster never shows an owner. The nodegroups
    get their nodes' addresses (and names, in the same order) and what the operation meant
    for them (magnum.objects.nodegroups.settled)."""
    with db.session() as session:
        op = session.get(models.Operation, fence.operation_id)
        if op is None:
            raise Superseded(cluster=fence.cluster_uuid)
        kind = fields.Operation(op.kind)
        endings: tuple[fields.ClusterStatus, ...] = (kind.complete, kind.failed)
        if kind is fields.Operation.UPDATE and (op.args or {}).get("rollback"):
            endings += fields.ROLLED_BACK
        if status not in endings:
            raise exceptions.InvalidTransition(operation=kind.value, status=status.value)
        _fenced(
            session,
            fence,
            status=status,
            status_reason=reason,
            operation=None,
            operation_id=None,
            operation_deadline=None,
            lease_owner=None,
            lease_expires_at=None,
            driver_state=dict(state),
            **values,
        )
        failed = status in (kind.failed, *fields.ROLLED_BACK)
        _finish_operation(
            op,
            state="failed" if failed else "succeeded",
            outcome=status.value,
            error_code=error_code,
            message=reason,
        )
        for name, addresses in (nodegroup_addresses or {}).items():
            nodegroups.set_addresses(session, fence.cluster_uuid, name, addresses, status)
        nodegroups.set_node_names(session, fence.cluster_uuid, nodegroup_names or {})
        args = dict(op.args or {})
        nodegroups.settled(
            session, fence.cluster_uuid, kind=kind.value, args=args, status=status, reason=reason
        )
        events.record(
            session,
            fence.ref,
            events.Kind.TRANSITION,
            status=status.value,
            error_code=error_code,
            message=reason,
            operation=op.uuid,
            actor=fence.actor,
            conductor=fence.owner,
        )


def delete(db: engine.Database, fence: Fence) -> None:
    """Remove the cluster with its nodegroups and containers in one transaction. Its
    operation records and timeline stay (ending with DELETE_COMPLETE) until pruned, so the
    project can still learn who deleted it and how that went."""
    with db.session() as session:
        result = session.execute(
            sa.delete(C).where(*fence.where()).execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise Superseded(cluster=fence.cluster_uuid)  # rolls back: nothing is removed
        for model in (models.Container, models.NodeGroup):
            session.execute(
                sa.delete(model)
                .where(model.cluster_uuid == fence.cluster_uuid)
                .execution_options(synchronize_session=False)
            )
        op = session.get(models.Operation, fence.operation_id)
        status = fields.ClusterStatus.DELETE_COMPLETE
        if op is not None:
            _finish_operation(op, state="succeeded", outcome=status.value)
        events.record(
            session,
            fence.ref,
            events.Kind.TRANSITION,
            status=status.value,
            message="Cluster deleted",
            operation=fence.operation_uuid,
            actor=fence.actor,
            conductor=fence.owner,
        )


# --- upgrade (magnum.conductor.handlers.upgrade) ------------------------------------
def request_upgrade(
    session: orm.Session,
    row: models.Cluster,
    ctx: context.RequestContext,
    template: models.ClusterTemplate,
    *,
    max_batch_size: int,
    nodegroup: models.NodeGroup | None,
    surge: int,
    default_timeout: int,
    check: Callable[[], None] | None = None,
    limits: quotas.Limits | None = None,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> models.Operation:
    """Record the upgrade of `row` (locked by the caller) to `template`: of its default
    nodegroups, or of the one non-default `nodegroup`. `check` (the drivers' checks) may
    refuse it first; the replacement nodes it builds ahead of the nodes they replace
    (`surge` at most at once) must fit the project's quota and the host's budget, as a
    resize's new nodes do. A nodegroup upgraded shows UPDATE_IN_PROGRESS until it settles."""
    _may_start(row, fields.Operation.UPGRADE, vocab)  # a 409 comes before any 400
    if check is not None:
        check()
    if limits is not None and surge > 0:
        quotas.reserve(session, row.project_id, limits, clusters=0, nodes=surge, resize=True)
    args: dict[str, Any] = {"cluster_template": template.uuid, "max_batch_size": max_batch_size}
    if nodegroup is not None:
        args |= {"nodegroup": nodegroup.name, "nodegroup_action": nodegroups.UPDATE}
    record = request(
        session,
        row,
        fields.Operation.UPGRADE,
        ctx,
        default_timeout=default_timeout,
        args=args,
        vocab=vocab,
    )
    if nodegroup is not None:
        nodegroup.status = fields.ClusterStatus.UPDATE_IN_PROGRESS.value
        nodegroup.status_reason = None
        session.flush()
    return record


def set_nodegroup_images(
    db: engine.Database, fence: Fence, images: Mapping[str, tuple[str | None, str | None]]
) -> None:
    """What an upgrade moved each of the cluster's nodegroups to: {name: (image_id,
    version)}; fenced like every conductor write (nothing changes for a lost lease)."""
    with db.session() as session:
        _fenced(session, fence)
        for name, (image_id, version) in images.items():
            session.execute(
                sa.update(models.NodeGroup)
                .where(
                    models.NodeGroup.cluster_uuid == fence.cluster_uuid,
                    models.NodeGroup.name == name,
                )
                .values(image_id=image_id, version=version, updated_at=utils.utcnow())
                .execution_options(synchronize_session=False)
            )


# --- periodic checks on settled clusters --------------------------------------------
class Sweep(enum.StrEnum):
    """Periodic checks of settled clusters, each claimed per cluster through its column."""

    HEALTH = "health_checked_at"
    CONTAINERS = "containers_synced_at"


def _due(
    sweep: Sweep, interval: float, now: datetime.datetime, statuses: Iterable[str]
) -> tuple[sa.ColumnElement[bool], ...]:
    column = getattr(C, sweep.value)
    before = now - datetime.timedelta(seconds=interval)
    return (
        C.operation.is_(None),
        C.status.in_(list(statuses)),
        sa.or_(column.is_(None), column < before),
    )


SWEEP_PAGE = 100  # clusters a periodic sweep reads, claims and loads at a time


def due_pages(
    db: engine.Database,
    sweep: Sweep,
    *,
    interval: float,
    statuses: Iterable[str],
    page: int = SWEEP_PAGE,
) -> Iterator[list[str]]:
    """The settled clusters (no operation, a status in `statuses`) whose `sweep` is older
    than `interval` seconds, a page at a time in id order: one query a page, each a range
    of the primary key, so a sweep's reads grow by one query per page."""
    wanted = list(statuses)
    after = 0
    while True:
        with db.session() as session:
            rows = session.execute(
                sa.select(C.id, C.uuid)
                .where(C.id > after, *_due(sweep, interval, utils.utcnow(), wanted))
                .order_by(C.id)
                .limit(page)
            ).all()
        if rows:
            yield [row.uuid for row in rows]
        if len(rows) < page:
            return
        after = rows[-1].id


def claim_many(
    db: engine.Database,
    sweep: Sweep,
    uuids: Sequence[str],
    *,
    interval: float,
    statuses: Iterable[str],
) -> list[str]:
    """Claim the checks of these clusters for this round (stamp their sweep's column): of
    several conductors, exactly one wins each. Returns those this one won, in the given order.

    The due rows are locked (rows another conductor has locked, claiming them, are skipped),
    then stamped in one UPDATE. SQLite takes no row locks: there the UPDATE, which rechecks
    that each is due, decides, and when it stamps fewer than were read, the ones stamped
    with this claim's time (under the write lock the UPDATE took) are this conductor's."""
    if not uuids:
        return []
    now = utils.utcnow()
    wanted = list(statuses)
    column = getattr(C, sweep.value)
    with db.session() as session:
        if db.dialect == "mysql":
            # Under REPEATABLE READ a locking read keeps every row it scanned locked (all
            # of a small table, scanned rather than read by the uuid index), and another
            # conductor's SKIP LOCKED then passes over rows nobody claims. READ COMMITTED
            # releases the rows that did not match at once (PostgreSQL's default anyway).
            session.connection(execution_options={"isolation_level": "READ COMMITTED"})
        due = _due(sweep, interval, now, wanted)
        rows = session.execute(
            sa.select(C.id, C.uuid)
            .where(C.uuid.in_(list(uuids)), *due)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        # Stamped by primary key, the locks taken above: by uuid, the UPDATE would also
        # want the uuid index's entries, and a writer that locks a cluster by uuid (holding
        # that entry, then wanting the row) would deadlock with it on MariaDB.
        ids = sorted(row_id for row_id, _ in rows)
        locked = {uuid for _, uuid in rows}
        result = session.execute(
            sa.update(C)
            .where(C.id.in_(ids), *due)
            .values({sweep.value: now})
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != len(locked):  # type: ignore[attr-defined]
            locked = set(
                session.scalars(sa.select(C.uuid).where(C.id.in_(ids), column == now)).all()
            )
    return [uuid for uuid in uuids if uuid in locked]


def load_many(
    session: orm.Session, uuids: Sequence[str], *, groups: bool = False
) -> list[tuple[models.Cluster, models.ClusterTemplate, list[models.NodeGroup]]]:
    """These clusters (those that still exist, in the given order), each with its template
    and (with `groups`) its nodegroups in nodegroups.of_cluster's order: a periodic sweep's
    page in two or three queries, however many clusters it holds."""
    if not uuids:
        return []
    rows = {row.uuid: row for row in session.scalars(sa.select(C).where(C.uuid.in_(list(uuids))))}
    templates = cluster_templates.by_uuids(session, (r.cluster_template_id for r in rows.values()))
    of = nodegroups.of_clusters(session, list(rows)) if groups else {}
    out = []
    for uuid in uuids:
        row = rows.get(uuid)
        if row is None:
            continue
        template = templates.get(row.cluster_template_id)
        if template is None:  # as in `load`: cannot happen while the cluster references it
            template = models.ClusterTemplate(uuid=row.cluster_template_id, coe="", labels={})
        out.append((row, template, of.get(uuid, [])))
    return out


def record_health(
    db: engine.Database, uuid: str, status: str, reason: str, *, conductor: str | None = None
) -> bool:
    """Write a new health status of a settled cluster; a change is an event. False when the
    cluster is gone or an operation started meanwhile (then nothing is written)."""
    with db.session() as session:
        row = session.scalar(
            sa.select(C).where(C.uuid == uuid, C.operation.is_(None)).with_for_update()
        )
        if row is None:
            return False
        if status == row.health_status and reason == row.health_status_reason:
            return True
        unhealthy = fields.HealthStatus.UNHEALTHY
        if status == unhealthy:
            row.status_reason = f"Unhealthy: {reason}"
        elif row.health_status == unhealthy:
            row.status_reason = f"Healthy again: {reason}"
        row.health_status = status
        row.health_status_reason = reason
        events.record(
            session,
            row,
            events.Kind.HEALTH,
            status=status,
            error_code="Unhealthy" if status == unhealthy else None,
            message=reason,
            conductor=conductor,
        )
        return True


def roll_back(
    db: engine.Database, fence: Fence, counts: Mapping[str, int], reason: str
) -> tuple[int, int]:
    """A failed update asked with ?rollback=true: put the nodegroups' counts back as they
    were before it (`counts`), show ROLLBACK_IN_PROGRESS and say why. Returns the cluster's
    (master_count, node_count) after it."""
    with db.session() as session:
        row = session.scalar(sa.select(C).where(*fence.where()).with_for_update())
        if row is None:
            raise Superseded(cluster=fence.cluster_uuid)
        for group in nodegroups.of_cluster(session, fence.cluster_uuid):
            if group.name in counts:
                group.node_count = int(counts[group.name])
        session.flush()
        row.master_count, row.node_count = nodegroups.sums(session, fence.cluster_uuid)
        row.status = fields.ClusterStatus.ROLLBACK_IN_PROGRESS
        row.status_reason = f"Rolling back: {reason}"
        events.record(
            session,
            fence.ref,
            events.Kind.TRANSITION,
            status=row.status,
            message=row.status_reason,
            operation=fence.operation_uuid,
            actor=fence.actor,
        )
        return row.master_count, row.node_count


def set_health(
    session: orm.Session,
    row: models.Cluster,
    ctx: context.RequestContext,
    status: str | None,
    reason: str | None,
) -> None:
    """A health status set through the API (PATCH /health_status[_reason], as Magnum's
    external health monitors do); an event names who set it."""
    row.health_status = status
    row.health_status_reason = reason
    events.record(
        session,
        row,
        events.Kind.HEALTH,
        status=status,
        message=f"set through the API: {reason}" if reason else "set through the API",
        actor=events.Actor.of(ctx),
    )


def ready_lock(session: orm.Session, uuid: str, statuses: Iterable[str]) -> models.Cluster:
    """Lock a settled cluster in one of `statuses` until `session` commits, so that no
    operation is requested on it meanwhile. Writing the row takes its lock (a row lock on
    PostgreSQL and MariaDB, the database lock on SQLite, where SELECT FOR UPDATE locks
    nothing). Raises ClusterNotFound, or NotReady with the row as it is."""
    wanted = list(statuses)
    held = session.execute(
        sa.update(C)
        .where(C.uuid == uuid, C.operation.is_(None), C.status.in_(wanted))
        .values(id=C.id)
        .execution_options(synchronize_session=False)
    )
    row = session.scalar(sa.select(C).where(C.uuid == uuid))
    if row is None:
        raise exceptions.ClusterNotFound(cluster=uuid)
    if not held.rowcount:  # type: ignore[attr-defined]
        raise NotReady(row)
    return row


class NotReady(Exception):
    """The cluster is not settled in a wanted status; `row` tells how it is."""

    def __init__(self, row: models.Cluster) -> None:
        super().__init__(row.uuid)
        self.row = row


# --- leases --------------------------------------------------------------------------
def _expiry(ttl: float) -> datetime.datetime:
    return utils.utcnow() + datetime.timedelta(seconds=ttl)


def acquire(db: engine.Database, uuid: str, *, owner: str, ttl: float) -> bool:
    """Take the lease on a cluster with an operation waiting: one conditional UPDATE, so of
    two conductors racing for it exactly one wins. True if `owner` now holds it."""
    now = utils.utcnow()
    with db.session() as session:
        result = session.execute(
            sa.update(C)
            .where(
                C.uuid == uuid,
                C.operation.is_not(None),
                sa.or_(C.lease_owner.is_(None), C.lease_owner == owner, C.lease_expires_at < now),
            )
            .values(lease_owner=owner, lease_expires_at=_expiry(ttl))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def renew(db: engine.Database, uuids: Iterable[str], *, owner: str, ttl: float) -> set[str]:
    """Extend the leases `owner` still holds; return the uuids it no longer holds."""
    wanted = set(uuids)
    if not wanted:
        return set()
    with db.session() as session:
        session.execute(
            sa.update(C)
            .where(C.uuid.in_(wanted), C.lease_owner == owner)
            .values(lease_expires_at=_expiry(ttl))
            .execution_options(synchronize_session=False)
        )
        held = session.scalars(
            sa.select(C.uuid).where(C.uuid.in_(wanted), C.lease_owner == owner)
        ).all()
    return wanted - set(held)


def release(db: engine.Database, uuid: str, *, owner: str) -> None:
    with db.session() as session:
        session.execute(
            sa.update(C)
            .where(C.uuid == uuid, C.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )


def free_leases_of(db: engine.Database, owners: Iterable[str]) -> Sequence[str]:
    """Release at once every lease held by `owners`, conductors known to be dead (a
    restarted conductor's own earlier incarnations), rather than let each run out its ttl;
    the scan for unowned operations then takes theirs over. Returns the clusters freed."""
    dead = sorted(set(owners))
    if not dead:
        return []
    with db.session() as session:
        freed = session.scalars(sa.select(C.uuid).where(C.lease_owner.in_(dead))).all()
        session.execute(
            sa.update(C)
            .where(C.lease_owner.in_(dead))
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    return freed


def unowned(db: engine.Database) -> Sequence[str]:
    """Clusters with an operation that no live conductor holds (never taken, or owner gone)."""
    now = utils.utcnow()
    with db.session() as session:
        return session.scalars(
            sa.select(C.uuid).where(
                C.operation.is_not(None),
                sa.or_(C.lease_owner.is_(None), C.lease_expires_at < now),
            )
        ).all()


class Hold(enum.Enum):
    """What became of an attempt to hold a settled cluster (see `hold_settled`)."""

    HELD = "held"
    GONE = "gone"
    UNSETTLED = "unsettled"  # an operation is waiting or running, or the status forbids it
    BUSY = "busy"  # another conductor holds it for an action of its own


def hold_settled(
    db: engine.Database, uuid: str, *, owner: str, ttl: float, statuses: Iterable[str]
) -> Hold:
    """Take the lease on a cluster with *no* operation and a status in `statuses`, for a
    short action on the settled cluster (loading an image). While held, no conductor starts
    an operation on it: the API still records one, and it runs once the lease is released."""
    now = utils.utcnow()
    wanted = list(statuses)
    with db.session() as session:
        result = session.execute(
            sa.update(C)
            .where(
                C.uuid == uuid,
                C.operation.is_(None),
                C.status.in_(wanted),
                sa.or_(C.lease_owner.is_(None), C.lease_expires_at < now),
            )
            .values(lease_owner=owner, lease_expires_at=_expiry(ttl))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return Hold.HELD
        row = session.execute(sa.select(C.operation, C.status).where(C.uuid == uuid)).one_or_none()
    if row is None:
        return Hold.GONE
    if row.operation is not None or row.status not in wanted:
        return Hold.UNSETTLED
    return Hold.BUSY
