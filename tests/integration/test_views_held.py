"""What is held, by fills (migration 0005), on PostgreSQL and SQLite: the views, the risk
exposure and the recommendation's correction by the venue's final word.

The book (today, by the database's UTC date; every entry expires in a week):
  P1  5537 contracts ordered, 2768 filled, then expired at the close: 2768 held
  U1  5 ordered, nothing filled, canceled: nothing held
  F1  2 ordered, 2 filled: 2 held, then 1 of them closed by X1 (partly filled exit): 1 held
  W1  3 ordered, accepted, nothing filled yet: listed nowhere as held, counted by risk
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from strikeflow.db.dispatch_store import SqlDispatchStore
from strikeflow.db.engine import engine_for
from strikeflow.db.reports import ReportQueries
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.final_word import CANCEL_KEY, FinalWord
from tests.integration.record_factories import option_execution, recommendation

EXECUTED, UNFILLED = RecommendationStatus.EXECUTED, RecommendationStatus.UNFILLED
UTC_TODAY = {
    "postgresql": "CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "date('now')",
}


@pytest.fixture
def today(db_url) -> date:
    engine = engine_for(db_url)
    with engine.connect() as conn:
        value = conn.execute(text(f"SELECT {UTC_TODAY[engine.dialect.name]}")).scalar_one()
    return value if isinstance(value, date) else date.fromisoformat(value)


def entry(cid, ordered, filled, status, today, price="2.00", **overrides):
    noon = datetime.combine(today, time(15, 0), tzinfo=UTC)
    expires = today + timedelta(days=7)
    return option_execution(
        cid,
        contracts=ordered,
        quantity=Decimal(ordered),
        filled_qty=None if filled is None else Decimal(filled),
        filled_avg_price=Decimal(price) if filled else None,
        premium_paid=Decimal(price),
        status=status,
        expiration_date=expires,
        option_symbol=f"AAPL{expires:%y%m%d}C00230000",
        created_at=noon,
        updated_at=noon,
        submitted_at=noon,
        **overrides,
    )


@pytest.fixture
def book(db_url, today):
    store = SqlDispatchStore(engine_for(db_url))
    store.recommendations.insert(recommendation())
    add = lambda e: store.executions.insert(e)[0]  # noqa: E731
    rows = {
        "P1": add(entry("P1", 5537, 2768, ExecutionStatus.CANCELED, today)),
        "U1": add(entry("U1", 5, 0, ExecutionStatus.CANCELED, today)),
        "F1": add(entry("F1", 2, 2, ExecutionStatus.FILLED, today, price="1.50")),
        "W1": add(entry("W1", 3, None, ExecutionStatus.ACCEPTED, today)),
    }
    rows["X1"] = add(
        entry(
            "X1",
            2,
            1,
            ExecutionStatus.CANCELED,
            today,
            action=Action.SELL,
            position_effect=PositionEffect.CLOSE,
            closes_execution_id=rows["F1"].id,
            realized_pnl=Decimal("25.00"),
        )
    )
    return store, rows


def test_active_positions_hold_what_filled_whatever_the_orders_status(db_url, book):
    _store, rows = book
    queries = ReportQueries(engine_for(db_url))
    held = {r["execution_id"]: r["contracts"] for r in queries.view("active_options_positions")}
    assert held == {rows["P1"].id: 2768, rows["F1"].id: 1}


def test_positions_as_of_a_day_hold_the_same(db_url, book, today):
    queries = ReportQueries(engine_for(db_url))
    assert queries.view("active_options_positions", as_of=today) == queries.view(
        "active_options_positions"
    )


def test_the_daily_summary_counts_premium_and_fills_by_filled_quantity(db_url, book, today):
    queries = ReportQueries(engine_for(db_url))
    [row] = queries.view("daily_options_summary")
    assert row["trading_day"] == today
    assert row["executions"] == 5
    assert row["contracts"] == 5537 + 5 + 2 + 3 + 2
    # 2768 × 2.00 × 100 + 2 × 1.50 × 100 (OPEN rows only; the exit's fill is not spent)
    assert row["premium_spent"] == Decimal(2768 * 200 + 300)
    assert (row["fills"], row["rejections"]) == (3, 0)  # P1, F1 and X1 filled something


def test_a_partly_filled_close_is_a_trade_of_the_performance_view(db_url, book):
    queries = ReportQueries(engine_for(db_url))
    [row] = queries.view("options_performance_by_strategy")
    assert (row["trades"], row["wins"], row["total_realized_pnl"]) == (1, 1, Decimal("25"))


def test_the_risk_exposure_counts_what_filled_and_what_may_still_fill(book, today):
    store, _rows = book
    now = datetime.combine(today, time(16, 0), tzinfo=UTC)
    exposure, _loss = store.risk_state(now)
    # P1 (its fill), F1 (the 1 of its 2 that X1 did not close), W1 (open, no estimate)
    assert exposure.positions == 3
    assert (
        exposure.of("AAPL") == Decimal(2768) * Decimal(2) * 100 + Decimal(1) * Decimal("1.50") * 100
    )


def test_the_final_word_corrects_executed_to_unfilled_once(db_url):
    store = SqlDispatchStore(engine_for(db_url))
    store.recommendations.insert(recommendation("r-1", status=EXECUTED))
    word = FinalWord(UNFILLED, "order expired at the close with 0 of 5 filled")
    assert store.settle_recommendation("r-1", word)
    rec = store.get_recommendation("r-1")
    assert (rec.status, rec.status_reason) == (UNFILLED, word.reason)
    assert not store.settle_recommendation("r-1", word)  # heard twice: nothing changes
    assert not store.set_status("r-1", EXECUTED, "late duplicate")  # terminal again
    assert store.get_recommendation("r-1").status is UNFILLED


def test_a_partial_fill_keeps_executed_and_adds_the_reason(db_url):
    store = SqlDispatchStore(engine_for(db_url))
    store.recommendations.insert(
        recommendation("r-2", status=RecommendationStatus.FELL_BACK, status_reason="no contract")
    )
    store.recommendations.insert(
        recommendation("r-3", status=RecommendationStatus.REJECTED, status_reason="risk")
    )
    word = FinalWord(EXECUTED, "3 of 5 filled; the rest expired")
    assert store.settle_recommendation("r-2", word)
    rec = store.get_recommendation("r-2")
    assert (rec.status, rec.status_reason) == (
        RecommendationStatus.FELL_BACK,
        "no contract; 3 of 5 filled; the rest expired",
    )
    assert not store.settle_recommendation("r-3", FinalWord(UNFILLED, "x"))
    assert store.get_recommendation("r-3").status is RecommendationStatus.REJECTED
    assert not store.settle_recommendation("missing", word)


def test_a_cancel_note_keeps_the_first_cause(db_url, today):
    store = SqlDispatchStore(engine_for(db_url))
    store.recommendations.insert(recommendation())
    row = store.executions.insert(entry("W2", 3, None, ExecutionStatus.ACCEPTED, today))[0]
    at = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert store.note_cancel("W2", "after resting 5 min 00 s", at)
    assert not store.note_cancel("W2", "after resting 6 min 00 s", at + timedelta(minutes=1))
    explain = store.execution_by_client_order_id("W2").explain_json
    assert explain[CANCEL_KEY] == {
        "cause": "after resting 5 min 00 s",
        "requested_at": at.isoformat(),
    }
    assert {k: v for k, v in explain.items() if k != CANCEL_KEY} == row.explain_json
    recorded = store.record_fill("W2", ExecutionStatus.CANCELED, filled_qty=Decimal(0))
    assert recorded.explain_json[CANCEL_KEY]["cause"] == "after resting 5 min 00 s"
    with pytest.raises(InvalidRecord, match="client_order_id"):
        store.note_cancel("nope", "after resting 5 min 00 s", at)
