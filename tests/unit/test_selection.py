from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.enums import Right, StrategyType, StrikeMode
from strikeflow.domain.errors import InvalidPolicy, NoEligibleContract
from strikeflow.domain.expiry import years_to_expiry
from strikeflow.domain.liquidity import LiquidityRules, validate_option_liquidity
from strikeflow.domain.pricing import bs_greeks, bs_price, theta_per_day
from strikeflow.domain.selection import DteWindow, SelectionPolicy, StrikeTarget, select_contract
from strikeflow.sim.option_chain import PROFILES, generate_chain
from tests.unit.factories import NOW, contract

DAY_CALL = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL)


def pick(contracts, policy=DAY_CALL, spot=100.4, now=NOW):
    return select_contract(OptionChain.from_contracts(contracts), spot, now, policy)


def test_atm_picks_the_listed_strike_nearest_spot():
    chosen = pick([contract(k) for k in (98, 99, 100, 101, 102)]).chosen
    assert chosen.strike == 100


def test_only_the_requested_right_is_considered():
    chain = [contract(100, right="P"), contract(101, right="C")]
    selection = pick(chain)
    assert selection.chosen.symbol == chain[1].symbol
    assert len(selection.report.candidates) == 1


def test_nearest_expiration_in_the_window_wins():
    chain = [contract(100, dte=1), contract(100, dte=0, bid="2.00", ask="2.20")]
    assert pick(chain).chosen.expiration == chain[1].expiration


def test_tighter_spread_breaks_a_tie_within_an_expiration():
    policy = SelectionPolicy.for_strategy(
        StrategyType.DAY_TRADE, Right.CALL, strike=StrikeTarget(StrikeMode.DELTA, delta=0.5)
    )
    chain = [
        contract(100, delta=0.50, bid="2.00", ask="2.18"),
        contract(101, delta=0.46, bid="2.00", ask="2.04"),
    ]
    assert pick(chain, policy).chosen.strike == 101


@pytest.mark.parametrize(
    ("mode", "right", "strikes", "percent", "expected"),
    [
        (StrikeMode.OTM, "C", 1, None, 101),
        (StrikeMode.OTM, "C", 2, None, 102),
        (StrikeMode.ITM, "C", 1, None, 100),
        (StrikeMode.OTM, "P", 1, None, 100),
        (StrikeMode.ITM, "P", 2, None, 102),
        (StrikeMode.OTM, "C", 1, 0.03, 103),
        (StrikeMode.OTM, "P", 1, 0.03, 97),
        (StrikeMode.ITM, "C", 1, 0.03, 97),
    ],
)
def test_strike_modes_count_from_spot(mode, right, strikes, percent, expected):
    policy = SelectionPolicy.for_strategy(
        StrategyType.DAY_TRADE,
        Right(right),
        strike=StrikeTarget(mode, strikes=strikes, percent=percent),
    )
    chain = [contract(k, right=right) for k in range(95, 106)]
    assert pick(chain, policy).chosen.strike == expected


def test_the_target_strike_comes_from_the_listing_not_the_liquid_subset():
    # 100 is the ATM strike but illiquid: selection must not drift to 101.
    chain = [contract(100, volume=5), contract(101)]
    with pytest.raises(NoEligibleContract) as refused:
        pick(chain)
    assert refused.value.counts == {"volume < 100": 1, "off target (ATM)": 1}


def test_delta_mode_uses_the_tolerance_band():
    policy = SelectionPolicy.for_strategy(
        StrategyType.SWING_TRADE,
        Right.PUT,
        strike=StrikeTarget(StrikeMode.DELTA, delta=0.40, delta_tolerance=0.05),
    )
    chain = [
        contract(95, dte=9, right="P", delta=-0.30),
        contract(98, dte=9, right="P", delta=-0.41),
        contract(101, dte=9, right="P", delta=-0.55),
    ]
    selection = pick(chain, policy)
    assert selection.chosen.strike == 98
    reasons = {r.contract.strike: r.reasons for r in selection.rejected}
    assert reasons[95] == ("|delta| 0.300 outside |delta| 0.40±0.05",)


