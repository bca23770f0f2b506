"""One engine per process and database URL, built on first use, never at import.

A forked worker must not reuse its parent's connections, so engines are keyed by pid.
Each engine has a twin for reads (``reader_for``) with a pool of its own.

A pooled connection is pinged before use only when it sat idle for a while
(``PING_IDLE_AFTER_S``): that is when a restart, an idle timeout or a dropped socket can
have closed it unseen. One back from use a moment ago goes out unpinged, which halves a
busy worker's round trips to the database; if the server went away in that moment, the
statement fails as a disconnect, SQLAlchemy invalidates the pool, and the caller's retry
(StoreUnavailable, retried by every task) gets a fresh connection.
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError

_ENGINES: dict[tuple[int, str], Engine] = {}
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()

PING_IDLE_AFTER_S = 1.0
_IDLE_SINCE = "strikeflow_idle_since"


def make_engine(url: str, ping_idle_after_s: float = PING_IDLE_AFTER_S, **options: Any) -> Engine:
    """A new engine whose pool pings connections idle longer than ``ping_idle_after_s``
    (0: every checkout, as ``pool_pre_ping``); SQLite with foreign keys and a busy wait."""
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    engine = create_engine(url, **options)
    _ping_when_idle(engine, ping_idle_after_s)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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
    cursor.close()
