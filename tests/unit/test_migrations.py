# SPDX-License-Identifier: Apache-2.0
"""The migrations build exactly the schema the models describe, and run both ways."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from magnum.db import migration, models
from tests.conftest import BACKENDS, _create_database


def _diff(url: str) -> list[object]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, models.Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _head() -> str:
    script = ScriptDirectory.from_config(migration._config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def test_models_match_migrations(db_url: str) -> None:
    assert migration.version(db_url) == _head()
    assert _diff(db_url) == []


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """A new, empty database of each backend, dropped afterwards."""
    url, drop = _create_database(request.param, tmp_path)
    yield url
    drop()


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    app_tables = {t.name for t in models.Base.metadata.sorted_tables}
    migration.upgrade(empty_url)
    assert migration.version(empty_url) == _head()
    assert _tables(empty_url) >= app_tables
    migration.downgrade(empty_url, "base")
    assert migration.version(empty_url) is None
    assert not _tables(empty_url) & app_tables
    migration.upgrade(empty_url)
    assert migration.version(empty_url) == _head()
    assert _diff(empty_url) == []
