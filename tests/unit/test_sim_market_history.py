"""The synthetic market's history, as ``data fetch`` reads it from the emulator: option
minute bars (the model's trade price, the day's volume traded evenly) and the contracts
that have expired (Alpaca's ``status=inactive``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from strikeflow.domain.expiry import NEW_YORK, expiry_instant
from strikeflow.sim.market import ChainQuery, Market

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=NEW_YORK)  # Friday, after the close
FRIDAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(42, ["AAPL", "SPY"], NOW)


def test_expired_contracts_are_those_whose_close_has_passed(market):
    before = market.expired_contracts("AAPL", datetime(2026, 11, 20, 15, 0, tzinfo=NEW_YORK))
    assert all(c.expiration < FRIDAY for c in before)
    after = market.expired_contracts("AAPL", NOW, ChainQuery(expiration=FRIDAY))
    assert after
    assert {c.expiration for c in after} == {FRIDAY}
    assert not market.contracts_where("AAPL", NOW, ChainQuery(expiration=FRIDAY))  # not live
    daily = market.expired_contracts(
        "SPY", NOW, ChainQuery(expiration_gte=date(2026, 11, 18), expiration_lte=FRIDAY)
    )
    assert {c.expiration for c in daily} == {date(2026, 11, 18), date(2026, 11, 19), FRIDAY}


def test_option_bars_trade_the_days_volume_evenly_within_the_session(market):
    contract = market.expired_contracts("AAPL", NOW, ChainQuery(expiration=FRIDAY))[0]
    opens = datetime(2026, 11, 20, 9, 30, tzinfo=NEW_YORK)
    bars = market.option_bars(contract.symbol, opens, expiry_instant(FRIDAY))
    listing = market._listing("AAPL", opens)
    row = listing.index[contract.symbol]
    assert sum(b.v for b in bars) == int(listing.volume[row])
    assert all(opens <= b.t < expiry_instant(FRIDAY) for b in bars)
    assert all(b.low <= min(b.o, b.c) and b.h >= max(b.o, b.c) and b.low >= 0.01 for b in bars)
    assert [b.t for b in bars] == sorted(b.t for b in bars)
    # A window is honoured to the minute, and nothing is served past the expiry.
    cut = market.option_bars(
        contract.symbol, opens + timedelta(minutes=30), opens + timedelta(hours=1)
    )
    assert all(opens + timedelta(minutes=30) <= b.t <= opens + timedelta(minutes=59) for b in cut)
    later = datetime(2026, 11, 23, 9, 30, tzinfo=NEW_YORK)
    assert market.option_bars(contract.symbol, later, later + timedelta(hours=1)) == []


def test_option_bars_of_an_unknown_contract_are_none(market):
    assert market.option_bars("ZZZZ261120C00100000", NOW - timedelta(days=1), NOW) == []
    assert market.option_bars("not a symbol", NOW - timedelta(days=1), NOW) == []
