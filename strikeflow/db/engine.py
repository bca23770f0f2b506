"""One engine per process and database URL, built on first use, never at import.

A forked worker must not reuse its parent's connections, so engines are keyed by pid.
Each engine has a twin for reads (``reader_for``) with a pool of its own.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event

_ENGINES: dict[tuple[int, str], Engine] = {}
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def make_engine(url: str, **options: Any) -> Engine:
    """A new engine: pool_pre_ping everywhere; SQLite with foreign keys and a busy wait."""
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    engine = create_engine(url, pool_pre_ping=True, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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
