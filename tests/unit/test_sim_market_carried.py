"""The emulator keeps a listed contract listed and quoted until it expires, as exchanges do:
a strike listed on an earlier session stays in the chain when the stock moves away from it
(or the band narrows into expiry), beside the day's band, whose values it leaves alone."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.market import ChainQuery, Market
from strikeflow.sim.option_chain import union_keys
from strikeflow.sim.stock_paths import DailyWalk

START = datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK)
EXPIRY = date(2026, 4, 17)  # AAPL's April monthly, listed 46 days out on the first day
ITM_PUT = "AAPL260417P00272500"  # listed at the top of the first day's band
OTM_CALL = "AAPL260417C00272500"
NEVER_LISTED = (
    "AAPL260417C00400000",  # on the grid, far above any band of the window
    "AAPL260417C00231000",  # off the 2.50 grid
    "AAPL260416C00230000",  # no expiration that day
)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


FIRST_DAY, NEXT_DAY = ny(2026, 3, 2, 11, 0), ny(2026, 3, 3, 11, 0)
TWO_DAYS_LEFT, LAST_MINUTE = ny(2026, 4, 15, 11, 0), ny(2026, 4, 17, 15, 59)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(7, ["AAPL", "SPY"], START)


def carried(market: Market, symbol: str, t: datetime) -> bool:
    """Whether ``symbol`` is listed at ``t`` only as an earlier session's strike."""
    listing = market._listing("AAPL", t)
    return bool(listing.carried[listing.index[symbol]])


def test_a_contract_out_of_the_days_band_is_still_listed_and_quoted(market):
    assert not carried(market, ITM_PUT, FIRST_DAY)  # in the band the day it was listed
    for t in (NEXT_DAY, TWO_DAYS_LEFT, LAST_MINUTE):
        assert carried(market, ITM_PUT, t), t  # out of the band: kept only as listed before
        for symbol in (ITM_PUT, OTM_CALL):
            snapshot = market.option_snapshot(symbol, t)
            assert snapshot is not None, (symbol, t)
            assert 0 <= snapshot.quote.bid <= snapshot.quote.ask
            assert market.quote(symbol, t) == snapshot.quote
            assert market.option_snapshot(symbol, t) == snapshot  # the same when asked again
            info = {c.symbol: c for c in market.contracts("AAPL", t)}[symbol]
            assert info.open_interest > 0  # the positions opened while it was nearer
    assert market.option_snapshot(ITM_PUT, FIRST_DAY) is not None


@pytest.mark.parametrize("t", [TWO_DAYS_LEFT, LAST_MINUTE])
def test_far_contracts_are_priced_near_intrinsic_and_near_zero(market, t):
    spot = market.spot("AAPL", t)
    intrinsic = 272.5 - spot
    assert intrinsic > 55  # the stock fell far below the strike
    put = market.option_snapshot(ITM_PUT, t).quote
    assert put.bid < intrinsic + 0.5
    assert put.ask > intrinsic - 0.5
    assert abs((put.bid + put.ask) / 2 - intrinsic) < 0.02 * intrinsic
    assert put.ask - put.bid < 0.05 * intrinsic  # a market maker's spread, not a blank
    call = market.option_snapshot(OTM_CALL, t).quote
    assert call.bid == 0.0
    assert call.ask <= 0.05


def test_carried_contracts_are_the_same_whatever_was_asked_before(market):
    fresh = Market(7, ["AAPL"], START)  # asked for the late day first, nothing between
    for symbol in (ITM_PUT, OTM_CALL):
        assert fresh.option_snapshot(symbol, TWO_DAYS_LEFT) == market.option_snapshot(
            symbol, TWO_DAYS_LEFT
        )
    assert fresh.contracts("AAPL", TWO_DAYS_LEFT) == market.contracts("AAPL", TWO_DAYS_LEFT)


def test_an_expired_contract_is_no_longer_listed_or_quoted(market):
    for t in (ny(2026, 4, 17, 16, 0), ny(2026, 4, 20, 11, 0)):
        assert market.option_snapshot(ITM_PUT, t) is None
        assert market.quote(OTM_CALL, t) is None
        assert all(c.expiration > EXPIRY for c in market.contracts("AAPL", t))


def test_a_strike_never_listed_is_not_quoted(market):
    for symbol in NEVER_LISTED:
        for t in (FIRST_DAY, TWO_DAYS_LEFT):
            assert market.option_snapshot(symbol, t) is None, (symbol, t)
            assert market.quote(symbol, t) is None


