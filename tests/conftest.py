# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: real databases (SQLite, PostgreSQL, MariaDB) built by the migrations,
configuration objects, and an in-process API + conductor wired like magnum-aio."""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from magnum import conf as magnum_conf
from magnum.db import engine, migration, models

PG_ADMIN = os.environ.get("MAGNUM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# MariaDB through mysqlclient (C), the driver deployments are advised to use; the outage
# and reader tests run PyMySQL too (OTHER_MYSQL_DRIVER).
MY_ADMIN = os.environ.get("MAGNUM_TEST_MYSQL", "mysql+mysqldb://root@127.0.0.1:3306/")
OTHER_MYSQL_DRIVER = "pymysql"
RABBIT = os.environ.get("MAGNUM_TEST_RABBIT", "rabbit://guest:guest@127.0.0.1:5672/")
BACKENDS = ("sqlite", "postgresql", "mysql")


def _create_database(backend: str, tmp: pathlib.Path) -> tuple[str, Callable[[], None]]:
    name = f"magnum_test_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        return f"sqlite:///{tmp / (name + '.sqlite')}", lambda: None
    admin_url = PG_ADMIN if backend == "postgresql" else MY_ADMIN
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    if backend == "mysql":
        url += "?charset=utf8mb4"

    def drop() -> None:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()

    return url, drop


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database per backend (and per xdist worker), shared by the session."""
    url, drop = _create_database(request.param, tmp_path_factory.mktemp("db"))
    migration.upgrade(url)
    yield url
    drop()


@pytest.fixture
def db(db_url: str) -> Iterator[engine.Database]:
    """The session's database, emptied after each test."""
    database = engine.Database(db_url, pool_size=5, max_overflow=5)
    yield database
    empty(database)
    database.dispose()


def empty(database: engine.Database) -> None:
    """Delete every row: the next test on the session's database starts from nothing."""
    with database.session() as session:
        for table in reversed(models.Base.metadata.sorted_tables):
            session.execute(table.delete())


def make_conf(db_url: str, state: pathlib.Path, **groups: dict[str, Any]) -> Any:
    overrides: dict[str, dict[str, Any]] = {
        "DEFAULT": {"transport_url": "inproc://", "state_path": str(state), "host": "test"},
        "database": {"connection": db_url},
        "conductor": {
            "enabled_infra_drivers": ["fake"],
            "enabled_coe_drivers": ["fakecoe"],
            "heartbeat_interval": 0.2,
            "sync_interval": 0.2,
            "lease_ttl": 2.0,
        },
    }
    for group, values in groups.items():
        overrides.setdefault(group, {}).update(values)
    return magnum_conf.load([], config_files=[], overrides=overrides)


@pytest.fixture
def conf_factory(db_url: str, tmp_path: pathlib.Path) -> Callable[..., Any]:
    return lambda **groups: make_conf(db_url, tmp_path / "state", **groups)
