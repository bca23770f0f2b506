"""One engine per process and database URL, built on first use, never at import.

A forked worker must not reuse its parent's connections, so engines are keyed by pid.
Each engine has a twin for reads (``reader_for``) with a pool of its own.

A pooled connection is pinged before use only when it sat idle for a while
(``PING_IDLE_AFTER_S``): that is when a restart, an idle timeout or a dropped socket can
have closed it unseen. One back from use a moment ago goes out unpinged, which halves a
busy worker's round trips to the database; if the server went away in that moment, the
statement fails as a disconnect, SQLAlchemy invalidates the pool, and the caller's retry
(StoreUnavailable, retried by every task) gets a fresh connection.

Setup failures come out typed, so the command line can say what to do: a URL that is
not PostgreSQL or SQLite, or whose driver is missing, is UnsupportedDatabase; a missing
table or column (a database never migrated, or behind) is SchemaMissing; and inside
``sqlite_files(create=False)`` a SQLite file that does not exist is DatabaseMissing
instead of a new empty file.
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError

from strikeflow.domain.errors import DatabaseMissing, SchemaMissing, UnsupportedDatabase

_ENGINES: dict[tuple[int, str], Engine] = {}
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()

PING_IDLE_AFTER_S = 1.0
_IDLE_SINCE = "strikeflow_idle_since"
SUPPORTED = ("postgresql", "sqlite")
# An execution option for a connection that changes the schema (the migrations): its
# missing tables are the migration's own business, not a database to be migrated.
SCHEMA_CHANGES = "strikeflow_schema_changes"
_PG_UNDEFINED = ("42P01", "42703")  # undefined_table, undefined_column
# SQLite reports these with its generic SQLITE_ERROR code: only the message tells them.
_SQLITE_UNDEFINED = ("no such table", "no such column", "has no column named")
_MAY_CREATE_SQLITE: ContextVar[bool] = ContextVar("strikeflow_may_create_sqlite", default=True)


def make_engine(url: str, ping_idle_after_s: float = PING_IDLE_AFTER_S, **options: Any) -> Engine:
    """A new engine whose pool pings connections idle longer than ``ping_idle_after_s``
    (0: every checkout, as ``pool_pre_ping``); SQLite with foreign keys and a busy wait.
    Raises UnsupportedDatabase or DatabaseMissing; its statements raise SchemaMissing."""
    parsed = supported_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        options.setdefault("connect_args", {"timeout": 30})
        path = sqlite_file(parsed)
        if path is not None and not _MAY_CREATE_SQLITE.get() and not path.exists():
            raise DatabaseMissing(shown)
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ImportError) as missing:
        raise UnsupportedDatabase(shown, f"driver not available ({missing})") from None
    _ping_when_idle(engine, ping_idle_after_s)
    event.listen(engine, "handle_error", _schema_missing_as(shown))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def supported_url(url: str | URL) -> URL:
    """``url`` parsed, if it names PostgreSQL or SQLite (else UnsupportedDatabase, which
    never repeats an unparsable URL: it may hold a password SQLAlchemy could not mask)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabase(
            None, "not a database URL (e.g. postgresql+psycopg2://user@host/db, sqlite:///f.db)"
        ) from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise UnsupportedDatabase(
            parsed.render_as_string(hide_password=True),
            f"{parsed.get_backend_name()} is not supported: PostgreSQL or SQLite only",
        )
    return parsed


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names (relative to the working directory, as sqlite3 takes
    it); None for another database, an in-memory one, or a ``file:`` URI."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database)


@contextmanager
def sqlite_files(create: bool) -> Iterator[None]:
    """Whether an engine made in this block (this thread or task) may create the SQLite
    file its URL names, as sqlite3 does on connect (the default: migrations, tests), or
    raises DatabaseMissing for a file that does not exist (the commands that only use a
    database: an empty new file there would fail on its first table, and stay behind)."""
    token = _MAY_CREATE_SQLITE.set(create)
    try:
        yield
    finally:
        _MAY_CREATE_SQLITE.reset(token)


def _schema_missing_as(shown: str):
    """A ``handle_error`` hook: a statement that fails because a table or column does not
    exist raises SchemaMissing (unless its connection is changing the schema)."""

    def translate(context: ExceptionContext) -> None:
        connection = context.connection
        if connection is not None and connection.get_execution_options().get(SCHEMA_CHANGES):
            return
        error = context.original_exception
        lines = str(error).strip().splitlines()
        first = lines[0] if lines else ""
        code = getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)
        if code in _PG_UNDEFINED or (
            context.dialect.name == "sqlite" and any(m in first for m in _SQLITE_UNDEFINED)
        ):
            raise SchemaMissing(shown, first)

    return translate


def _ping_when_idle(engine: Engine, idle_after_s: float) -> None:
    """SQLAlchemy's pessimistic disconnect handling, skipped for a connection that was in
    use less than ``idle_after_s`` ago. A failed ping that is a disconnect raises
    DisconnectionError, on which the pool replaces the connection and checks out again."""
    dialect = engine.dialect

    def stamp(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < idle_after_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError(f"ping failed: {error}") from error
            raise

    event.listen(engine, "connect", stamp)
    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", ping_if_idle)


def engine_for(url: str) -> Engine:
    """This process's engine for ``url``."""
    pid = os.getpid()
    key = (pid, url)
    if key not in _ENGINES:
        _forget_inherited(pid)
        _ENGINES[key] = make_engine(url)
    return _ENGINES[key]


def reader_for(engine: Engine) -> Engine:
    """``engine``'s twin for reads: the same database, a pool of its own, every statement
    in autocommit. A read then costs one round trip instead of three (BEGIN before it,
    ROLLBACK when the connection goes back to the pool): half its time on PostgreSQL.
    Each statement still sees only committed rows; a read of several statements gets a
    snapshot per statement, which no reader here relies on. Writes keep ``engine``."""
    reader = _READERS.get(engine)
    if reader is None:
        url = engine.url.render_as_string(hide_password=False)
        reader = _READERS[engine] = make_engine(url, isolation_level="AUTOCOMMIT")
    return reader


def _forget_inherited(pid: int) -> None:
    """Drop engines a fork inherited, without closing the parent's sockets under it."""
    for key in [k for k in _ENGINES if k[0] != pid]:
        _dispose(_ENGINES.pop(key), close=False)


def dispose_all() -> None:
    """Close this process's pools (tests; worker shutdown)."""
    for (pid, url), engine in list(_ENGINES.items()):
        if pid == os.getpid():
            _dispose(engine)
            del _ENGINES[(pid, url)]


def _dispose(engine: Engine, close: bool = True) -> None:
    reader = _READERS.pop(engine, None)
    for each in (engine, reader):
        if each is not None:
            each.dispose(close=close)


def _sqlite_pragmas(connection: sqlite3.Connection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    # SQLite's advice for WAL: a commit no longer waits on the disk, the file cannot be
    # corrupted, and a power cut may lose the last commits. SQLite is the embedded
    # default (the demo, a backtest, one process trying things); a fleet that trades
    # keeps its record in PostgreSQL.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()
