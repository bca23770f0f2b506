"""Why no contract is eligible: the reason a fallback or a rejection records, in words,
from hand-built chains (pure domain)."""

from __future__ import annotations

import pickle
from datetime import date, datetime

import pytest

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.enums import Right, StrategyType, StrikeMode
from strikeflow.domain.errors import NoEligibleContract
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.ineligible import day
from strikeflow.domain.selection import SelectionPolicy, StrikeTarget, select_contract
from tests.unit.factories import NOW, contract

# factories.TODAY is Thu 2026-11-19: dte=1 is Fri 2026-11-20, dte=8 the Friday after.
TUESDAY = datetime(2026, 11, 17, 10, 45, tzinfo=NEW_YORK)
DAY_CALL = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL)
SWING_PUT = SelectionPolicy.for_strategy(StrategyType.SWING_TRADE, Right.PUT)


def refusal(contracts, policy=DAY_CALL, now=NOW, spot=100.4, **kwargs) -> NoEligibleContract:
    chain = OptionChain.from_contracts(contracts)
    with pytest.raises(NoEligibleContract) as refused:
        select_contract(chain, spot, now, policy, **kwargs)
    return refused.value


def fridays(underlying="NVDA", right=Right.CALL, strikes=(100, 101)):
    """A single stock's weekly listing: Fri 2026-11-20 and Fri 2026-11-27."""
    return [
        contract(k, dte=dte, right=right, underlying=underlying, now=TUESDAY)
        for dte in (1, 8)
        for k in strikes
    ]


def test_a_day_trade_on_a_tuesday_names_the_friday_expiry():
    refused = refusal(fridays(), now=TUESDAY)
    assert str(refused) == (
        "no NVDA expiry within 0–1 DTE on Tue 2026-11-17; the nearest is Fri 2026-11-20 (3 DTE)"
    )
    assert refused.counts == {"outside 0–1 DTE": 4}  # the counts stay as they were


def test_the_ticker_given_names_an_empty_chain():
    refused = refusal([], underlying="NVDA", listed_through=date(2027, 1, 2))
    assert str(refused) == (
        "no NVDA expiry within 0–1 DTE on Thu 2026-11-19, nor any listed through Sat 2027-01-02"
    )
    assert refused.candidates == 0


def test_an_empty_chain_without_a_horizon_says_the_chain_had_none():
    assert str(refusal([], underlying="NVDA")) == (
        "no NVDA expiry within 0–1 DTE on Thu 2026-11-19, nor any other in the chain"
    )


def test_an_expired_contract_is_never_the_nearest():
    assert str(refusal([contract(100, dte=-1)])) == (
        "no XYZ expiry within 0–1 DTE on Thu 2026-11-19, nor any other in the chain"
    )


@pytest.mark.parametrize(
    ("dtes", "nearest"),
    [
        ((1, 43), "Fri 2026-11-20 (1 DTE)"),  # 6 days short of 7 beats 13 days past 30
        ((1, 36), "Fri 2026-12-25 (36 DTE)"),  # 6 short, 6 past: the later one
        ((50, 36), "Fri 2026-12-25 (36 DTE)"),
    ],
)
def test_a_swing_trade_names_the_expiry_nearest_its_window(dtes, nearest):
    chain = [contract(95, dte=d, right=Right.PUT, delta=-0.4) for d in dtes]
    text = str(refusal(chain, SWING_PUT))
    assert text == f"no XYZ expiry within 7–30 DTE on Thu 2026-11-19; the nearest is {nearest}"


def test_liquidity_rejections_are_counted_by_rule_in_the_window():
    chain = [contract(100, bid="1.00", ask="1.50") for _ in range(9)]
    chain += [contract(100, open_interest=10) for _ in range(3)]
    chain += [contract(100, dte=8)]  # outside the window: counted apart
    assert str(refusal(chain)) == (
        "12 XYZ calls in 0–1 DTE on Thu 2026-11-19, all rejected:"
        " spread > 10% (9), open interest < 500 (3); 1 more outside 0–1 DTE"
    )


def test_a_strike_target_the_listing_cannot_reach_says_so():
    three_otm = SelectionPolicy.for_strategy(
        StrategyType.DAY_TRADE, Right.CALL, strike=StrikeTarget(StrikeMode.OTM, strikes=3)
    )
    refused = refusal([contract(k) for k in (99, 100, 101, 102)], three_otm)
    assert str(refused) == (
        "4 XYZ calls in 0–1 DTE on Thu 2026-11-19, all rejected: off target (3 strikes OTM) (4)"
    )
    messages = refused.explain["rejected"][0]["reasons"]
    assert messages == ["no strike 3 strikes OTM of spot 100.4 listed for 2026-11-20"]


def test_one_candidate_reads_in_the_singular():
    assert str(refusal([contract(100, bid="0")])) == (
        "1 XYZ call in 0–1 DTE on Thu 2026-11-19, all rejected: no bid (1)"
    )


def test_the_reason_survives_pickling_as_celery_does_before_errbacks():
    from celery.utils.serialization import get_pickleable_exception

    refused = refusal(fridays(), now=TUESDAY)
    for kept in (pickle.loads(pickle.dumps(refused)), get_pickleable_exception(refused)):
        assert type(kept) is NoEligibleContract
        assert str(kept) == str(refused)
        assert kept.reason == refused.reason
        assert kept.counts == refused.counts


def test_without_a_reason_the_summary_is_the_counts():
    assert str(NoEligibleContract({"no bid": 2}, 2)) == "2 rejected: 2 no bid"


@pytest.mark.parametrize(
    ("d", "shown"),
    [(date(2026, 12, 8), "Tue 2026-12-08"), (date(2026, 12, 11), "Fri 2026-12-11")],
)
def test_days_carry_their_weekday(d, shown):
    assert day(d) == shown
