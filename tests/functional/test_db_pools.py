# SPDX-License-Identifier: Apache-2.0
"""The two pools of magnum.db.engine.Database on every backend: reader() sessions (one
transaction per statement, nothing written) and the ping of connections that sat idle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from magnum.common import context
from magnum.db import engine, models
from magnum.objects import cluster_templates
from tests.conftest import empty

CTX = context.RequestContext(project_id="p-pools", user_id="u")


@pytest.fixture
def database(db_url: str) -> Iterator[engine.Database]:
    database = engine.Database(db_url, pool_size=1, max_overflow=0)
    yield database
    empty(database)  # the session's database: what these tests made must not outlive them
    database.dispose()


def _template(database: engine.Database, name: str) -> str:
    with database.session() as session:
        row = cluster_templates.create(
            session, CTX, {"name": name, "image_id": "i", "coe": "swarm", "labels": {}}
        )
    return row.uuid


def test_a_reader_sees_what_was_committed_and_refuses_to_write(
    database: engine.Database,
) -> None:
    uuid = _template(database, "seen")
    with pytest.raises(engine.ReaderWrite), database.reader() as session:
        assert cluster_templates.get(session, CTX, uuid).name == "seen"
        session.add(
            models.ClusterTemplate(uuid="0" * 36, name="stray", project_id="p-pools", coe="swarm")
        )
        session.flush()
    with pytest.raises(engine.ReaderWrite), database.reader() as session:
        cluster_templates.get(session, CTX, uuid).name = "changed"
        session.flush()
    with database.session() as session:
        assert (
            session.scalar(
                sa.select(models.ClusterTemplate).where(models.ClusterTemplate.uuid == "0" * 36)
            )
            is None
        )
        assert cluster_templates.get(session, CTX, uuid).name == "seen"


def test_each_statement_of_a_reader_is_a_transaction_of_its_own(
    database: engine.Database,
) -> None:
    if database.dialect == "sqlite":
        pytest.skip("SQLite's reader is an ordinary session: it has no round trips to save")
    with database.reader() as session:
        if database.dialect == "postgresql":
            session.execute(sa.text("SELECT pg_sleep(0.01)"))
            # inside a transaction, its start and the statement's would differ by then
            same = session.scalar(sa.text("SELECT transaction_timestamp() = statement_timestamp()"))
            assert same is True
        else:
            assert session.scalar(sa.text("SELECT @@autocommit")) == 1
            ended = "SHOW SESSION STATUS WHERE Variable_name IN ('Com_commit', 'Com_rollback')"
            before: dict[str, str] = dict(session.execute(sa.text(ended)).all())
    if database.dialect != "postgresql":
        with database.reader() as session:  # the same connection: pool_size 1
            after: dict[str, str] = dict(session.execute(sa.text(ended)).all())
        assert after == before, "a reader sent COMMIT or ROLLBACK"
    with database.session() as session:
        if database.dialect == "postgresql":
            session.execute(sa.text("SELECT pg_sleep(0.01)"))
            same = session.scalar(sa.text("SELECT transaction_timestamp() = statement_timestamp()"))
            assert same is False  # the control: a session is one transaction
        else:
            assert session.scalar(sa.text("SELECT @@autocommit")) == 0


def _server_pid(session: sa.orm.Session, dialect: str) -> int:
    query = "SELECT pg_backend_pid()" if dialect == "postgresql" else "SELECT CONNECTION_ID()"
    return int(session.scalar(sa.text(query)))


def _kill(database: engine.Database, pid: int) -> None:
    """End that server connection from another one, as a server restart would."""
    admin = sa.create_engine(database.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if database.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            else:
                conn.execute(sa.text(f"KILL {pid}"))
    finally:
        admin.dispose()


@pytest.mark.parametrize("pool", ["session", "reader"])
def test_a_connection_idle_long_enough_is_pinged_and_replaced(
    database: engine.Database, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.dialect == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    use = database.session if pool == "session" else database.reader
    with use() as session:
        first = _server_pid(session, database.dialect)
    _kill(database, first)
    monkeypatch.setattr(engine, "PING_AFTER_IDLE", 0.0)  # it has been idle long enough
    with use() as session:  # no error: the ping found it dead and the pool connected anew
        assert _server_pid(session, database.dialect) != first


def test_a_connection_in_steady_use_is_not_pinged_and_its_loss_is_503_once(
    database: engine.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.dialect == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    with database.session() as session:
        first = _server_pid(session, database.dialect)
    _kill(database, first)
    monkeypatch.setattr(engine, "PING_AFTER_IDLE", 3600.0)  # in steady use: no ping
    with pytest.raises(engine.DatabaseUnavailable) as exc, database.session() as session:
        session.execute(sa.text("SELECT 1"))
    assert "lost" in str(exc.value)
    with database.session() as session:  # the pool was invalidated: a new connection
        assert _server_pid(session, database.dialect) != first


def test_a_listener_on_every_engine_sees_the_readers_statements(
    database: engine.Database,
) -> None:
    """`engines` names the reader's engine too: a statement listener (the benchmarks' SQL
    counts and EXPLAIN capture) on them misses none of a GET's queries."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    for eng in database.engines:
        sa.event.listen(eng, "before_cursor_execute", record)
    uuid = _template(database, "listened")
    seen.clear()
    with database.reader() as session:
        assert cluster_templates.get(session, CTX, uuid).name == "listened"
    assert any("cluster_template" in s.lower() for s in seen), seen
    assert len(database.engines) == (1 if database.dialect == "sqlite" else 2)
