from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.enums import Right
from strikeflow.domain.errors import InvalidMarketData, InvalidOccSymbol
from tests.unit.factories import NOW, contract


def test_a_symbol_that_disagrees_with_the_fields_is_refused():
    good = contract(100)
    with pytest.raises(InvalidMarketData, match=r"symbol says .* 100, fields say .* 105"):
        dataclasses.replace(good, strike=Decimal(105))
    with pytest.raises(InvalidMarketData, match=r"fields say .* P"):
        dataclasses.replace(good, right=Right.PUT)
    with pytest.raises(InvalidMarketData, match="symbol says 2026-11-20"):
        dataclasses.replace(good, expiration=good.expiration + timedelta(days=7))


def test_a_malformed_symbol_is_refused():
    with pytest.raises(InvalidOccSymbol):
        dataclasses.replace(contract(), symbol="XYZ261320C00100000")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bid", Decimal("NaN")),
        ("ask", Decimal("-0.01")),
        ("bid", 1.5),
        ("last", Decimal("Infinity")),
        ("volume", -1),
        ("open_interest", 2.5),
        ("volume", True),
        ("quote_time", NOW.replace(tzinfo=None)),
    ],
)
def test_impossible_market_data_is_refused_naming_the_field(field, value):
    with pytest.raises(InvalidMarketData, match=field):
        dataclasses.replace(contract(), **{field: value})


def test_a_non_finite_implied_vol_means_unknown():
    assert dataclasses.replace(contract(), implied_vol=float("nan")).implied_vol is None


def test_mid_and_spread_are_exact_decimals():
    c = contract(bid="1.05", ask="1.10")
    assert (c.mid, c.spread) == (Decimal("1.075"), Decimal("0.05"))
