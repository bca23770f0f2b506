"""One engine per process: a forked worker must never reuse its parent's connections.
Reads go through the engine's autocommit twin (``reader_for``), its pool as per-process."""

from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import text

from strikeflow.db import engine as engines
from strikeflow.db.engine import dispose_all, engine_for, reader_for


def _child_engine_is_its_own(args) -> bool:
    url, parent_pid = args
    inherited = engines._ENGINES[(parent_pid, url)]
    inherited_reader = engines._READERS[inherited]
    mine = engine_for(url)
    with mine.connect() as conn:
        conn.execute(text("SELECT 1"))
    reader = reader_for(mine)
    with reader.connect() as conn:
        conn.execute(text("SELECT 1"))
    return (
        mine is not inherited
        and (parent_pid, url) not in engines._ENGINES
        and reader is not inherited_reader
        and inherited not in engines._READERS
    )


def test_the_same_process_shares_one_engine_and_a_fork_builds_its_own(db_url):
    parent = engine_for(db_url)
    assert engine_for(db_url) is parent
    assert reader_for(parent) is reader_for(parent) is not parent
    with parent.connect() as conn:
        conn.execute(text("SELECT 1"))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_child_engine_is_its_own, [(db_url, os.getpid())] * 2)
    assert results == [True, True]
    with parent.connect() as conn:  # the parent's pool still works after the children
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def _two_clocks(engine) -> tuple[object, object]:
    """now() (the transaction's start) read by two statements on one connection."""
    with engine.connect() as conn:
        first = conn.execute(text("SELECT now()")).scalar_one()
        second = conn.execute(text("SELECT now()")).scalar_one()
    return first, second


def test_reads_run_each_statement_on_its_own_and_writes_in_one_transaction(postgres_url):
    writer = engine_for(postgres_url)
    first, second = _two_clocks(writer)
    assert first == second  # one transaction: BEGIN, both statements, ROLLBACK
    first, second = _two_clocks(reader_for(writer))
    assert first < second  # autocommit: each statement its own transaction


def test_dispose_all_closes_the_readers_too(postgres_url):
    reader = reader_for(engine_for(postgres_url))
    with reader.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert reader.pool.checkedin() == 1
    dispose_all()
    assert reader.pool.checkedin() == 0
    assert reader_for(engine_for(postgres_url)) is not reader
