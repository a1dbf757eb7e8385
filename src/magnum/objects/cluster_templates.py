# SPDX-License-Identifier: Apache-2.0
"""Cluster templates: visibility (own project + public), references from clusters, writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from magnum.common import context, utils
from magnum.db import models
from magnum.objects import query, vocabulary

T = models.ClusterTemplate
_EVERY = sa.select(T)
_OWN_OR_PUBLIC = sa.select(T).where(
    sa.or_(T.project_id == sa.bindparam("scope_project"), T.public.is_(True))
)
_OWN_OR_SHOWN = sa.select(T).where(
    sa.or_(
        T.project_id == sa.bindparam("scope_project"),
        sa.and_(T.public.is_(True), T.hidden.is_not(True)),
    )
)


def _visible(ctx: context.RequestContext, *, admin: bool = False) -> query.Scope[T]:
    """The caller's own templates and the public ones; a hidden public template only to
    admins (Magnum hides retired public templates from tenants). Every template, to a
    caller the API granted all_projects."""
    if ctx.all_projects:
        return query.Scope(_EVERY)
    stmt = _OWN_OR_PUBLIC if admin or ctx.is_admin else _OWN_OR_SHOWN
    return query.Scope(stmt, {"scope_project": ctx.project_id})


def list_(
    session: orm.Session,
    ctx: context.RequestContext,
    page: query.Page,
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
    admin: bool = False,
) -> Sequence[Any]:
    return query.paginate(
        session,
        _visible(ctx, admin=admin),
        models.ClusterTemplate,
        page,
        nouns=vocab.template,
    )


def get(
    session: orm.Session,
    ctx: context.RequestContext,
    ident: str,
    *,
    for_update: bool = False,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
    admin: bool = False,
) -> models.ClusterTemplate:
    """A template of the caller's project, or a public one (hidden ones to `admin`s)."""
    return query.by_ident(
        session,
        _visible(ctx, admin=admin),
        models.ClusterTemplate,
        ident,
        nouns=vocab.template,
        for_update=for_update,
    )


def read(
    session: orm.Session,
    ctx: context.RequestContext,
    ident: str,
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
    admin: bool = False,
) -> Any:
    """get() for a reader: a read-only record of the template's columns."""
    return query.read_by_ident(
        session, _visible(ctx, admin=admin), models.ClusterTemplate, ident, nouns=vocab.template
    )


def by_uuid(session: orm.Session, uuid: str) -> models.ClusterTemplate | None:
    """The template `uuid`, whatever its project: the one a cluster references, or an
    upgrade's target (None when there is none)."""
    return session.scalar(
        sa.select(models.ClusterTemplate).where(models.ClusterTemplate.uuid == uuid)
    )


def by_uuids(session: orm.Session, uuids: Iterable[str]) -> dict[str, models.ClusterTemplate]:
    """The templates of these uuids that exist, by uuid, whatever their project (one query)."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    rows = session.scalars(
        sa.select(models.ClusterTemplate).where(models.ClusterTemplate.uuid.in_(wanted))
    ).all()
    return {row.uuid: row for row in rows}


def coe_of(session: orm.Session, uuid: str) -> str | None:
    """The COE of the template `uuid` (None if there is no such template)."""
    return session.scalar(
        sa.select(models.ClusterTemplate.coe).where(models.ClusterTemplate.uuid == uuid)
    )


def create(
    session: orm.Session,
    ctx: context.RequestContext,
    values: Mapping[str, Any],
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> models.ClusterTemplate:
    """Insert a template of the caller's project, with a uuid of its own.

    A client-supplied `uuid` is ignored, as Magnum ignores a bay's: uuids are unique across
    projects, so honouring one would answer differently for a uuid another project holds
    (409, or another uuid than asked) than for a free one, and tell every project that the
    uuid exists somewhere. Ignored, every create answers alike.
    """
    values = {k: v for k, v in values.items() if k != "uuid"}
    row = models.ClusterTemplate(
        **values, uuid=utils.new_uuid(), project_id=ctx.project_id, user_id=ctx.user_id
    )
    session.add(row)
    try:
        session.flush()
    except sa_exc.IntegrityError as exc:  # a generated uuid taken: not in this universe
        raise vocab.template_exists(uuid=row.uuid) from exc
    return row


def ensure_unreferenced(
    session: orm.Session,
    row: models.ClusterTemplate,
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> None:
    """Refuse to change or delete a baymodel that any bay (of any project) uses."""
    used = session.scalar(
        sa.select(models.Cluster.id).where(models.Cluster.cluster_template_id == row.uuid).limit(1)
    )
    if used is not None:
        raise vocab.referenced(cluster_template=row.uuid)


def update(
    session: orm.Session,
    row: models.ClusterTemplate,
    changes: Mapping[str, Any],
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
    referenced_may: Callable[[Mapping[str, Any]], bool] | None = None,
) -> None:
    """Change a template. One that clusters use may not change, unless `referenced_may`
    admits the change (today's API lets a used template be renamed, tagged, hidden or
    published)."""
    if referenced_may is None or not referenced_may(changes):
        ensure_unreferenced(session, row, vocab=vocab)
    for key, value in changes.items():
        setattr(row, key, value)
    session.flush()


def delete(
    session: orm.Session,
    row: models.ClusterTemplate,
    *,
    vocab: vocabulary.Vocabulary = vocabulary.CLUSTER,
) -> None:
    ensure_unreferenced(session, row, vocab=vocab)
    session.delete(row)
    session.flush()


def labels_of(session: orm.Session, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The labels of these templates (whoever owns them: a cluster shows how its labels
    differ from its template's), by uuid."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(models.ClusterTemplate.uuid, models.ClusterTemplate.labels).where(
            models.ClusterTemplate.uuid.in_(wanted)
        )
    ).all()
    return {uuid: dict(labels or {}) for uuid, labels in rows}
