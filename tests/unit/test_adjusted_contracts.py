"""Adjusted contracts (a new root, a multiplier other than 100): listed by the emulator,
parsed with their multiplier, turned down by selection unless a policy allows them, and
sized by their own multiplier when one is allowed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.domain.chain import OptionChain, is_standard
from strikeflow.domain.enums import InstrumentType, RecommendationStatus, Right, StrategyType
from strikeflow.domain.errors import NoEligibleContract, SizingError
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.liquidity import LiquidityRules
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.selection import SelectionPolicy, select_contract
from strikeflow.domain.sizing import size_position
from strikeflow.sim import render
from strikeflow.sim.market import Market
from tests.unit.dispatch_runs import listed, run_all, setup
from tests.unit.factories import NOW, contract

DAY_CALL = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL)
ANY_CALL = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL, standard_only=False)
ADJUSTED_REASON = "non-standard contract (multiplier 10, root XYZ1): adjusted deliverable"


def pick(contracts, policy=DAY_CALL, spot=100.4):
    return select_contract(OptionChain.from_contracts(contracts), spot, NOW, policy)


def adjusted(strike=100, **overrides):
    """An adjusted twin on XYZ: root XYZ1, 10 shares, and a tighter market than its
    standard twin's, so only the rule can keep it from winning."""
    values = {"root": "XYZ1", "multiplier": 10, "bid": "2.00", "ask": "2.02", **overrides}
    return contract(strike, **values)


# -- selection ---------------------------------------------------------------------------


def test_selection_turns_down_an_adjusted_twin_and_picks_the_standard_contract():
    standard = contract(100)
    selection = pick([adjusted(), standard])
    assert selection.chosen.symbol == standard.symbol
    report = selection.report.to_json()
    (rejected,) = report["rejected"]
    assert rejected["symbol"] == adjusted().symbol
    assert rejected["reasons"] == [ADJUSTED_REASON]
    assert report["rejected_counts"] == {"non-standard contract": 1}
    assert report["policy"]["standard_only"] is True


def test_a_root_that_is_not_the_underlyings_is_enough_to_be_non_standard():
    with pytest.raises(NoEligibleContract) as refused:
        pick([adjusted(multiplier=100)])
    (rejected,) = refused.value.explain["rejected"]
    assert rejected["reasons"] == [
        "non-standard contract (multiplier 100, root XYZ1): adjusted deliverable"
    ]
    assert refused.value.counts == {"non-standard contract": 1}
    assert "all rejected: non-standard contract (1)" in str(refused.value)


def test_a_multiplier_other_than_100_is_enough_to_be_non_standard():
    with pytest.raises(NoEligibleContract, match=r"non-standard contract \(1\)"):
        pick([contract(100, multiplier=10)])


def test_a_policy_that_allows_adjusted_contracts_can_pick_one():
    selection = pick([adjusted(), contract(100)], policy=ANY_CALL)
    assert selection.chosen.symbol == adjusted().symbol  # the tighter market wins
    assert selection.chosen.multiplier == 10
    assert selection.report.to_json()["policy"]["standard_only"] is False
    assert pick([adjusted()], policy=ANY_CALL).chosen.multiplier == 10


# -- sizing ------------------------------------------------------------------------------


def option_size(price: str, **kwargs):
    return size_position(
        instrument=InstrumentType.CALL,
        strategy=StrategyType.DAY_TRADE,
        confidence=1,
        price=price,
        buying_power="100000",
        options_buying_power="10000",
        **kwargs,
    )


def test_sizing_uses_the_contracts_multiplier():
    # budget: 5% of 10,000 = 500
    assert option_size("2.00").quantity == 2  # 2.00 × 100 = 200 a contract
    ten = option_size("2.00", multiplier=10)
    assert (ten.quantity, ten.unit_cost) == (25, Decimal("20.00"))
    assert option_size("2.00", multiplier=150).quantity == 1


@pytest.mark.parametrize("multiplier", [0, -10, 1.5, True])
def test_sizing_refuses_a_multiplier_that_is_not_a_whole_number(multiplier):
    with pytest.raises(SizingError, match="multiplier"):
        option_size("2.00", multiplier=multiplier)


# -- the emulator's listing --------------------------------------------------------------

START = datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK)
T = datetime(2026, 3, 4, 11, 0, tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(7, ["NVDA", "SPY"], START)


def test_the_emulator_lists_adjusted_contracts_beside_the_standard_ones(market):
    contracts = market.contracts("NVDA", T)
    odd = [c for c in contracts if c.multiplier != 100]
    assert 0 < len(odd) < len(contracts) // 5
    for c in odd:
        occ = parse_occ(c.symbol)
        assert occ.root == c.root == "NVDA1"
        assert c.underlying == "NVDA"
        assert (occ.expiration, float(occ.strike)) == (c.expiration, c.strike)
        assert occ.padded == f"NVDA1 {c.symbol[5:]}"  # padded to six, 21 characters
    symbols = {c.symbol for c in contracts}
    assert len(symbols) == len(contracts)
    # each adjusted series repeats a listed standard strike
    assert {c.symbol.replace("NVDA1", "NVDA") for c in odd} <= symbols
    assert all(c.multiplier == 100 for c in market.contracts("SPY", T))


def test_the_adjusted_series_are_fixed_by_the_seed(market):
    again = Market(7, ["NVDA"], START).contracts("NVDA", T)
    assert again == market.contracts("NVDA", T)
    none = Market(7, ["NVDA"], START, adjusted=()).contracts("NVDA", T)
    assert all(c.multiplier == 100 for c in none)
    assert none == [c for c in market.contracts("NVDA", T) if c.multiplier == 100]


def test_an_adjusted_contract_is_quoted_and_parses_with_its_multiplier(market):
    info = next(c for c in market.contracts("NVDA", T) if c.multiplier != 100)
    body = render.contract(info, T.date())
    assert body["size"] == "100"
    assert body["multiplier"] == str(info.multiplier) != "100"
    assert body["root_symbol"] == "NVDA1"
    snapshot = market.option_snapshot(info.symbol, T)
    assert snapshot is not None
    assert info.symbol in market.option_snapshots("NVDA", T)
    quote = parsing.option_quote(info.symbol, render.snapshot(snapshot))
    assert quote is not None
    parsed = parsing.option_contract(parsing.listed_contract(body), quote)
    assert parsed.multiplier == info.multiplier != 100
    assert not is_standard(parsed)


def test_selection_over_the_emulators_chain_never_picks_an_adjusted_contract(market):
    listing = {c.symbol: c for c in market.contracts("NVDA", T)}
    snapshots = market.option_snapshots("NVDA", T)
    chain = []
    for symbol, snapshot in snapshots.items():
        quote = parsing.option_quote(symbol, render.snapshot(snapshot))
        body = render.contract(listing[symbol], T.date())
        chain.append(parsing.option_contract(parsing.listed_contract(body), quote))
    spot = market.spot("NVDA", T)
    loose = {"liquidity": LiquidityRules(min_volume=0, min_open_interest=0)}
    for right in (Right.CALL, Right.PUT):
        policy = SelectionPolicy.for_strategy(StrategyType.SWING_TRADE, right, **loose)
        selection = select_contract(OptionChain.from_contracts(chain), spot, T, policy)
        assert is_standard(selection.chosen)
        assert selection.report.counts().get("non-standard contract", 0) > 0


# -- the dispatch pipeline ---------------------------------------------------------------


def test_a_recommendation_never_trades_an_adjusted_twin():
    chain = listed() + [adjusted(k, dte=dte) for dte in (0, 1) for k in range(95, 106)]
    ctx, _, store, *_ = setup(chain)
    recorded = run_all(ctx)
    assert recorded.status is RecommendationStatus.EXECUTED
    report = store.selections["rec-1"]
    assert parse_occ(report["chosen"]["symbol"]).root == "XYZ"
    assert report["rejected_counts"]["non-standard contract"] > 0
    assert any(ADJUSTED_REASON in r["reasons"] for r in report["rejected"])


def test_size_position_sizes_an_option_by_its_own_contracts_multiplier():
    """Were an adjusted contract let through, its shares per contract would decide the
    quantity: ten shares a contract buy ten times the contracts of a hundred."""
    from dataclasses import replace

    from strikeflow.services.dispatch_steps import fetch_chain, select_contract, size_position
    from tests.unit.dispatch_runs import hop, price, setup

    ctx, *_ = setup()
    checked = price(ctx, hop(select_contract(ctx, hop(fetch_chain(ctx, "rec-1")))))
    standard = size_position(ctx, checked)
    tenth = replace(checked.contract, multiplier=10)
    adjusted = size_position(ctx, checked.model_copy(update={"contract": tenth}))
    assert standard.quantity > 0
    assert adjusted.quantity >= 9 * standard.quantity
    assert adjusted.order_cost <= standard.order_cost * 2  # the same budget, not 10 x it
