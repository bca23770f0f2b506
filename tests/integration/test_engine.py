"""One engine per process: a forked worker must never reuse its parent's connections."""

from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import text

from strikeflow.db import engine as engines
from strikeflow.db.engine import engine_for


def _child_engine_is_its_own(args) -> bool:
    url, parent_pid = args
    inherited = engines._ENGINES[(parent_pid, url)]
    mine = engine_for(url)
    with mine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return mine is not inherited and (parent_pid, url) not in engines._ENGINES


def test_the_same_process_shares_one_engine_and_a_fork_builds_its_own(db_url):
    parent = engine_for(db_url)
    assert engine_for(db_url) is parent
    with parent.connect() as conn:
        conn.execute(text("SELECT 1"))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_child_engine_is_its_own, [(db_url, os.getpid())] * 2)
    assert results == [True, True]
    with parent.connect() as conn:  # the parent's pool still works after the children
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
