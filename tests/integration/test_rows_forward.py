"""Rows only move forward, on real PostgreSQL and SQLite (every test runs on both).

An execution's status follows its order's life and its filled_qty never decreases
(``ExecutionRepository.record_fill`` compares and sets in its UPDATE); a recommendation
never leaves a final state but by the venue's one correction (``set_status``,
``settle``). The stale writer of these tests is the worker that was stopped while it
held the venue's ``accepted`` reply and resumed after another stored ``filled``.
"""

from __future__ import annotations

import random
import threading
from decimal import Decimal

import pytest
from sqlalchemy import text, update

from strikeflow.db.dispatch_store import SqlDispatchStore
from strikeflow.db.engine import engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.db.tables import recommendations
from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.final_word import FinalWord
from strikeflow.domain.lifecycle import EXECUTION_RANK, recommendation_may_become
from tests.integration.record_factories import option_execution, recommendation, stock_execution

E = ExecutionStatus
R = RecommendationStatus
ZERO = Decimal(0)


@pytest.fixture
def recs(db_url) -> RecommendationRepository:
    return RecommendationRepository(engine_for(db_url))


@pytest.fixture
def execs(db_url, recs) -> ExecutionRepository:
    recs.insert(recommendation())
    return ExecutionRepository(engine_for(db_url))


def accepted(make=stock_execution, **overrides):
    """An order the venue has accepted, nothing filled yet."""
    values = {"status": E.ACCEPTED, "filled_qty": ZERO, "filled_avg_price": None}
    return make(notional=None, filled_at=None, **{**values, **overrides})


def test_a_stale_accepted_after_filled_changes_nothing(execs):
    execs.insert(accepted())
    filled = execs.record_fill("sf-stock-1", E.FILLED, Decimal(12), Decimal("229.14"))
    assert (filled.status, filled.filled_qty) == (E.FILLED, Decimal(12))

    stale = execs.record_fill("sf-stock-1", E.ACCEPTED, ZERO, broker_order_id="stale-copy")
    assert stale == filled  # the stored row, unchanged
    assert execs.by_client_order_id("sf-stock-1") == filled


def test_filled_qty_never_decreases(execs):
    execs.insert(accepted())
    steps = [
        (E.PARTIALLY_FILLED, Decimal(5), (E.PARTIALLY_FILLED, Decimal(5))),
        (E.PARTIALLY_FILLED, Decimal(3), (E.PARTIALLY_FILLED, Decimal(5))),  # stale
        (E.PARTIALLY_FILLED, Decimal(7), (E.PARTIALLY_FILLED, Decimal(7))),
        (E.CANCELED, ZERO, (E.PARTIALLY_FILLED, Decimal(7))),  # final, but fewer fills
        (E.ACCEPTED, Decimal(9), (E.PARTIALLY_FILLED, Decimal(7))),  # more fills, earlier state
        (E.CANCELED, Decimal(7), (E.CANCELED, Decimal(7))),  # the rest canceled
        (E.FILLED, Decimal(12), (E.CANCELED, Decimal(7))),  # a final state is never left
    ]
    for status, qty, expected in steps:
        stored = execs.record_fill("sf-stock-1", status, qty, Decimal("229.14"))
        assert (stored.status, stored.filled_qty) == expected, (status, qty)
        row = execs.by_client_order_id("sf-stock-1")
        assert (row.status, row.filled_qty) == expected


def test_a_report_without_a_fill_figure_moves_the_status_and_keeps_the_fills(execs):
    execs.insert(accepted(filled_qty=Decimal(2)))
    stored = execs.record_fill("sf-stock-1", E.PARTIALLY_FILLED)
    assert (stored.status, stored.filled_qty) == (E.PARTIALLY_FILLED, Decimal(2))
    with pytest.raises(InvalidRecord, match="no execution"):
        execs.record_fill("sf-nope", E.FILLED, Decimal(1))


