"""Order value types: client_order_id, intents, option pricing and tick rounding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderPricing,
    OrderType,
    PositionEffect,
    Right,
    StrikeMode,
)
from strikeflow.domain.errors import (
    BrokerUnavailable,
    InvalidMarketData,
    InvalidPolicy,
    InvalidRecord,
    OrderRejected,
)
from strikeflow.domain.market import ExpiryWindow, StrikeBand
from strikeflow.domain.orders import (
    BrokerOrder,
    OptionPricing,
    OrderIntent,
    client_order_id,
    option_tick,
    round_to_tick,
)
from strikeflow.domain.selection import StrikeTarget

CALL = "XYZ261218C00050000"
D = Decimal


def test_client_order_id_is_deterministic_short_and_distinct():
    first = client_order_id("rec-1")
    assert first == client_order_id("rec-1")
    assert first.startswith("sf-open-")
    assert len(first) <= 48
    assert first != client_order_id("rec-2")
    assert first != client_order_id("rec-1", "close")
    assert len(client_order_id("r" * 500, "close")) <= 48


@pytest.mark.parametrize("purpose", ["", "Open", "too-long-purpose", "a b"])
def test_client_order_id_purpose_is_a_short_word(purpose):
    with pytest.raises(InvalidRecord):
        client_order_id("rec-1", purpose)


def test_an_option_intent_names_its_position_intent():
    buy = OrderIntent("cid-1", CALL, Action.BUY, D(2), OrderType.LIMIT, D("1.05"))
    sell = OrderIntent("cid-2", CALL, Action.SELL, D(2), position_effect=PositionEffect.CLOSE)
    assert buy.instrument is InstrumentType.CALL
    assert buy.is_option
    assert buy.position_intent == "buy_to_open"
    assert sell.position_intent == "sell_to_close"
    assert OrderIntent("cid-3", "AAPL", "BUY", D("1.5")).position_intent is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"client_order_id": "x" * 49}, "client_order_id"),
        ({"client_order_id": "has space"}, "client_order_id"),
        ({"client_order_id": ""}, "client_order_id"),
        ({"qty": D(0)}, "qty"),
        ({"qty": D("-1")}, "qty"),
        ({"qty": D("NaN")}, "qty"),
        ({"qty": 1}, "qty"),
        ({"qty": D("1.5")}, "qty"),  # options trade whole contracts
        ({"order_type": OrderType.LIMIT}, "limit_price"),
        ({"limit_price": D("1.00")}, "limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": D(0)}, "limit_price"),
        ({"time_in_force": "gtc"}, "time_in_force"),
    ],
)
def test_intents_refuse_what_a_broker_would(fields, field):
    base = {"client_order_id": "cid-1", "symbol": CALL, "side": Action.BUY, "qty": D(1)}
    with pytest.raises(InvalidRecord) as refused:
        OrderIntent(**{**base, **fields})
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("price", "underlying", "tick"),
    [
        (D("2.99"), "XYZ", D("0.01")),
        (D("3.00"), "XYZ", D("0.05")),
        (D("12.40"), "XYZ", D("0.05")),
        (D("12.40"), "SPY", D("0.01")),
        (D("12.40"), "aapl", D("0.01")),
    ],
)
def test_option_tick(price, underlying, tick):
    assert option_tick(price, underlying) == tick


@pytest.mark.parametrize(
    ("price", "underlying", "up", "expected"),
    [
        (D("1.071"), "XYZ", True, D("1.08")),
        (D("1.079"), "XYZ", False, D("1.07")),
        (D("2.994"), "XYZ", True, D("3.00")),  # crossing into the nickel range
        (D("3.02"), "XYZ", True, D("3.05")),
        (D("3.02"), "XYZ", False, D("3.00")),
        (D("3.07"), "XYZ", False, D("3.05")),
        (D("4.10"), "XYZ", True, D("4.10")),  # on the grid already
        (D("3.02"), "SPY", True, D("3.02")),
        (D("3.021"), "QQQ", True, D("3.03")),
        (D("0.004"), "XYZ", False, D("0.01")),  # never below one tick
    ],
)
def test_round_to_tick_keeps_the_order_marketable(price, underlying, up, expected):
    assert round_to_tick(price, underlying, up=up) == expected


@pytest.mark.parametrize(
    ("policy", "side", "bid", "ask", "expected"),
    [
        (OptionPricing(), Action.BUY, "1.00", "1.10", (OrderType.LIMIT, D("1.10"))),
        (OptionPricing(), Action.SELL, "1.00", "1.10", (OrderType.LIMIT, D("1.00"))),
        (
            OptionPricing(spread_fraction=D("0.25")),
            Action.BUY,
            "1.00",
            "1.10",
            (OrderType.LIMIT, D("1.08")),  # 1.075 rounded up
        ),
        (
            OptionPricing(spread_fraction=D("0.25")),
            Action.SELL,
            "1.00",
            "1.10",
            (OrderType.LIMIT, D("1.02")),  # 1.025 rounded down
        ),
        (
            OptionPricing(OrderPricing.LIMIT_AT_MID),
            Action.BUY,
            "3.10",
            "3.35",
            (OrderType.LIMIT, D("3.25")),  # mid 3.225 up to the nickel
        ),
        (
            OptionPricing(OrderPricing.LIMIT_AT_MID),
            Action.SELL,
            "3.10",
            "3.35",
            (OrderType.LIMIT, D("3.20")),
        ),
        (OptionPricing(OrderPricing.MARKET), Action.BUY, "1.00", "1.10", (OrderType.MARKET, None)),
    ],
)
def test_option_pricing_policies(policy, side, bid, ask, expected):
    assert policy.price(side, D(bid), D(ask), "XYZ") == expected


def test_option_pricing_refuses_a_quote_it_cannot_price():
    with pytest.raises(InvalidMarketData):
        OptionPricing().price(Action.BUY, D("1.20"), D("1.10"), "XYZ")
    with pytest.raises(InvalidMarketData):
        OptionPricing().price(Action.BUY, D(0), D(0), "XYZ")
    with pytest.raises(InvalidPolicy):
        OptionPricing(spread_fraction=D("1.5"))


def test_option_pricing_builds_the_intent():
    intent = OptionPricing().intent("cid-9", CALL, Action.BUY, D(3), D("3.10"), D("3.32"))
    assert (intent.order_type, intent.limit_price) == (OrderType.LIMIT, D("3.35"))
    assert intent.position_intent == "buy_to_open"
    assert intent.qty == 3


def test_a_simulated_order_explains_itself():
    order = BrokerOrder(
        id="o-1",
        client_order_id="cid-1",
        symbol=CALL,
        side=Action.BUY,
        qty=D(1),
        order_type=OrderType.MARKET,
        status=ExecutionStatus.FILLED,
        broker_status="filled",
        broker=BrokerName.SIMULATED,
        execution_mode=ExecutionMode.SIMULATED,
        simulated_reason="broker unavailable: timeout",
    )
    assert order.explain() == {
        "execution_mode": "SIMULATED",
        "broker": "simulated",
        "broker_status": "filled",
        "simulated_reason": "broker unavailable: timeout",
    }
    assert not order.is_open


def test_broker_errors_say_whether_to_retry():
    down = BrokerUnavailable("submit", "read timeout", 504)
    refused = OrderRejected("submit", 403, 40310000, "insufficient buying power")
    assert down.transient
    assert not refused.transient
    assert "504" in str(down)
    assert "read timeout" in str(down)
    assert refused.code == 40310000
    assert "insufficient buying power" in str(refused)


def test_chain_query_windows():
    window = ExpiryWindow.days_ahead(date(2026, 11, 19), 7, 30)
    assert (window.first, window.last) == (date(2026, 11, 26), date(2026, 12, 19))
    with pytest.raises(InvalidPolicy):
        ExpiryWindow(date(2026, 11, 20), date(2026, 11, 19))
    band = StrikeBand.around(D(200), D("0.1"))
    assert (band.low, band.high) == (D(180), D(220))
    with pytest.raises(InvalidPolicy):
        StrikeBand(D(10), D(5))
    with pytest.raises(InvalidPolicy, match="per side"):
        StrikeBand(D(10), D(20), per_side=2)  # nearest to which price?
    with pytest.raises(InvalidPolicy, match="per side"):
        StrikeBand.nearest(D(200), 0)


def _strikes(picked):
    return [(day.day, float(k)) for day, k in picked]


def test_a_band_by_count_keeps_the_nearest_strikes_each_side_of_spot_per_expiry():
    """Two expiries with different spacing: each keeps its own nearest strikes."""
    monthly, weekly = date(2026, 12, 18), date(2026, 11, 27)
    listed = [(monthly, D(k)) for k in range(80, 125, 5)]  # $5 strikes
    listed += [(weekly, D(k)) for k in range(90, 111)]  # $1 strikes
    band = StrikeBand.nearest(D("102.4"), 2)
    picked = band.pick(listed, expiration=lambda x: x[0], strike=lambda x: x[1])
    assert _strikes(picked) == [
        (18, 95.0), (18, 100.0), (18, 105.0), (18, 110.0),
        (27, 101.0), (27, 102.0), (27, 103.0), (27, 104.0),
    ]  # fmt: skip
    # a range, when given, still bounds it, and a side with fewer strikes keeps what it has
    narrow = StrikeBand(D(100), D(103), per_side=3, center=D("102.4"))
    picked = narrow.pick(listed, expiration=lambda x: x[0], strike=lambda x: x[1])
    assert _strikes(picked) == [(18, 100.0), (27, 100.0), (27, 101.0), (27, 102.0), (27, 103.0)]
    # a strike at spot counts on the lower side; without per_side the range is all
    at_spot = StrikeBand.nearest(D(100), 1)
    picked = at_spot.pick(listed, expiration=lambda x: x[0], strike=lambda x: x[1])
    assert _strikes(picked) == [(18, 100.0), (18, 105.0), (27, 100.0), (27, 101.0)]
    whole = StrikeBand.around(D(100), D("0.05"))
    assert len(whole.pick(listed, expiration=lambda x: x[0], strike=lambda x: x[1])) == 3 + 11


def test_strike_targets_say_which_strikes_they_can_pick():
    def band(target, right=Right.CALL):
        found = target.strikes_to_fetch(D(200), right)
        return None if found is None else (found.low, found.high, found.per_side, found.center)

    assert band(StrikeTarget(StrikeMode.ATM)) == (None, None, 2, D(200))
    assert band(StrikeTarget(StrikeMode.OTM, strikes=3)) == (None, None, 4, D(200))
    assert band(StrikeTarget(StrikeMode.ITM), Right.PUT) == (None, None, 2, D(200))
    # a percent target aims at its price: OTM calls and ITM puts above spot
    assert band(StrikeTarget(StrikeMode.OTM, percent=0.05)) == (None, None, 2, D(210))
    assert band(StrikeTarget(StrikeMode.OTM, percent=0.05), Right.PUT) == (None, None, 2, D(190))
    assert band(StrikeTarget(StrikeMode.ITM, percent=0.1), Right.PUT) == (None, None, 2, D(220))
    assert band(StrikeTarget(StrikeMode.DELTA, delta=0.3)) is None
