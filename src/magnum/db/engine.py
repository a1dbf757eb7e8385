# SPDX-License-Identifier: Apache-2.0
"""Engine and session factory for the three supported backends, and the one place that
turns a database that cannot be reached into DatabaseUnavailable."""

from __future__ import annotations

import contextlib
import logging
import pathlib
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
) -> sa.Engine:
    parsed = sa.make_url(url)
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
    mysql = parsed.get_backend_name() != "postgresql"
    if mysql:  # PyMySQL's connect_timeout bounds the TCP connect, not the server's greeting
        connect_args["read_timeout"] = connect_timeout
    # pre-ping: a connection the server dropped (a restart) is replaced at checkout, and
    # a disconnect seen mid-statement invalidates the whole pool; nothing needs a restart.
    engine = sa.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args=connect_args,
    )
    if mysql:
        sa.event.listen(engine, "connect", _unbounded_reads)
    return engine


def _unbounded_reads(dbapi_conn: Any, _record: Any) -> None:
    """Connected: statements may read for as long as they take (a lock wait), as before."""
    dbapi_conn._read_timeout = None  # PyMySQL applies it at its next read


class Database:
    """One engine and session factory per process; handed to whoever needs the database."""

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

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[orm.Session]:
        """A transaction: committed on success, rolled back on any exception. A database
        that cannot be reached (down, restarting, a dropped connection, no free connection
        in the pool) raises DatabaseUnavailable, with the driver's error as its cause."""
        try:
            with self._sessions.begin() as session:
                yield session
        except sa.exc.TimeoutError as exc:  # the pool's: every connection is checked out
            raise _unavailable(exc, "no connection to it became free in time") from exc
        except sa.exc.DisconnectionError as exc:
            raise _unavailable(exc, _LOST) from exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            reason = _LOST if exc.connection_invalidated else "it does not accept the request"
            raise _unavailable(exc, reason) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def _unavailable(exc: Exception, reason: str) -> DatabaseUnavailable:
    # The driver's message names hosts and ports: the log gets it, the API user does not.
    LOG.warning("database unavailable (%s): %s", reason, (str(exc).splitlines() or [""])[0])
    return DatabaseUnavailable(reason=reason)
