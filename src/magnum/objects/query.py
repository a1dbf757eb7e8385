# SPDX-License-Identifier: Apache-2.0
"""Shared query rules: project scoping, lookup by uuid or name, sorting and markers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import exceptions, utils
from magnum.db import models
from magnum.objects import vocabulary

Row = TypeVar("Row", models.Cluster, models.ClusterTemplate, models.Container)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """What a collection request asks for, already validated by the API."""

    limit: int
    marker: str | None = None
    sort_key: str = "id"
    sort_dir: str = "asc"
    # Only these columns (plus id and uuid) are fetched; None fetches them all.
    columns: tuple[str, ...] | None = None


def sort_column(model: type[Row], key: str) -> sa.ColumnElement[Any]:
    """The column `key` names. The API has already checked that it is one users may sort by."""
    columns = model.__table__.columns
    if key not in columns:
        raise exceptions.InvalidParameterValue(
            err=f'The sort_key value "{key}" is an invalid field for sorting'
        )
    return columns[key]


def paginate(
    session: orm.Session,
    stmt: sa.Select[Row],
    model: type[Row],
    page: Page,
    *,
    nouns: vocabulary.Nouns,
) -> Sequence[Any]:
    """Apply sort, marker and limit to a scoped select. Ties always break on `id`.

    Returns read-only rows whose columns read as attributes, like the mapped objects.
    """
    column = sort_column(model, page.sort_key)
    descending = page.sort_dir == "desc"
    if page.marker is not None:
        marker = session.scalars(stmt.where(model.uuid == page.marker)).first()
        if marker is None:
            raise nouns.not_found.of(page.marker)
        stmt = stmt.where(
            _after(
                column, model.id, getattr(marker, page.sort_key), marker.id, descending=descending
            )
        )
    # NULLs sort first ascending (last descending) on every backend, so markers agree.
    present = column.is_not(None)
    if descending:
        order = [present.desc(), column.desc(), model.id.desc()]
    else:
        order = [present.asc(), column.asc(), model.id.asc()]
    # Plain rows, not ORM objects: a list is only rendered, and building a hundred mapped
    # instances was most of the cost of GET /v1/baymodels.
    table = model.__table__.columns
    names: list[str] = list(table.keys())
    only: tuple[str, ...] | None = page.columns
    if only is not None:
        names = ["id", "uuid"]
        names += [name for name in only if name not in names]
    wanted = [table[name] for name in names]
    narrowed = stmt.with_only_columns(*wanted)
    return session.execute(narrowed.order_by(*order).limit(page.limit)).all()


def _after(
    column: sa.ColumnElement[Any],
    id_column: Any,
    value: object,
    row_id: int,
    *,
    descending: bool,
) -> sa.ColumnElement[bool]:
    """Rows strictly after (value, row_id) in the order `paginate` sorts by."""
    if descending:
        if value is None:
            return sa.and_(column.is_(None), id_column < row_id)
        return sa.or_(
            column.is_(None), column < value, sa.and_(column == value, id_column < row_id)
        )
    if value is None:
        return sa.or_(column.is_not(None), id_column > row_id)
    return sa.and_(
        column.is_not(None), sa.or_(column > value, sa.and_(column == value, id_column > row_id))
    )


def by_ident(
    session: orm.Session,
    stmt: sa.Select[Row],
    model: type[Row],
    ident: str,
    *,
    nouns: vocabulary.Nouns,
    for_update: bool = False,
) -> Row:
    """Find one row by canonical UUID or, failing that form, by name (409 if ambiguous)."""
    if "\x00" in ident:  # no stored name holds NUL, and PostgreSQL refuses it in a query
        raise nouns.not_found.of(ident)
    by_uuid = utils.is_uuid_like(ident)
    stmt = stmt.where(model.uuid == ident) if by_uuid else stmt.where(model.name == ident)
    if for_update:
        stmt = stmt.with_for_update()
    if by_uuid:
        rows = list(session.scalars(stmt.limit(2)).all())
    else:
        # MariaDB compares names case- and trailing-space-insensitively; names are exact here.
        rows = [row for row in session.scalars(stmt).all() if row.name == ident]
    if not rows:
        raise nouns.not_found.of(ident)
    if len(rows) > 1:
        raise exceptions.AmbiguousName(kind=nouns.kind)
    return rows[0]
