# SPDX-License-Identifier: Apache-2.0
"""Shared query rules: project scoping, lookup by uuid or name, sorting and markers."""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import exceptions, utils
from magnum.db import models
from magnum.objects import vocabulary

Row = TypeVar("Row", models.Cluster, models.ClusterTemplate, models.Container)


@dataclasses.dataclass(frozen=True, slots=True)
class Scope(Generic[Row]):
    """The rows a caller may see: a select built once per kind of caller, whose bound
    parameters (`:scope_project`, ...) take `params` for this one. Built once, it and
    every statement derived from it here (by uuid, by name, a page's order) are built
    and given their SQLAlchemy cache key once per process, not once per request: that
    was a third of the Python time of a GET by uuid."""

    stmt: sa.Select[Row]
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


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
    scope: Scope[Row],
    model: type[Row],
    page: Page,
    *,
    nouns: vocabulary.Nouns,
) -> Sequence[Any]:
    """Apply sort, marker and limit to a scope. Ties always break on `id`.

    Returns read-only rows whose columns read as attributes, like the mapped objects.
    """
    params = dict(scope.params)
    if page.marker is not None:
        # Only what the predicate needs: the marker's sort value and id, by the uuid index.
        found = session.execute(
            _marker_stmt(scope.stmt, model, page.sort_key), params | {"marker": page.marker}
        ).first()
        if found is None:
            raise nouns.not_found.of(page.marker)
        params["after_value"], params["after_id"] = found
    stmt, record = _page_stmt(
        scope.stmt,
        model,
        page.sort_key,
        page.sort_dir == "desc",
        page.columns,
        after=page.marker is not None,
        after_null=page.marker is not None and params["after_value"] is None,
    )
    # Core, on the session's connection: columns need none of the ORM's row loading
    rows = session.connection().execute(stmt, params | {"page_limit": page.limit})
    # Named tuples, not SQLAlchemy rows: reading a row's column by name cost about a
    # microsecond, and a page of a hundred forty-field templates reads four thousand. All
    # fetched at once: psycopg's row by row fetchone cost a tenth of a list of 100.
    return list(map(record._make, rows.all()))


@functools.lru_cache(maxsize=512)
def _marker_stmt(base: sa.Select[Any], model: type[Row], sort_key: str) -> sa.Select[Any]:
    column, ident = sort_column(model, sort_key), sort_column(model, "id")
    return (
        base.with_only_columns(column, ident).where(model.uuid == sa.bindparam("marker")).limit(1)
    )


@functools.lru_cache(maxsize=512)
def _page_stmt(
    base: sa.Select[Any],
    model: type[Row],
    sort_key: str,
    descending: bool,
    columns: tuple[str, ...] | None,
    *,
    after: bool,
    after_null: bool,
) -> tuple[sa.Select[Any], type[Any]]:
    """The page's statement, and the named tuple its rows become."""
    column = sort_column(model, sort_key)
    ident = sort_column(model, "id")
    stmt = base
    if after:
        value: Any = None if after_null else sa.bindparam("after_value")
        row_id: Any = sa.bindparam("after_id")
        stmt = stmt.where(_after(column, ident, value, row_id, descending=descending))
    order = _order(column, ident, descending=descending)
    # Plain rows, not ORM objects: a list is only rendered, and building a hundred mapped
    # instances was most of the cost of GET /v1/baymodels.
    table = model.__table__.columns
    names: list[str] = list(table.keys())
    if columns is not None:
        names = ["id", "uuid"]
        names += [name for name in columns if name not in names]
    wanted = [table[name] for name in names]
    narrowed = stmt.with_only_columns(*wanted)
    limited = narrowed.order_by(*order).limit(sa.bindparam("page_limit", type_=sa.Integer))
    return limited, _record(model.__name__, tuple(names))


def _order(
    column: sa.ColumnElement[Any], id_column: sa.ColumnElement[Any], *, descending: bool
) -> list[sa.UnaryExpression[Any]]:
    """The page's ORDER BY: the sort column, then `id`. NULLs sort first ascending (last
    descending) on every backend, so markers agree. A column that holds no NULL (id, and
    every NOT NULL column) is ordered by itself: an index on (..., column, id) then serves
    the order without a sort, which an expression such as `column IS NOT NULL` defeats."""
    way = sa.desc if descending else sa.asc
    if column is id_column:
        return [way(id_column)]
    if not _nullable(column):
        return [way(column), way(id_column)]
    return [way(column.is_not(None)), way(column), way(id_column)]


