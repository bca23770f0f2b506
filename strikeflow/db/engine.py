"""One engine per process and database URL, built on first use, never at import.

A forked worker must not reuse its parent's connections, so engines are keyed by pid.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event

_ENGINES: dict[tuple[int, str], Engine] = {}


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


def _forget_inherited(pid: int) -> None:
    """Drop engines a fork inherited, without closing the parent's sockets under it."""
    for key in [k for k in _ENGINES if k[0] != pid]:
        _ENGINES.pop(key).dispose(close=False)


def dispose_all() -> None:
    """Close this process's pools (tests; worker shutdown)."""
    for (pid, url), engine in list(_ENGINES.items()):
        if pid == os.getpid():
            engine.dispose()
            del _ENGINES[(pid, url)]


def _sqlite_pragmas(connection: sqlite3.Connection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()