def test_missing_greeks_are_computed_from_the_mid():
    spot, sigma, strike = 100.0, 0.30, 100.0
    policy = SelectionPolicy.for_strategy(StrategyType.SWING_TRADE, Right.CALL)
    expiry = contract(strike, dte=9).expiration
    t = float(years_to_expiry(np.array([expiry], dtype="datetime64[D]"), NOW)[0])
    r, q = policy.rates.risk_free, policy.rates.dividend_yield
    fair = float(bs_price(spot, strike, t, r, q, sigma, "C"))
    bid, ask = f"{fair - 0.005:.4f}", f"{fair + 0.005:.4f}"
    selection = pick(
        [contract(strike, dte=9, delta=None, implied_vol=None, bid=bid, ask=ask)], policy, spot
    )
    chosen = selection.chosen
    expected = bs_greeks(spot, strike, t, r, q, sigma, "C")
    assert selection.greeks_source == "model from mid"
    assert chosen.implied_vol == pytest.approx(sigma, abs=1e-4)
    assert chosen.greeks.delta == pytest.approx(float(expected.delta), abs=1e-4)
    assert chosen.greeks.theta == pytest.approx(float(theta_per_day(expected.theta)), rel=1e-3)


def test_delta_mode_computes_delta_for_quotes_without_greeks():
    policy = SelectionPolicy.for_strategy(
        StrategyType.DAY_TRADE, Right.CALL, strike=StrikeTarget(StrikeMode.DELTA, delta=0.5)
    )
    selection = pick([contract(100, delta=None, implied_vol=0.3)], policy, spot=100.0)
    assert selection.greeks_source == "model from quoted IV"
    assert 0.45 < selection.chosen.greeks.delta < 0.55


def test_an_unidentifiable_delta_is_a_reason_not_a_crash():
    policy = SelectionPolicy.for_strategy(
        StrategyType.DAY_TRADE, Right.CALL, strike=StrikeTarget(StrikeMode.DELTA, delta=0.5)
    )
    # a 60-strike call quoted below intrinsic on spot 100: no volatility prices it
    with pytest.raises(NoEligibleContract, match=r"all rejected: delta unknown \(1\)"):
        pick([contract(60, delta=None, implied_vol=None)], policy, spot=100.0)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"dte": 9}, "expires in 9 day(s), outside 0–1 DTE"),
        ({"dte": -1}, "expired, outside 0–1 DTE"),
        ({"root": "XYZ1"}, "non-standard contract (multiplier 100, root XYZ1): adjusted"),
        ({"multiplier": 10}, "non-standard contract (multiplier 10, root XYZ): adjusted"),
        ({"volume": 3}, "volume 3 < 100"),
        ({"open_interest": 3}, "open interest 3 < 500"),
        ({"quote_age_s": 300}, "quote 300 s old > 60 s"),
        ({"bid": "0", "ask": "0.05"}, "bid 0: nobody to sell it back to"),
    ],
)
def test_each_rejection_says_why(overrides, reason):
    with pytest.raises(NoEligibleContract) as refused:
        pick([contract(100, **overrides)])
    rejected = refused.value.explain["rejected"]
    assert len(rejected) == 1
    assert any(r.startswith(reason) for r in rejected[0]["reasons"])


def test_no_eligible_contract_counts_each_primary_reason():
    chain = [contract(100, bid="1.00", ask="1.50") for _ in range(3)]
    chain += [contract(100, volume=1) for _ in range(2)]
    with pytest.raises(NoEligibleContract) as refused:
        pick(chain)
    assert refused.value.counts == {"spread > 10%": 3, "volume < 100": 2}
    assert str(refused.value) == (
        "5 XYZ calls in 0–1 DTE on Thu 2026-11-19, all rejected: spread > 10% (3), volume < 100 (2)"
    )
    assert refused.value.candidates == 5


def test_an_empty_chain_is_refused_clearly():
    with pytest.raises(NoEligibleContract) as refused:
        pick([contract(100, right="P")])
    assert str(refused.value) == (
        "no XYZ expiry within 0–1 DTE on Thu 2026-11-19, nor any other in the chain"
    )


