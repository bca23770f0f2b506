from __future__ import annotations

from datetime import timedelta

import pytest

from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.liquidity import LiquidityRules, validate_option_liquidity
from tests.unit.factories import NOW, contract

RULES = LiquidityRules()


def test_a_liquid_fresh_contract_passes():
    assert validate_option_liquidity(contract(), RULES, now=NOW) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"volume": 99}, ["volume 99 < 100"]),
        ({"open_interest": 499}, ["open interest 499 < 500"]),
        ({"quote_age_s": 61}, ["quote 61 s old > 60 s"]),
        ({"bid": "1.00", "ask": "1.20"}, ["spread 0.20 is 18.2% of mid 1.100 > 10%"]),
    ],
)
def test_each_rule_names_its_figures(overrides, expected):
    assert validate_option_liquidity(contract(**overrides), RULES, now=NOW) == expected


def test_thresholds_are_inclusive():
    edge = contract(volume=100, open_interest=500, quote_age_s=60, bid="1.90", ask="2.10")
    # spread 0.20 on mid 2.00 is exactly 10%
    assert validate_option_liquidity(edge, RULES, now=NOW) == []


def test_no_bid_is_rejected_even_when_spread_rule_is_loose():
    loose = LiquidityRules(max_spread_pct=2.0)
    reasons = validate_option_liquidity(contract(bid="0", ask="0.05"), loose, now=NOW)
    assert reasons == ["bid 0: nobody to sell it back to"]


def test_a_missing_or_crossed_quote_is_one_clear_reason():
    crossed = validate_option_liquidity(contract(bid="2.50", ask="2.00"), RULES, now=NOW)
    assert crossed == ["no two-sided quote (bid 2.50, ask 2.00)"]
    empty = validate_option_liquidity(contract(bid="0", ask="0"), RULES, now=NOW)
    assert empty[0] == "no two-sided quote (bid 0, ask 0)"
    assert "bid 0: nobody to sell it back to" in empty


def test_every_failure_is_reported_not_just_the_first():
    bad = contract(volume=0, open_interest=0, bid="0.50", ask="1.50", quote_age_s=600)
    reasons = validate_option_liquidity(bad, RULES, now=NOW)
    assert len(reasons) == 4


def test_freshness_defaults_to_the_current_time():
    long_ago = contract(now=NOW - timedelta(days=3))
    assert any("s old" in r for r in validate_option_liquidity(long_ago, RULES))


def test_now_must_carry_a_timezone():
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_option_liquidity(contract(), RULES, now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "kwargs",
    [{"min_volume": -1}, {"max_spread_pct": 0}, {"max_spread_pct": 3}, {"max_quote_age_s": 0}],
)
def test_contradictory_rules_are_refused(kwargs):
    with pytest.raises(InvalidPolicy):
        LiquidityRules(**kwargs)