def test_a_chain_fetch_sees_the_carried_contracts(market):
    month = market.contracts_where("AAPL", TWO_DAYS_LEFT, ChainQuery(expiration=EXPIRY))
    symbols = [c.symbol for c in month]
    assert {ITM_PUT, OTM_CALL} <= set(symbols)
    assert len(symbols) == len(set(symbols))
    assert all(c.expiration == EXPIRY for c in month)
    puts = market.contracts_where(
        "AAPL", TWO_DAYS_LEFT, ChainQuery(right="put", expiration=EXPIRY, strike_gte=270)
    )
    assert ITM_PUT in {c.symbol for c in puts}
    whole = market.option_snapshots("AAPL", TWO_DAYS_LEFT)
    assert {ITM_PUT, OTM_CALL} <= whole.keys()
    assert whole[ITM_PUT] == market.option_snapshot(ITM_PUT, TWO_DAYS_LEFT)


# Values of the day's band as the market gave them before it carried any strike over:
# (symbol, open interest, close price, bid, ask, bid size, ask size, IV).
T_BAND = ny(2026, 3, 4, 11, 0)
BAND = {
    "AAPL": (
        364,
        [
            ("AAPL260306C00220000", 7233, 8.11, 9.2, 10.05, 17, 9, 0.37597243353243154),
            ("AAPL260327P00220000", 4437, 2.61, 2.2, 2.3, 10, 10, 0.2623213033701072),
            ("AAPL260417P00272500", 1859, 43.63, 40.5, 43.6, 1, 5, 0.21123121848063123),
        ],
    ),
    "SPY": (
        9580,
        [
            ("SPY260401P00554000", 2659, 0.62, 0.89, 0.92, 11, 10, 0.1756770219582155),
            ("SPY260410P00590000", 6506, 5.92, 8.3, 8.45, 31, 19, 0.14302254335098893),
            ("SPY260501P00685000", 4670, 80.71, 86.75, 89.9, 10, 20, 0.12250807621912162),
        ],
    ),
}


@pytest.mark.parametrize("underlying", ["AAPL", "SPY"])
def test_the_days_band_keeps_its_values_and_comes_first(market, underlying):
    size, rows = BAND[underlying]
    listing = market._listing(underlying, T_BAND)
    assert not listing.carried[:size].any()
    assert listing.carried[size:].all()
    assert listing.carried.size > size
    info = {c.symbol: c for c in market.contracts(underlying, T_BAND)}
    for symbol, oi, close, bid, ask, bid_size, ask_size, iv in rows:
        assert listing.index[symbol] < size
        assert (info[symbol].open_interest, info[symbol].close_price) == (oi, close)
        snapshot = market.option_snapshot(symbol, T_BAND)
        quote = snapshot.quote
        assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
            bid,
            ask,
            bid_size,
            ask_size,
        )
        assert snapshot.implied_vol == iv


class CountingMarket(Market):
    """A market that counts the strike bands it lays out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bands = 0

    def _band(self, underlying: str, walk: DailyWalk, k: int):
        self.bands += 1
        return super()._band(underlying, walk, k)


def test_a_new_session_lays_out_one_band_and_lookups_none():
    counting = CountingMarket(7, ["AAPL"], START)
    counting.option_snapshot(ITM_PUT, ny(2026, 4, 14, 11, 0))
    assert counting.bands <= 45  # the session's and those of its listing horizon, once
    counting.bands = 0
    assert counting.option_snapshot(ITM_PUT, TWO_DAYS_LEFT) is not None
    assert counting.bands == 1  # the new day's own; the earlier ranges are kept
    for minute in range(5):
        counting.option_snapshot(ITM_PUT, ny(2026, 4, 15, 11, minute))
        counting.option_snapshot(NEVER_LISTED[0], ny(2026, 4, 15, 11, minute))
    assert counting.bands == 1


def test_union_keys_merges_overlapping_and_touching_ranges_and_keeps_gaps():
    ranges = np.array([[8, 9], [0, 3], [2, 5], [10, 10], [1, 2], [20, 21]], np.int64)
    assert union_keys(ranges).tolist() == [0, 1, 2, 3, 4, 5, 8, 9, 10, 20, 21]
    assert union_keys(np.empty((0, 2), np.int64)).size == 0
