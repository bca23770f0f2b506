"""The venue's same-day (0DTE) cut-offs: 15:15 ET, 15:30 for broad-based ETFs.

Selection turns down a contract expiring today once the venue would refuse an order in
it, with the reason in words, and moves to the next expiry the DTE window allows; the
day-trade entry cut-off defaults to before the earliest venue cut-off.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from strikeflow.config import Settings
from strikeflow.domain.chain import OptionChain
from strikeflow.domain.enums import Right, StrategyType
from strikeflow.domain.errors import NoEligibleContract
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.risk import OpenExposure, RiskLimits, check_risk
from strikeflow.domain.selection import DteWindow, SelectionPolicy, select_contract
from strikeflow.domain.venue_rules import (
    BROAD_BASED_ETFS,
    EARLIEST_ZERO_DTE_CUTOFF,
    zero_dte_closed,
    zero_dte_cutoff,
    zero_dte_refusal,
)
from strikeflow.services.dispatch_policy import DispatchPolicy
from tests.unit.dispatch_runs import listed, run_to_size, setup
from tests.unit.factories import TODAY, contract
from tests.unit.fakes_dispatch import FakeClock

DAY_CALL = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL)


def ny(hour: int, minute: int, day: date = TODAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)


def chain_of(underlying: str, now: datetime, dtes=(0, 1)) -> list:
    return [contract(100, dte=d, underlying=underlying, now=now) for d in dtes]


def pick(contracts, now, policy=DAY_CALL):
    return select_contract(OptionChain.from_contracts(contracts), 100.2, now, policy)


# -- the rule itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("underlying", "cutoff"),
    [("SPY", time(15, 30)), ("QQQ", time(15, 30)), ("IWM", time(15, 30)), ("AAPL", time(15, 15))],
)
def test_broad_based_etfs_close_at_15_30_single_stocks_at_15_15(underlying, cutoff):
    assert zero_dte_cutoff(underlying) == cutoff
    assert not zero_dte_closed(underlying, TODAY, ny(cutoff.hour, cutoff.minute - 1))
    assert zero_dte_closed(underlying, TODAY, ny(cutoff.hour, cutoff.minute))


def test_only_contracts_expiring_today_are_cut_off():
    late = ny(15, 50)
    assert not zero_dte_closed("AAPL", date(2026, 11, 20), late)
    assert zero_dte_closed("AAPL", date(2026, 11, 18), ny(9, 31))  # expired already
    assert {"SPY", "QQQ", "IWM", "DIA"} <= BROAD_BASED_ETFS


def test_the_cutoff_is_read_in_new_york_whatever_the_zone_of_now():
    utc = ny(15, 32).astimezone(UTC)
    assert zero_dte_closed("SPY", TODAY, utc)
    assert zero_dte_refusal("SPY", utc) == "SPY 0DTE orders close at 15:30 ET; now 15:32 ET"


# -- selection ------------------------------------------------------------------------------


def test_before_the_cutoff_the_same_day_expiry_is_chosen():
    now = ny(15, 29)
    assert pick(chain_of("SPY", now), now).chosen.expiration == TODAY


def test_after_the_cutoff_selection_moves_to_the_next_expiry_and_says_why():
    now = ny(15, 32)
    chain = chain_of("SPY", now)
    selection = pick(chain, now)
    assert selection.chosen.symbol == chain[1].symbol  # 1 DTE
    rejected = {r.contract.symbol: r.reasons for r in selection.rejected}
    assert rejected == {chain[0].symbol: ("SPY 0DTE orders close at 15:30 ET; now 15:32 ET",)}
    explain = selection.explain()
    assert explain["rejected_counts"] == {"0DTE orders closed at the venue": 1}
    assert explain["rejected"][0]["reasons"] == ["SPY 0DTE orders close at 15:30 ET; now 15:32 ET"]


def test_a_single_stock_closes_a_quarter_hour_before_an_etf():
    now = ny(15, 20)
    assert pick(chain_of("AAPL", now), now).chosen.expiration != TODAY
    assert pick(chain_of("SPY", now), now).chosen.expiration == TODAY


def test_with_no_later_expiry_in_the_window_nothing_is_eligible_and_the_reason_says_so():
    now = ny(15, 40)
    only_today = SelectionPolicy(right=Right.CALL, window=DteWindow(0, 0))
    with pytest.raises(NoEligibleContract) as none:
        pick(chain_of("SPY", now, dtes=(0,)), now, only_today)
    assert "0DTE orders closed at the venue (1)" in str(none.value)
    assert none.value.explain["rejected"][0]["reasons"] == [
        "SPY 0DTE orders close at 15:30 ET; now 15:40 ET"
    ]


def test_a_closed_contract_is_turned_down_for_the_cutoff_alone():
    """The strike and delta rules judge tradable contracts only: today's 101 strike is
    not also called off target, which would bury the reason that matters."""
    now = ny(15, 45)
    chain = [
        contract(100, dte=0, underlying="QQQ", now=now),
        contract(101, dte=0, underlying="QQQ", now=now),
        contract(101, dte=1, underlying="QQQ", now=now),
    ]
    selection = pick(chain, now)
    assert selection.chosen.symbol == chain[2].symbol
    closed = ("QQQ 0DTE orders close at 15:30 ET; now 15:45 ET",)
    assert [r.reasons for r in selection.rejected] == [closed, closed]


def test_a_swing_window_is_untouched():
    now = ny(15, 45)
    swing = SelectionPolicy.for_strategy(StrategyType.SWING_TRADE, Right.CALL)
    chain = chain_of("AAPL", now, dtes=(0, 7))
    selection = pick(chain, now, swing)
    assert selection.chosen.expiration.isoformat() == "2026-11-26"
    assert selection.rejected[0].reasons == ("expires in 0 day(s), outside 7–30 DTE",)


# -- the day-trade entry cut-off ------------------------------------------------------------


def test_the_default_day_trade_cutoff_comes_before_the_venues_earliest():
    assert RiskLimits().day_trade_cutoff < EARLIEST_ZERO_DTE_CUTOFF == time(15, 15)
    from_settings = DispatchPolicy.from_settings(Settings()).risk
    assert from_settings.day_trade_cutoff == RiskLimits().day_trade_cutoff == time(15, 10)


@pytest.mark.parametrize(("wall", "allowed"), [(time(15, 9), True), (time(15, 10), False)])
def test_by_default_no_day_trade_is_entered_from_15_10(wall, allowed):
    result = check_risk(
        RiskLimits(),
        ticker="SPY",
        strategy=StrategyType.DAY_TRADE,
        order_cost=Decimal("100"),
        exposure=OpenExposure(),
        realized_loss_today=Decimal(0),
        now=datetime.combine(TODAY, wall, tzinfo=NEW_YORK),
        kill_switch_on=False,
    )
    assert result.allowed is allowed


# -- through the dispatch steps -------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "expiry"), [(time(15, 14), TODAY), (time(15, 16), date(2026, 11, 20))]
)
def test_a_day_trade_dispatched_past_the_cutoff_buys_the_next_expiry(wall, expiry):
    """A deployment that sets its entry cut-off late (15:45) still never sends an order
    in a contract the venue has closed: XYZ, a single stock, closes at 15:15."""
    now = ny(wall.hour, wall.minute)
    late = DispatchPolicy(risk=RiskLimits(day_trade_cutoff=time(15, 45)))
    ctx, market, store, *_ = setup(listed(now=now), policy=late, clock=FakeClock(now))
    market.quote_stock("XYZ", "100")  # stamped at the clock's now
    sized = run_to_size(ctx)
    assert sized.contract.expiration == expiry
    explain = store.selections["rec-1"]
    closed = [r for r in explain["rejected"] if "0DTE" in r["reasons"][0]]
    if expiry == TODAY:
        assert closed == []
    else:
        assert closed
        assert {r["reasons"][0] for r in closed} == {
            f"XYZ 0DTE orders close at 15:15 ET; now {wall:%H:%M} ET"
        }
