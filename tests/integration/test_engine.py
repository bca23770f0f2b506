"""One engine per process: a forked worker must never reuse its parent's connections.
Reads go through the engine's autocommit twin (``reader_for``), its pool as per-process.
Only a connection idle for a while is pinged before use."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from strikeflow.db import engine as engines
from strikeflow.db.engine import dispose_all, engine_for, make_engine, reader_for
from tests.integration.conftest import terminate_backend_of


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
    # each task in a fresh fork: a child that ran one already dropped what it inherited
    with ctx.Pool(2, maxtasksperchild=1) as pool:
        results = pool.map(_child_engine_is_its_own, [(db_url, os.getpid())] * 2, chunksize=1)
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


def _counting_pings(engine) -> list[object]:
    """Every ping the engine's dialect makes, recorded (the dialect's own do_ping runs)."""
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted
    return pings


def test_a_connection_in_use_a_moment_ago_is_not_pinged(postgres_url):
    engine = make_engine(postgres_url, ping_idle_after_s=60)
    pings = _counting_pings(engine)
    try:
        for _ in range(5):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert pings == []  # fresh, then back within the minute: five statements, no ping
    finally:
        engine.dispose()


def test_an_idle_connection_is_pinged_and_replaced_when_its_server_is_gone(postgres_url):
    engine = make_engine(postgres_url, ping_idle_after_s=0)  # every checkout counts as idle
    pings = _counting_pings(engine)
    try:
        terminate_backend_of(engine)
        with engine.connect() as conn:  # the ping finds it dead; the pool reconnects
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert len(pings) >= 2  # the statement for the pid, then the failed one
        assert engine.pool.checkedin() == 1
    finally:
        engine.dispose()


def test_a_busy_connection_whose_server_went_away_fails_once_then_reconnects(postgres_url):
    engine = make_engine(postgres_url, ping_idle_after_s=60)
    try:
        terminate_backend_of(engine)
        # unpinged: the statement meets the closed socket
        with pytest.raises(OperationalError) as lost, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert lost.value.connection_invalidated
        with engine.connect() as conn:  # the pool was invalidated: a new connection
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
