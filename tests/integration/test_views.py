"""The three views against a small book of trades whose answers were worked out by hand.

The book, over two New York trading days (yesterday and today, 15:00 UTC = 10:00 ET):
  yesterday  E2 PUT  swing  1 @ 3.00 filled, closed today by C2 for +120.00
             E3 CALL day    3 @ 0.80 filled, expired yesterday, never closed
             E4 CALL day    1 @ 2.00 filled, closed today by C4 for -200.00
  today      E1 CALL day    2 @ 1.50 filled, expires tomorrow: the one open position
             E5 CALL swing  2 @ 4.00 filled, closed today by C5 for +300.00
             E6 PUT  day    5 @ 1.00 rejected
             S1 STOCK       10 shares, in none of the options views

"Today" is the database's UTC date, read when each test writes its book (the views judge
by that clock), so a run that crosses midnight UTC still sees one day throughout.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from strikeflow.db.engine import engine_for
from strikeflow.db.reports import ReportQueries
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    StrategyType,
)
from strikeflow.domain.errors import InvalidRecord
from tests.integration.record_factories import option_execution, recommendation, stock_execution

DAY, SWING = StrategyType.DAY_TRADE, StrategyType.SWING_TRADE
CALL, PUT = InstrumentType.CALL, InstrumentType.PUT


def at(day: date) -> datetime:
    return datetime.combine(day, time(15, 0), tzinfo=UTC)


def entry(cid, kind, strategy, contracts, premium, expires, day, status=ExecutionStatus.FILLED):
    return option_execution(
        cid,
        instrument_type=kind,
        strategy_type=strategy,
        contracts=contracts,
        quantity=Decimal(contracts),
        filled_qty=Decimal(contracts) if status is ExecutionStatus.FILLED else None,
        premium_paid=Decimal(premium),
        filled_avg_price=Decimal(premium),
        expiration_date=expires,
        option_symbol=f"AAPL{expires:%y%m%d}{kind.value[0]}00230000",
        status=status,
        created_at=at(day),
        updated_at=at(day),
        submitted_at=at(day),
        filled_at=at(day) if status is ExecutionStatus.FILLED else None,
    )


def close(cid, opened, pnl, day):
    return option_execution(
        cid,
        instrument_type=opened.instrument_type,
        strategy_type=None,  # the view takes the strategy from the entry it closes
        action=Action.SELL,
        position_effect=PositionEffect.CLOSE,
        closes_execution_id=opened.id,
        contracts=opened.contracts,
        quantity=Decimal(opened.contracts),
        filled_qty=Decimal(opened.contracts),
        premium_paid=Decimal("1.00"),
        expiration_date=opened.expiration_date,
        option_symbol=opened.option_symbol,
        realized_pnl=Decimal(pnl),
        created_at=at(day),
        updated_at=at(day),
    )


# The UTC date, as the views compute it (migration 0002).
UTC_TODAY = {
    "postgresql": "CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS DATE)",
    "sqlite": "date('now')",
}


@pytest.fixture
def today(db_url) -> date:
    """The database's UTC date now, the day the views judge by."""
    engine = engine_for(db_url)
    with engine.connect() as conn:
        value = conn.execute(text(f"SELECT {UTC_TODAY[engine.dialect.name]}")).scalar_one()
    return value if isinstance(value, date) else date.fromisoformat(value)


@pytest.fixture
def reports(db_url, today):
    yesterday = today - timedelta(days=1)
    engine = engine_for(db_url)
    RecommendationRepository(engine).insert(recommendation())
    book = ExecutionRepository(engine)

    def add(execution):
        return book.insert(execution)[0]

    e1 = add(entry("E1", CALL, DAY, 2, "1.50", today + timedelta(days=1), today))
    e2 = add(entry("E2", PUT, SWING, 1, "3.00", today + timedelta(days=10), yesterday))
    add(entry("E3", CALL, DAY, 3, "0.80", yesterday, yesterday))
    e4 = add(entry("E4", CALL, DAY, 1, "2.00", today + timedelta(days=1), yesterday))
    e5 = add(entry("E5", CALL, SWING, 2, "4.00", today + timedelta(days=20), today))
    add(entry("E6", PUT, DAY, 5, "1.00", today, today, status=ExecutionStatus.REJECTED))
    add(close("C2", e2, "120.00", today))
    add(close("C4", e4, "-200.00", today))
    add(close("C5", e5, "300.00", today))
    add(stock_execution("S1", created_at=at(today), updated_at=at(today)))
    return ReportQueries(engine), e1