def test_days_to_expiry_count_in_new_york_not_utc():
    # 22:00 Thursday in New York is already Friday in UTC: Friday's expiry is still 1 DTE.
    late = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    window = SelectionPolicy(Right.CALL, DteWindow(1, 1))
    chain = [contract(100, dte=1, now=late)]
    assert pick(chain, window, now=late).chosen.symbol == chain[0].symbol


def test_explain_is_json_and_names_every_rejected_candidate():
    chain = [contract(k) for k in (99, 100, 101)] + [contract(100, dte=20)]
    selection = pick(chain)
    explain = json.loads(json.dumps(selection.explain()))
    assert explain["chosen"]["symbol"] == selection.chosen.symbol
    assert explain["candidates"] == 4
    assert {r["symbol"] for r in explain["rejected"]} == {
        c.symbol for c in chain if c.symbol != selection.chosen.symbol
    }
    assert explain["rejected_counts"] == {"off target (ATM)": 2, "outside 0–1 DTE": 1}


@pytest.mark.parametrize("spot", [0, -1, float("nan"), float("inf"), "100"])
def test_spot_must_be_a_positive_number(spot):
    with pytest.raises(InvalidPolicy, match="spot"):
        pick([contract()], spot=spot)


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        pick([contract()], now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "build",
    [
        lambda: DteWindow(5, 2),
        lambda: DteWindow(-1, 2),
        lambda: StrikeTarget(StrikeMode.OTM, strikes=0),
        lambda: StrikeTarget(StrikeMode.ITM, percent=1.5),
        lambda: StrikeTarget(StrikeMode.DELTA, delta=1.2),
    ],
)
def test_contradictory_policies_are_refused(build):
    with pytest.raises(InvalidPolicy):
        build()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("ticker", "strategy", "right", "target"),
    [
        ("SPY", StrategyType.DAY_TRADE, Right.CALL, StrikeTarget()),
        ("AAPL", StrategyType.SWING_TRADE, Right.PUT, StrikeTarget(StrikeMode.DELTA)),
        ("NVDA", StrategyType.SWING_TRADE, Right.CALL, StrikeTarget(StrikeMode.OTM, strikes=2)),
    ],
)
def test_on_generated_chains_the_choice_obeys_every_rule(seed, ticker, strategy, right, target):
    spot = PROFILES[ticker].spot
    chain = OptionChain.from_contracts(generate_chain(ticker, NOW, seed))
    policy = SelectionPolicy.for_strategy(strategy, right, strike=target)
    selection = select_contract(chain, spot, NOW, policy)
    chosen, report = selection.chosen, selection.report
    assert chosen.right is right
    assert validate_option_liquidity(chosen, policy.liquidity, now=NOW) == []
    dte = (chosen.expiration - NOW.date()).days
    assert policy.window.min_days <= dte <= policy.window.max_days
    assert chosen.greeks is not None
    assert chosen.implied_vol is not None
    eligible = np.flatnonzero(report.flags == 0)
    # nothing eligible expires sooner than the choice
    assert all(
        report.candidates.expiration[i] >= np.datetime64(chosen.expiration) for i in eligible
    )
    # the scalar liquidity check agrees with the vectorized one on every candidate
    liquidity_labels = ("no two-sided", "bid ", "spread ", "volume ", "open interest ", "quote ")
    for i in range(0, len(report.candidates), 7):
        scalar = validate_option_liquidity(report.candidates.contracts[i], policy.liquidity, NOW)
        vector = [m for m in report.messages(i) if m.startswith(liquidity_labels)]
        assert scalar == vector


def test_liquidity_overrides_reach_the_rules():
    strict = SelectionPolicy.for_strategy(
        StrategyType.DAY_TRADE, Right.CALL, liquidity=LiquidityRules(min_volume=5_000)
    )
    with pytest.raises(NoEligibleContract, match="volume < 5000"):
        pick([contract(100)], strict)
