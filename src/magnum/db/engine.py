# SPDX-License-Identifier: Apache-2.0
"""Engine and session factory for the three supported backends, and the one place that
turns a database that cannot be reached into DatabaseUnavailable."""

from __future__ import annotations

import contextlib
import logging
import pathlib
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import orm

from magnum.common import exceptions

LOG = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5  # seconds a new server connection may take (libpq counts whole seconds)
_LOST = "the connection to it was lost"


class DatabaseUnavailable(exceptions.MagnumError):
    """The database cannot be reached or refuses work now (503): restarting, down, or every
    connection busy. It crosses RPC calls (magnum.common.rpc.ALLOWED_EXMODS)."""

    status = 503
    retry_after: ClassVar[int] = 5  # seconds: about what a database restart takes
    template = "The database is unavailable: {reason}. Try again later."


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets API reads proceed while the conductor writes; busy_timeout waits for the lock.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    connect_timeout: int = CONNECT_TIMEOUT,
    autocommit: bool = False,
) -> sa.Engine:
    """An engine on `url`. `autocommit` (PostgreSQL and MariaDB): every statement is a
    transaction of its own (no BEGIN, no COMMIT: the read-only sessions of
    Database.reader). SQLite ignores it."""
    parsed = sa.make_url(url)
    extra: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            pathlib.Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() not in ("postgresql", "mysql", "mariadb"):
        raise exceptions.InvalidParameterValue(
            err=f"Unsupported database backend {parsed.get_backend_name()!r}."
        )
    connect_args: dict[str, Any] = {"connect_timeout": connect_timeout}
    pymysql = parsed.get_driver_name() == "pymysql"
    if pymysql:  # PyMySQL's connect_timeout bounds the TCP connect, not the server's greeting
        connect_args["read_timeout"] = connect_timeout
    engine = sa.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=3600,
        connect_args=connect_args,
        **extra,
    )
    if pymysql:
        sa.event.listen(engine, "connect", _unbounded_reads)
    if autocommit:
        # No transaction is ever open on these connections: the COMMIT and ROLLBACK that
        # SQLAlchemy still asks the driver for at the end of each use are nothing to send
        # (psycopg sends none; the MySQL drivers would spend a round trip on each).
        for name in ("do_commit", "do_rollback"):
            setattr(engine.dialect, name, _nothing)
    _ping_when_idle(engine)
    return engine


def _nothing(_dbapi_conn: Any) -> None:
    return None


# A connection back in the pool for longer than this is pinged before it is used again.
PING_AFTER_IDLE = 1.0  # seconds
_CHECKED_IN = "magnum.checked_in"


def _ping_when_idle(engine: sa.Engine) -> None:
    """Pre-ping, where it can find something: a connection that sat in the pool for more
    than PING_AFTER_IDLE seconds is pinged at checkout, and replaced by a new one (the pool
    retries) when the server dropped it (a restart, an idle timeout). One in steady use is
    not: its last statement, under a second ago, was the ping. Should the server go away
    between two such statements, the next one fails with a disconnect, which invalidates
    the whole pool (every older connection is replaced at its checkout) and answers 503,
    as any statement cut short by an outage does. Pinging every checkout cost every
    request a round trip."""

    def checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_CHECKED_IN, None)
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE:
            return  # a new connection, or one in steady use
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if not engine.dialect.is_disconnect(exc, dbapi_conn, None):
                raise
            alive = False
        if not alive:
            raise sa.exc.DisconnectionError("the server closed the connection")

    sa.event.listen(engine, "checkin", checked_in)
    sa.event.listen(engine, "checkout", checkout)


def _unbounded_reads(dbapi_conn: Any, _record: Any) -> None:
    """Connected: statements may read for as long as they take (a lock wait), as before."""
    dbapi_conn._read_timeout = None  # PyMySQL applies it at its next read


class Database:
    """One engine and session factory per process; handed to whoever needs the database.
    Read-only requests may take a `reader()` instead of a `session()`: a second pool, of
    autocommit connections."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 20,
        connect_timeout: int = CONNECT_TIMEOUT,
    ) -> None:
        self.url = url
        self.engine = create_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, connect_timeout=connect_timeout
        )
        self._sessions = orm.sessionmaker(self.engine, expire_on_commit=False)
        # An engine opens no connection until one is asked for: a process that never
        # reads through reader() (a conductor) holds none of the second pool.
        self._reader_engine: sa.Engine | None = None
        if self.engine.dialect.name != "sqlite":  # SQLite has no round trips to save
            self._reader_engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_timeout=connect_timeout,
                autocommit=True,
            )
        self._reads = orm.sessionmaker(self._reader_engine or self.engine, autoflush=False)
        sa.event.listen(self._reads, "before_flush", _refuse_writes)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def engines(self) -> tuple[sa.Engine, ...]:
        """Every engine this database connects through: the writer's, then the reader's
        (where it has its own), for listeners that must see every statement."""
        if self._reader_engine is None:
            return (self.engine,)
        return (self.engine, self._reader_engine)

    @contextlib.contextmanager
    def session(self) -> Iterator[orm.Session]:
        """A transaction: committed on success, rolled back on any exception. A database
        that cannot be reached (down, restarting, a dropped connection, no free connection
        in the pool) raises DatabaseUnavailable, with the driver's error as its cause."""
        with _guarded(), self._sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def reader(self) -> Iterator[orm.Session]:
        """A session that only reads: each statement is a transaction of its own, so a
        request costs its SELECTs and no BEGIN or COMMIT round trip. Each statement sees
        what was committed when it began; so does each of a session's under PostgreSQL's
        READ COMMITTED, and a reader on MariaDB loses only REPEATABLE READ's snapshot
        across statements. It cannot write: a flush raises ReaderWrite (each statement
        would commit at once, with nothing to roll back). Failures map as in session().
        On SQLite a reader is a session that cannot write."""
        with _guarded(), self._reads() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._reader_engine is not None:
            self._reader_engine.dispose()


class ReaderWrite(RuntimeError):
    """Code holding a Database.reader() tried to write: a bug, not a request's fault."""


def _refuse_writes(session: orm.Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReaderWrite("a reader session does not write; use Database.session()")


@contextlib.contextmanager
def _guarded() -> Iterator[None]:
    try:
        yield
    except sa.exc.TimeoutError as exc:  # the pool's: every connection is checked out
        raise _unavailable(exc, "no connection to it became free in time") from exc
    except sa.exc.DisconnectionError as exc:
        raise _unavailable(exc, _LOST) from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = _LOST if exc.connection_invalidated else "it does not accept the request"
        raise _unavailable(exc, reason) from exc


def _unavailable(exc: Exception, reason: str) -> DatabaseUnavailable:
    # The driver's message names hosts and ports: the log gets it, the API user does not.
    LOG.warning("database unavailable (%s): %s", reason, (str(exc).splitlines() or [""])[0])
    return DatabaseUnavailable(reason=reason)
