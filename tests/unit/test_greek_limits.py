"""Portfolio Greek limits and the daily-loss limit: what the book's option entries add up
to, the entry that would take the net beyond a cap refused with its figures, and past
the day's loss limit new entries refused while exits still run."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from strikeflow.config import Settings
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationStatus,
    RiskBreach,
    StrategyType,
)
from strikeflow.domain.errors import DispatchRejected, InvalidRecord
from strikeflow.domain.models import Greeks
from strikeflow.domain.risk import (
    HeldEntry,
    OpenExposure,
    RiskLimits,
    check_risk,
    execution_cost,
    net_greeks,
    open_exposure,
    order_greeks,
    still_held,
)
from strikeflow.domain.sizing import shares_per_unit
from strikeflow.services.closing import request_close
from strikeflow.services.closing_steps import quote_close, size_close
from strikeflow.services.dispatch_policy import DispatchPolicy, client_order_id_for
from tests.integration.record_factories import option_execution, stock_execution
from tests.unit.dispatch_runs import run_all, run_to_size, setup
from tests.unit.factories import NOW
from tests.unit.fakes_dispatch import ONE_PRICE

LIMITS = RiskLimits(
    max_open_positions=None,
    max_daily_realized_loss=Decimal("1000"),
    max_exposure_per_ticker=None,
    day_trade_cutoff=None,
    max_net_delta=Decimal("300"),
    max_net_vega=Decimal("50"),
)


def check(exposure: OpenExposure, order_delta="0", order_vega="0", loss="0"):
    return check_risk(
        LIMITS,
        ticker="AAPL",
        strategy=StrategyType.SWING_TRADE,
        order_cost=Decimal("500"),
        exposure=exposure,
        realized_loss_today=Decimal(loss),
        now=NOW,
        kill_switch_on=False,
        order_delta=Decimal(order_delta),
        order_vega=Decimal(order_vega),
    )


def test_net_greeks_are_each_greek_times_contracts_times_100_shorts_negative():
    calls = option_execution("sf-1", contracts=3, delta=Decimal("0.5"), vega=Decimal("0.1"))
    puts = option_execution(
        "sf-2",
        instrument_type=InstrumentType.PUT,
        option_symbol="AAPL261120P00220000",
        contracts=2,
        quantity=Decimal(2),
        filled_qty=Decimal(2),
        delta=Decimal("-0.25"),
        vega=Decimal("0.2"),
    )
    short = replace(calls, client_order_id="sf-3", action=Action.SELL)
    shares = stock_execution("sf-4")  # a stock entry is no option position
    assert net_greeks([calls, puts, shares]) == (Decimal("100.0"), Decimal("70.0"))
    assert net_greeks([calls, short]) == (Decimal(0), Decimal(0))


def test_open_exposure_carries_the_open_option_entries_greeks():
    entry = option_execution("sf-1", contracts=3, delta=Decimal("0.5"), vega=Decimal("0.1"))
    closed = replace(entry, client_order_id="sf-2", id=2)
    held = open_exposure([replace(entry, id=1), closed], NOW, closed_ids={2})
    assert (held.net_delta, held.net_vega) == (Decimal("150.0"), Decimal("30.0"))


def test_an_entry_that_takes_net_delta_beyond_the_cap_is_refused_with_the_figures():
    result = check(OpenExposure(1, {}, Decimal("250"), Decimal("10")), order_delta="100")
    assert [v.breach for v in result.violations] == [RiskBreach.MAX_NET_DELTA]
    assert result.reason() == "net delta 250 + order 100 = 350 exceeds the maximum 300"
    shown = result.to_json()
    assert (shown["net_delta"], shown["order_delta"], shown["max_net_delta"]) == (
        "250",
        "100",
        "300",
    )


def test_an_entry_that_takes_net_vega_beyond_the_cap_is_refused():
    result = check(OpenExposure(1, {}, Decimal("0"), Decimal("45")), order_vega="9.5")
    assert [v.breach for v in result.violations] == [RiskBreach.MAX_NET_VEGA]
    assert "net vega 45 + order 9.5 = 54.5 exceeds the maximum 50" in result.reason()


@pytest.mark.parametrize(
    ("net", "order", "allowed"),
    [
        ("250", "50", True),  # exactly at the cap
        ("250", "50.01", False),
        ("-250", "-60", False),  # short delta counts by its size
        ("400", "-50", True),  # beyond the cap already, but the order reduces it
        ("400", "0", False),  # beyond the cap, the order adds nothing known
    ],
)
def test_the_delta_cap_at_and_across_its_boundary(net, order, allowed):
    assert check(OpenExposure(1, {}, Decimal(net)), order_delta=order).allowed is allowed


def test_greek_limits_off_by_default_and_from_settings(monkeypatch):
    assert DispatchPolicy.from_settings(Settings()).risk.max_net_delta is None
    monkeypatch.setenv("STRIKEFLOW_RISK_MAX_NET_DELTA", "300")
    monkeypatch.setenv("STRIKEFLOW_RISK_MAX_NET_VEGA", "50")
    limits = DispatchPolicy.from_settings(Settings()).risk
    assert (limits.max_net_delta, limits.max_net_vega) == (Decimal(300), Decimal(50))
    result = check_risk(
        limits,
        ticker="AAPL",
        strategy=None,
        order_cost=Decimal(1),
        exposure=OpenExposure(0, {}, Decimal("299")),
        realized_loss_today=Decimal(0),
        now=NOW,
        kill_switch_on=False,
        order_delta=Decimal(2),
    )
    assert not result.allowed


def test_an_order_adds_its_contracts_greeks():
    greeks = Greeks(delta=0.45, gamma=0.02, theta=-0.1, vega=0.12, rho=0.01)
    assert order_greeks(greeks, 3) == (Decimal("135.00"), Decimal("36.00"))
    assert order_greeks(greeks, 1, Action.SELL) == (Decimal("-45.00"), Decimal("-12.00"))
    assert order_greeks(None, 3) == (Decimal(0), Decimal(0))


def test_past_the_daily_loss_limit_new_entries_are_refused():
    policy = DispatchPolicy(risk=LIMITS)
    ctx, _market, store, _switch, _broker, _rec = setup(policy=policy)
    store.realized_loss = Decimal("1000")
    with pytest.raises(DispatchRejected, match=r"realized loss today 1000\.00 reached the maximum"):
        run_to_size(ctx, "rec-1")


def test_size_position_refuses_an_entry_whose_greeks_breach_a_cap():
    """The order's own Greeks count: the book is flat, the entry alone is over the cap."""
    policy = DispatchPolicy(risk=LIMITS)
    overrides = {"instrument_type": InstrumentType.CALL, "strategy_type": StrategyType.DAY_TRADE}
    ctx, *_ = setup(policy=policy, rec_overrides=overrides)
    with pytest.raises(DispatchRejected, match=r"net delta 0 \+ order \d+ = \d+ exceeds"):
        run_to_size(ctx, "rec-1")


