"""STRIKEFLOW_OPTION_ORDER_PRICING and STRIKEFLOW_OPTION_SPREAD_FRACTION reach the policy
the dispatch steps price option orders by, and change the order they send."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strikeflow.config import Settings
from strikeflow.domain.enums import Action, OrderType
from strikeflow.domain.orders import OptionPricing
from strikeflow.services.dispatch_policy import DispatchPolicy

BID, ASK = Decimal("1.20"), Decimal("1.40")


def test_the_defaults_are_the_policy_defaults():
    assert (
        DispatchPolicy.from_settings(Settings()).pricing
        == DispatchPolicy().pricing
        == OptionPricing()
    )


@pytest.mark.parametrize(
    ("mode", "fraction", "expected"),
    [
        ("marketable_limit", "0.5", (OrderType.LIMIT, Decimal("1.40"))),
        ("marketable_limit", "0", (OrderType.LIMIT, Decimal("1.30"))),
        ("marketable_limit", "0.25", (OrderType.LIMIT, Decimal("1.35"))),
        ("limit_at_mid", "0.5", (OrderType.LIMIT, Decimal("1.30"))),
        ("market", "0.5", (OrderType.MARKET, None)),
    ],
)
def test_each_setting_changes_the_order_sent(monkeypatch, mode, fraction, expected):
    monkeypatch.setenv("STRIKEFLOW_OPTION_ORDER_PRICING", mode)
    monkeypatch.setenv("STRIKEFLOW_OPTION_SPREAD_FRACTION", fraction)
    policy = DispatchPolicy.from_settings(Settings())  # what build_runtime hands the steps
    assert policy.pricing.price(Action.BUY, BID, ASK, "XYZ") == expected