def test_active_positions_are_the_open_unexpired_filled_entries(reports, today):
    queries, e1 = reports
    [row] = queries.view("active_options_positions")
    assert row["execution_id"] == e1.id
    assert row["option_symbol"] == e1.option_symbol
    assert row["days_to_expiry"] == 1
    assert (row["contracts"], row["premium_paid"]) == (2, Decimal("1.50"))
    assert row["expiration_date"] == today + timedelta(days=1)


def test_positions_as_of_today_are_the_view_itself(reports, today):
    queries, _ = reports
    assert queries.view("active_options_positions", as_of=today) == queries.view(
        "active_options_positions"
    )


def test_positions_as_of_another_day_are_judged_by_that_day(reports, today):
    """A simulated clock's day (the demo's). The book is read as it stands, as the view
    reads it (no purchase date is looked at): as of yesterday E3 had not expired yet
    and E1 is two days out; a day after tomorrow nothing is left."""
    queries, e1 = reports
    before, after, two_after = (today + timedelta(days=n) for n in (-1, 1, 2))
    yesterday = queries.view("active_options_positions", as_of=before)
    assert [(r["option_symbol"][:10], r["days_to_expiry"]) for r in yesterday] == [
        (f"AAPL{before:%y%m%d}", 0),  # E3, expiring that day
        (f"AAPL{after:%y%m%d}", 2),  # E1, two days out
    ]
    [tomorrow] = queries.view("active_options_positions", as_of=after)
    assert (tomorrow["execution_id"], tomorrow["days_to_expiry"]) == (e1.id, 0)
    assert queries.view("active_options_positions", as_of=two_after) == []
    # the other views do not depend on the day
    assert queries.view("daily_options_summary", as_of=before) == queries.view(
        "daily_options_summary"
    )


def test_positions_as_of_something_not_a_day_is_refused(reports):
    queries, _ = reports
    with pytest.raises(InvalidRecord, match="as_of"):
        queries.view("active_options_positions", as_of="2026-12-01")


def test_performance_by_strategy(reports):
    queries, _ = reports
    rows = {r["strategy_type"]: r for r in queries.view("options_performance_by_strategy")}
    assert rows["day_trade"] == {
        "strategy_type": "day_trade",
        "trades": 1,
        "wins": 0,
        "losses": 1,
        "win_rate": Decimal("0"),
        "total_realized_pnl": Decimal("-200"),
        "avg_realized_pnl": Decimal("-200"),
    }
    assert rows["swing_trade"] == {
        "strategy_type": "swing_trade",
        "trades": 2,
        "wins": 2,
        "losses": 0,
        "win_rate": Decimal("1"),
        "total_realized_pnl": Decimal("420"),
        "avg_realized_pnl": Decimal("210"),
    }


def test_daily_summary_per_trading_day_and_instrument(reports, today):
    queries, _ = reports
    yesterday = today - timedelta(days=1)
    rows = queries.view("daily_options_summary")
    got = {
        (r["trading_day"], r["instrument_type"]): (
            r["executions"],
            r["contracts"],
            r["premium_spent"],
            r["fills"],
            r["rejections"],
        )
        for r in rows
    }
    assert got == {
        (yesterday, "CALL"): (2, 4, Decimal("440"), 2, 0),  # E3 240 + E4 200
        (yesterday, "PUT"): (1, 1, Decimal("300"), 1, 0),  # E2
        (today, "CALL"): (4, 7, Decimal("1100"), 4, 0),  # E1 300 + E5 800; C4, C5
        (today, "PUT"): (2, 6, Decimal("0"), 1, 1),  # C2 filled, E6 rejected
    }


def test_views_agree_with_the_executions(reports, db_url):
    queries, _ = reports
    book = ExecutionRepository(engine_for(db_url)).recent(limit=1_000)
    options = [e for e in book if e.instrument_type is not InstrumentType.STOCK]
    summary = queries.view("daily_options_summary")
    assert sum(r["executions"] for r in summary) == len(options)
    closes = [e for e in options if e.position_effect is PositionEffect.CLOSE]
    performance = queries.view("options_performance_by_strategy")
    assert sum(r["total_realized_pnl"] for r in performance) == sum(e.realized_pnl for e in closes)


def test_an_unknown_view_is_refused():
    with pytest.raises(InvalidRecord, match="view"):
        ReportQueries(None).view("recommendations; DROP TABLE recommendations")