def test_past_the_daily_loss_limit_exits_still_run():
    loss_only = replace(LIMITS, max_net_delta=None, max_net_vega=None)
    policy = replace(ONE_PRICE, risk=loss_only)
    overrides = {"instrument_type": InstrumentType.CALL, "strategy_type": StrategyType.DAY_TRADE}
    ctx, _market, store, _switch, _broker, _rec = setup(policy=policy, rec_overrides=overrides)
    assert run_all(ctx).status is RecommendationStatus.EXECUTED
    entry = store.executions[client_order_id_for("rec-1")]
    store.realized_loss = Decimal("5000")  # the day's closes lost more than the limit
    request_close(store, store, lambda rid: rid, entry.id)
    sized = size_close(ctx, quote_close(ctx, "close-1-1"))
    assert sized.quantity == entry.filled_qty
    assert sized.closes is not None
    assert sized.position_effect is PositionEffect.CLOSE


def test_a_partial_close_and_an_adjusted_contract_count_what_is_left_in_shares():
    """5 contracts of an adjusted call delivering 150 shares, 2 of them closed: 3 x 150
    shares count, in the net Greeks and in the cost; a standard entry counts 100."""
    adjusted = HeldEntry(
        id=1,
        client_order_id="sf-1",
        ticker="AAPL",
        instrument_type=InstrumentType.CALL,
        position_effect=PositionEffect.OPEN,
        status=ExecutionStatus.FILLED,
        expiration_date=NOW.date(),
        filled_qty=Decimal(5),
        filled_avg_price=Decimal("2.00"),
        explain_json={},
        delta=Decimal("0.5"),
        vega=Decimal("0.1"),
        multiplier=150,
        closed_qty=Decimal(2),
    )
    assert still_held(adjusted) == 3
    assert net_greeks([adjusted]) == (Decimal("225.0"), Decimal("45.0"))
    assert execution_cost(adjusted) == Decimal("900.00")
    standard = replace(adjusted, multiplier=None, closed_qty=Decimal(5))
    assert still_held(standard) == 0
    assert net_greeks([standard]) == (0, 0)
    greeks = Greeks(delta=0.5, gamma=0, theta=0, vega=0.1, rho=0)
    assert order_greeks(greeks, 2, Action.BUY, 150) == (Decimal("150.0"), Decimal("30.0"))
    assert order_greeks(greeks, 2, Action.SELL) == (-100, -20)


def test_a_share_is_one_and_a_contract_its_own_multiplier_or_100():
    assert shares_per_unit(InstrumentType.STOCK, 150) == 1
    assert shares_per_unit(InstrumentType.PUT) == 100
    assert shares_per_unit(InstrumentType.CALL, 150) == 150


@pytest.mark.parametrize("bad", [0, -100, True, 1.5, 10**6])
def test_an_execution_refuses_a_multiplier_that_is_no_count_of_shares(bad):
    with pytest.raises(InvalidRecord, match="multiplier"):
        option_execution("sf-1", multiplier=bad)