def _nullable(column: sa.ColumnElement[Any]) -> bool:
    return bool(getattr(column, "nullable", True))


def _after(
    column: sa.ColumnElement[Any],
    id_column: sa.ColumnElement[Any],
    value: Any,
    row_id: Any,
    *,
    descending: bool,
) -> sa.ColumnElement[bool]:
    """Rows strictly after (value, row_id) in the order `paginate` sorts by."""
    beyond: sa.ColumnElement[bool] = id_column < row_id if descending else id_column > row_id
    if column is id_column:
        return beyond
    if not _nullable(column):  # so value is not None either
        further = column < value if descending else column > value
        return sa.or_(further, sa.and_(column == value, beyond))
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
    scope: Scope[Row],
    model: type[Row],
    ident: str,
    *,
    nouns: vocabulary.Nouns,
    for_update: bool = False,
) -> Row:
    """Find one row by canonical UUID or, failing that form, by name (409 if ambiguous)."""
    stmt, params, by_uuid = _lookup(scope, model, ident, nouns=nouns, for_update=for_update)
    found: Sequence[Row] = session.scalars(stmt, params).all()
    return _the_one(found, ident, by_uuid=by_uuid, nouns=nouns)


def read_by_ident(
    session: orm.Session,
    scope: Scope[Row],
    model: type[Row],
    ident: str,
    *,
    nouns: vocabulary.Nouns,
) -> Any:
    """by_ident for a reader: the row as a read-only record of its columns (a named tuple,
    read as attributes like the mapped object), without the ORM's instance loading."""
    stmt, params, by_uuid = _lookup(scope, model, ident, nouns=nouns, for_update=False)
    narrowed, record = _record_stmt(stmt)
    found = list(map(record._make, session.connection().execute(narrowed, params).all()))
    return _the_one(found, ident, by_uuid=by_uuid, nouns=nouns)


def _lookup(
    scope: Scope[Row], model: type[Row], ident: str, *, nouns: vocabulary.Nouns, for_update: bool
) -> tuple[sa.Select[Row], dict[str, Any], bool]:
    """The statement finding `ident` in `scope`, its parameters, and whether it goes by uuid."""
    if "\x00" in ident:  # no stored name holds NUL, and PostgreSQL refuses it in a query
        raise nouns.not_found.of(ident)
    by_uuid = utils.is_uuid_like(ident)
    stmt = _ident_stmt(scope.stmt, model, by_uuid=by_uuid, for_update=for_update)
    return stmt, {**scope.params, "ident": ident}, by_uuid


class _Named(Protocol):
    @property
    def name(self) -> str | None: ...


_N = TypeVar("_N", bound=_Named)


def _the_one(found: Sequence[_N], ident: str, *, by_uuid: bool, nouns: vocabulary.Nouns) -> _N:
    # MariaDB compares names case- and trailing-space-insensitively; names are exact here.
    rows = list(found) if by_uuid else [row for row in found if row.name == ident]
    if not rows:
        raise nouns.not_found.of(ident)
    if len(rows) > 1:
        raise exceptions.AmbiguousName(kind=nouns.kind)
    return rows[0]


@functools.lru_cache(maxsize=512)
def _record_stmt(stmt: sa.Select[Any]) -> tuple[sa.Select[Any], type[Any]]:
    """`stmt` (of one mapped class) narrowed to its table's columns, and their named tuple."""
    model = stmt.column_descriptions[0]["entity"]
    columns = model.__table__.columns
    return stmt.with_only_columns(*columns), _record(model.__name__, tuple(columns.keys()))


@functools.cache
def _record(model_name: str, names: tuple[str, ...]) -> type[Any]:
    """The named tuple of these columns of a table: one type however many statements."""
    return collections.namedtuple(f"{model_name}Row", names)


@functools.lru_cache(maxsize=512)
def _ident_stmt(
    base: sa.Select[Row], model: type[Row], *, by_uuid: bool, for_update: bool
) -> sa.Select[Row]:
    column = model.uuid if by_uuid else model.name
    stmt = base.where(column == sa.bindparam("ident"))
    if for_update:
        stmt = stmt.with_for_update()
    return stmt.limit(2) if by_uuid else stmt
