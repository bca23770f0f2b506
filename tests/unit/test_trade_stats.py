"""A backtest's figures from its closed trades, against hand-computed values."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.trade_stats import (
    ClosedTrade,
    by_rule,
    by_strategy,
    daily_pnl,
    drawdowns,
    equity_curve,
    max_drawdown,
    sharpe,
    stats_of,
)

D = Decimal
MON, TUE, WED = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=NEW_YORK)


def trade(pnl: str, closed: datetime, held_min: int = 30, strategy="day_trade", rule="stop_loss"):
    return ClosedTrade(
        symbol="SPY",
        strategy=strategy,
        rule=rule,
        opened_at=closed - timedelta(minutes=held_min),
        closed_at=closed,
        quantity=D(1),
        entry_price=D("1.00"),
        exit_price=None,
        pnl=D(pnl),
    )


# +100 Mon 10:00, -150 Mon 11:00, +30 Tue 10:00, -50 Tue 15:00, Wed nothing closed
TRADES = [
    trade("100", at(MON, 10), 30, rule="take_profit"),
    trade("-150", at(MON, 11), 60),
    trade("30", at(TUE, 10), 90, strategy="swing_trade", rule="take_profit"),
    trade("-50", at(TUE, 15), 20, rule="time_exit"),
]
DAYS = [MON, TUE, WED]


def test_the_curve_and_its_drawdowns():
    assert [v for _, v in equity_curve(reversed(TRADES))] == [D(100), D(-50), D(-20), D(-70)]
    assert [f for _, f in drawdowns(equity_curve(TRADES))] == [D(0), D(150), D(120), D(170)]
    assert max_drawdown(TRADES) == D(170)
    assert max_drawdown([trade("-40", at(MON, 10))]) == D(40)  # below the start is a drawdown
    assert max_drawdown([]) == D(0)


def test_daily_pnl_counts_every_day_of_the_run_even_those_that_closed_nothing():
    assert daily_pnl(TRADES, DAYS) == {MON: D(-50), TUE: D(-20), WED: D(0)}


def test_sharpe_of_the_daily_pnl():
    # mean -70/3, sample stdev of (-50, -20, 0): sqrt(((−26.67)²+(3.33)²+(23.33)²)/2) = 25.17
    expected = (-70 / 3) / math.sqrt((26.666667**2 + 3.333333**2 + 23.333333**2) / 2)
    assert sharpe(daily_pnl(TRADES, DAYS).values()) == pytest.approx(expected * math.sqrt(252))
    assert sharpe([D(5)]) is None  # one day: no spread
    assert sharpe([D(5), D(5)]) is None  # no variation


def test_the_figures_of_all_trades():
    stats = stats_of(TRADES, DAYS)
    assert (stats.trades, stats.wins, stats.win_rate) == (4, 2, 0.5)
    assert stats.total_pnl == D(-70)
    assert stats.average_pnl == D("-17.5")
    assert stats.max_drawdown == D(170)
    assert stats.average_held == timedelta(minutes=50)  # (30 + 60 + 90 + 20) / 4
    assert stats.exits == {"take_profit": 2, "stop_loss": 1, "time_exit": 1}


def test_by_strategy_and_by_rule():
    strategies = by_strategy(TRADES, DAYS)
    assert list(strategies) == ["day_trade", "swing_trade"]
    day = strategies["day_trade"]
    assert (day.trades, day.wins, day.total_pnl) == (3, 1, D(-100))
    assert day.max_drawdown == D(200)  # +100, -50, -100: from the peak 100 to -100
    rules = by_rule(TRADES, DAYS)
    assert list(rules) == ["stop_loss", "take_profit", "time_exit"]
    assert (rules["take_profit"].trades, rules["take_profit"].total_pnl) == (2, D(130))
    assert rules["take_profit"].win_rate == 1.0


def test_no_trades_no_rates():
    stats = stats_of([], DAYS)
    assert (stats.trades, stats.win_rate, stats.average_pnl, stats.average_held) == (
        0,
        None,
        None,
        None,
    )
    assert stats.sharpe is None
