from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strikeflow.domain.enums import InstrumentType, StrategyType
from strikeflow.domain.errors import InvalidPolicy, SizingError
from strikeflow.domain.sizing import FractionRange, SizingPolicy, size_position
from tests.hypothesis_profiles import examples

CALL, STOCK = InstrumentType.CALL, InstrumentType.STOCK
DAY, SWING = StrategyType.DAY_TRADE, StrategyType.SWING_TRADE


def option(price, confidence=0.5, strategy=DAY, power="100000", **kw):
    return size_position(
        instrument=CALL,
        strategy=strategy,
        confidence=confidence,
        price=price,
        buying_power="1",
        options_buying_power=power,
        **kw,
    )


@pytest.mark.parametrize(
    ("strategy", "confidence", "fraction"),
    [
        (DAY, 0, "0.03"),
        (DAY, 0.5, "0.04"),
        (DAY, 1, "0.05"),
        (SWING, 0, "0.10"),
        (SWING, 0.5, "0.15"),
        (SWING, 1, "0.20"),
    ],
)
def test_confidence_scales_the_fraction_within_the_strategy_range(strategy, confidence, fraction):
    size = option("1.00", confidence, strategy)
    assert size.fraction == Decimal(fraction)
    assert size.budget == Decimal("100000") * Decimal(fraction)


def test_options_count_whole_contracts_of_100():
    size = option("2.15", 1, power="100000")  # budget 5000.00, 215.00 a contract
    assert size.quantity == 23
    assert size.cost == Decimal("4945.00")


def test_options_use_options_buying_power_and_stock_uses_buying_power():
    opt = size_position(
        instrument=CALL,
        strategy=DAY,
        confidence=0,
        price="1.00",
        buying_power="1000000",
        options_buying_power="10000",
    )
    assert opt.budget == Decimal("300.00")
    stock = size_position(
        instrument=STOCK,
        strategy=DAY,
        confidence=0,
        price="10",
        buying_power="10000",
        options_buying_power="1000000",
    )
    assert (stock.budget, stock.quantity) == (Decimal("300.00"), 30)


def test_zero_comes_back_with_its_reason():
    size = option("7.40", 0.5, power="12800")
    assert size.quantity == 0
    assert size.reason == (
        "premium 7.40 × 100 = 740.00 exceeds budget 512.00 (4.00% of options buying power 12800)"
    )
    assert size.describe().startswith("size 0: premium 7.40")


def test_stock_without_a_strategy_uses_the_unspecified_range():
    size = size_position(
        instrument=STOCK, strategy=None, confidence=1, price="250", buying_power="4000"
    )
    assert size.quantity == 0
    assert size.reason == "price 250 = 250 exceeds budget 200.00 (5.00% of buying power 4000)"


def test_budgets_round_down_to_the_cent():
    size = option("0.01", 0.333, power="1000.01")  # 1000.01 × 0.03666 = 36.660366…
    assert size.budget == Decimal("36.66")


@settings(max_examples=examples(300), derandomize=True)
@given(
    price=st.decimals("0.01", "500", places=2),
    power=st.decimals("1", "10000000", places=2),
    confidence=st.floats(0, 1),
    strategy=st.sampled_from([DAY, SWING, None]),
    instrument=st.sampled_from(list(InstrumentType)),
)
def test_never_more_than_the_budget_and_never_less_than_it_allows(
    price, power, confidence, strategy, instrument
):
    size = size_position(
        instrument=instrument,
        strategy=strategy,
        confidence=confidence,
        price=price,
        buying_power=power,
        options_buying_power=power,
    )
    assert size.cost <= size.budget <= power
    assert size.budget - size.cost < size.unit_cost  # one more would not fit
    assert (size.quantity == 0) == (size.reason is not None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", float("nan"), "price must be finite"),
        ("price", float("inf"), "price must be finite"),
        ("price", "NaN", "price must be finite"),
        ("price", -1, "price must be > 0"),
        ("price", 0, "price must be > 0"),
        ("price", "0.00001", "price must be at least 0.0001"),
        ("price", "abc", "price must be a number"),
        ("price", True, "price must be a number"),
        ("price", None, "price must be a number"),
        ("options_buying_power", "-5", "options_buying_power must be > 0"),
        ("options_buying_power", "1e13", "options_buying_power must be at most"),
        ("options_buying_power", None, "CALL needs options_buying_power"),
        ("confidence", 1.01, "confidence must be within [0, 1]"),
        ("confidence", -0.1, "confidence must be >= 0"),
        ("confidence", float("nan"), "confidence must be finite"),
    ],
)
def test_bad_inputs_raise_an_error_naming_the_field(field, value, message):
    kwargs = {
        "instrument": CALL,
        "strategy": DAY,
        "confidence": 0.5,
        "price": "1.00",
        "buying_power": "1000",
        "options_buying_power": "1000",
        field: value,
    }
    with pytest.raises(SizingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        size_position(**kwargs)


def test_a_custom_policy_is_honoured_and_validated():
    policy = SizingPolicy(day_trade=FractionRange(Decimal("0.01"), Decimal("0.02")))
    assert option("1.00", 1, policy=policy).fraction == Decimal("0.02")
    with pytest.raises(InvalidPolicy):
        FractionRange(Decimal("0.2"), Decimal("0.1"))