def test_the_store_keeps_the_premium_of_what_filled_when_a_report_is_stale(db_url, execs):
    store = SqlDispatchStore(engine_for(db_url))
    execs.insert(accepted(option_execution, premium_paid=Decimal("2.10")))
    filled = store.record_fill("sf-call-1", E.FILLED, Decimal(3), Decimal("2.2512"))
    assert filled.premium_paid == Decimal("2.25")
    stale = store.record_fill("sf-call-1", E.PARTIALLY_FILLED, Decimal(1), Decimal("1.90"))
    assert stale == filled


def test_concurrent_writers_end_at_the_most_advanced_state(execs):
    """Eight threads each write the order's whole life in a shuffled order (seeded), all
    at once: whatever interleaving the database chose, the row ends filled with every
    fill, and no writer ever saw it go back."""
    execs.insert(accepted())
    life = [
        (E.SUBMITTED, ZERO),
        (E.ACCEPTED, ZERO),
        *((E.PARTIALLY_FILLED, Decimal(n)) for n in range(1, 12)),
        (E.FILLED, Decimal(12)),
    ]
    start = threading.Barrier(8)
    seen: list[list[tuple[int, Decimal]]] = [[] for _ in range(8)]
    failures: list[BaseException] = []

    def write(n: int) -> None:
        reports = list(life)
        random.Random(n).shuffle(reports)
        try:
            start.wait()
            for status, qty in reports:
                row = execs.record_fill("sf-stock-1", status, qty, Decimal("229.14"))
                seen[n].append((EXECUTION_RANK[row.status], row.filled_qty or ZERO))
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    row = execs.by_client_order_id("sf-stock-1")
    assert (row.status, row.filled_qty) == (E.FILLED, Decimal(12))
    for states in seen:  # each writer's reads never went back
        assert states == sorted(states)


def set_stored(db_url, status: RecommendationStatus) -> None:
    """Put the recommendation in ``status`` directly, whatever the rules say."""
    with engine_for(db_url).begin() as conn:
        conn.execute(
            update(recommendations)
            .where(recommendations.c.id == "rec-aapl-1")
            .values(status=status.value, status_reason="as stored")
        )


@pytest.mark.parametrize("stored", list(R))
def test_set_status_follows_the_lifecycle_from_every_state(db_url, recs, stored):
    recs.insert(recommendation())
    for new in R:
        set_stored(db_url, stored)
        changed = recs.set_status("rec-aapl-1", new, "by set_status")
        allowed = recommendation_may_become(stored, new) and not stored.terminal
        assert changed is allowed, (stored, new)
        assert recs.get("rec-aapl-1").status is (new if allowed else stored)


@pytest.mark.parametrize("stored", list(R))
def test_settle_makes_the_one_correction_and_nothing_less_final(db_url, recs, stored):
    recs.insert(recommendation())
    words = {
        R.UNFILLED: FinalWord(R.UNFILLED, "order expired at the close with 0 of 5 filled"),
        R.EXECUTED: FinalWord(R.EXECUTED, "3 of 5 filled; the rest expired"),
    }
    for status, word in words.items():
        set_stored(db_url, stored)
        recs.settle("rec-aapl-1", word)
        after = recs.get("rec-aapl-1").status
        # in flight: the word's state; executed/fell_back → unfilled: the one correction
        if not stored.terminal or recommendation_may_become(stored, status):
            assert after is status
        else:
            assert after is stored, (stored, status)


def test_dispatched_never_goes_back_to_pending(db_url, recs):
    recs.insert(recommendation())
    assert recs.set_status("rec-aapl-1", R.DISPATCHED)
    assert recs.set_status("rec-aapl-1", R.DISPATCHED)  # a re-driven chain marks it again
    assert not recs.set_status("rec-aapl-1", R.PENDING)
    with engine_for(db_url).connect() as conn:
        stored = conn.execute(text("SELECT status FROM recommendations")).scalar_one()
    assert stored == "dispatched"
