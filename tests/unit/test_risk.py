"""Pre-trade risk checks: each limit on its own, at and across its boundary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RiskBreach,
    StrategyType,
)
from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.risk import (
    OpenExposure,
    RiskLimits,
    check_risk,
    execution_cost,
    open_exposure,
)
from tests.integration.record_factories import option_execution, stock_execution
from tests.unit.factories import NOW

LIMITS = RiskLimits(
    max_open_positions=3,
    max_daily_realized_loss=Decimal("1000"),
    max_exposure_per_ticker=Decimal("10000"),
    day_trade_cutoff=time(15, 30),
)


def check(**overrides):
    values = {
        "ticker": "AAPL",
        "strategy": StrategyType.DAY_TRADE,
        "order_cost": Decimal("2000"),
        "exposure": OpenExposure(1, {"AAPL": Decimal("3000")}),
        "realized_loss_today": Decimal("0"),
        "now": NOW,
        "kill_switch_on": False,
    }
    return check_risk(LIMITS, **{**values, **overrides})


def breaches(result) -> list[RiskBreach]:
    return [v.breach for v in result.violations]


def test_an_order_within_every_limit_is_allowed_with_its_figures():
    result = check()
    assert result.allowed
    assert result.reason() == ""
    assert result.to_json()["ticker_exposure"] == "3000"
    assert result.to_json()["breaches"] == []


def test_kill_switch_is_a_breach():
    result = check(kill_switch_on=True)
    assert breaches(result) == [RiskBreach.KILL_SWITCH]
    assert result.reason() == "kill switch on"


@pytest.mark.parametrize(("positions", "allowed"), [(2, True), (3, False), (4, False)])
def test_max_open_positions_counts_the_entry_about_to_open(positions, allowed):
    result = check(exposure=OpenExposure(positions, {}))
    assert result.allowed is allowed
    if not allowed:
        assert breaches(result) == [RiskBreach.MAX_OPEN_POSITIONS]
        assert f"{positions} open positions, the maximum is 3" in result.reason()


@pytest.mark.parametrize(("loss", "allowed"), [("999.99", True), ("1000", False), ("-50", True)])
def test_daily_realized_loss_stops_entries_once_reached(loss, allowed):
    result = check(realized_loss_today=Decimal(loss))
    assert result.allowed is allowed
    if not allowed:
        assert breaches(result) == [RiskBreach.MAX_DAILY_LOSS]


@pytest.mark.parametrize(("cost", "allowed"), [("7000", True), ("7000.01", False)])
def test_ticker_exposure_includes_the_new_order(cost, allowed):
    result = check(order_cost=Decimal(cost))
    assert result.allowed is allowed
    if not allowed:
        assert breaches(result) == [RiskBreach.MAX_TICKER_EXPOSURE]
        assert "AAPL exposure 3000.00 + order 7000.01 = 10000.01 exceeds the maximum" in (
            result.reason()
        )


def test_a_refusal_reads_in_cents_while_the_check_and_its_figures_stay_exact():
    """A filled entry costs quantity (6 places) x price (4) x 100, as the database holds it."""
    held = Decimal("30.000000") * Decimal("97.0000") * 100
    result = check(exposure=OpenExposure(1, {"AAPL": held}), order_cost=Decimal("0.004"))
    assert not result.allowed
    assert "AAPL exposure 291000.00 + order 0.00 = 291000.00 exceeds the maximum 10000.00" in (
        result.reason()
    )
    assert result.figures["ticker_exposure"] == held
    assert result.figures["order_cost"] == Decimal("0.004")


def test_exposure_in_another_ticker_does_not_count():
    result = check(exposure=OpenExposure(1, {"MSFT": Decimal("9999")}), order_cost=Decimal("9000"))
    assert result.allowed


@pytest.mark.parametrize(
    ("wall", "strategy", "allowed"),
    [
        (time(15, 29, 59), StrategyType.DAY_TRADE, True),
        (time(15, 30), StrategyType.DAY_TRADE, False),
        (time(15, 45), StrategyType.SWING_TRADE, True),
        (time(15, 45), None, True),
    ],
)
def test_day_trade_cutoff_in_new_york_time(wall, strategy, allowed):
    now = datetime.combine(date(2026, 11, 19), wall, tzinfo=NEW_YORK)
    result = check(now=now, strategy=strategy)
    assert result.allowed is allowed
    if not allowed:
        assert breaches(result) == [RiskBreach.DAY_TRADE_CUTOFF]
        assert "after 15:30 ET" in result.reason()


def test_every_breach_is_reported_not_only_the_first():
    late = datetime(2026, 11, 19, 15, 50, tzinfo=NEW_YORK)
    greeks = {"max_net_delta": Decimal("100"), "max_net_vega": Decimal("50")}
    result = check_risk(
        replace(LIMITS, **greeks),
        ticker="AAPL",
        strategy=StrategyType.DAY_TRADE,
        order_cost=Decimal("2000"),
        kill_switch_on=True,
        exposure=OpenExposure(3, {"AAPL": Decimal("9000")}, Decimal("90"), Decimal("40")),
        realized_loss_today=Decimal("5000"),
        now=late,
        order_delta=Decimal("20"),
        order_vega=Decimal("20"),
    )
    assert set(breaches(result)) == set(RiskBreach)


def test_disabled_limits_allow_anything_but_the_kill_switch():
    off = RiskLimits(None, None, None, None)
    late = datetime(2026, 11, 19, 15, 59, tzinfo=NEW_YORK)
    kwargs = {
        "ticker": "AAPL",
        "strategy": StrategyType.DAY_TRADE,
        "order_cost": Decimal("1e9"),
        "exposure": OpenExposure(10_000, {"AAPL": Decimal("1e9")}),
        "realized_loss_today": Decimal("1e9"),
        "now": late,
    }
    assert check_risk(off, kill_switch_on=False, **kwargs).allowed
    assert not check_risk(off, kill_switch_on=True, **kwargs).allowed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_open_positions": 0},
        {"max_daily_realized_loss": Decimal("-1")},
        {"max_exposure_per_ticker": Decimal("NaN")},
    ],
)
def test_contradictory_limits_are_refused(kwargs):
    with pytest.raises(InvalidPolicy):
        RiskLimits(**kwargs)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        check(now=datetime(2026, 11, 19, 10, 0))


def test_execution_cost_uses_the_fill_and_the_option_multiplier():
    assert execution_cost(stock_execution()) == Decimal("12") * Decimal("229.1400")
    assert execution_cost(option_execution()) == Decimal(3) * Decimal("2.15") * 100


def test_execution_cost_of_an_unfilled_order_is_its_estimate():
    unfilled = option_execution(
        status=ExecutionStatus.ACCEPTED,
        filled_qty=None,
        filled_avg_price=None,
        explain_json={"order_cost": "645.00"},
    )
    assert execution_cost(unfilled) == Decimal("645.00")
    bare = stock_execution(filled_qty=None, filled_avg_price=None, explain_json={})
    assert execution_cost(bare) == 0


def test_open_exposure_skips_closed_expired_refused_and_closing_rows():
    held = option_execution("a", id=1)  # expires 2026-11-20
    closed = stock_execution("b", id=2)
    expired = option_execution("c", id=3, expiration_date=date(2026, 11, 18))
    canceled = stock_execution(
        "d", id=4, status=ExecutionStatus.CANCELED, filled_qty=None, filled_avg_price=None
    )  # nothing filled: nothing held (one that filled part holds that part)
    closing = stock_execution("e", id=5, position_effect=PositionEffect.CLOSE)
    msft = stock_execution("f", id=6, ticker="MSFT", filled_avg_price=Decimal("100"))
    got = open_exposure([held, closed, expired, canceled, closing, msft], NOW, {2})
    assert got.positions == 2
    assert got.of("AAPL") == Decimal("645.00")
    assert got.of("MSFT") == Decimal("1200")
    assert got.of("TSLA") == 0


def test_stock_rows_are_not_multiplied():
    row = stock_execution(instrument_type=InstrumentType.STOCK)
    assert execution_cost(row) == row.filled_qty * row.filled_avg_price
