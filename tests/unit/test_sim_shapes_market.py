"""The emulator's option bars, stock exchanges and nulls, as its snapshots send them.

Bars come from the model (market._session_bars): the day's bar ends at the latest trade's
price, a finished session's bar is the next day's prevDailyBar, and a contract that has
not traded has neither a latest trade nor bars.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim import render
from strikeflow.sim.market import Market
from strikeflow.sim.market_data import OptionSnapshot, Quote

WEDNESDAY_EVENING = datetime(2026, 11, 18, 17, 0, tzinfo=NEW_YORK)
THURSDAY = datetime(2026, 11, 19, 11, 0, tzinfo=NEW_YORK)
FRIDAY_EARLY = datetime(2026, 11, 20, 8, 0, tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(42, ["AAPL"], THURSDAY)


@pytest.fixture(scope="module")
def chain(market: Market) -> dict[str, OptionSnapshot]:
    return market.option_snapshots("AAPL", THURSDAY)


def test_the_days_bar_ends_at_the_latest_trade_and_holds_its_prices(chain):
    traded = [s for s in chain.values() if s.trade is not None]
    assert len(traded) > 100
    for s in traded:
        day, minute = s.daily_bar, s.minute_bar
        assert day is not None
        assert minute is not None
        assert day.c == s.trade.price == minute.c
        assert day.low <= min(day.o, day.c) <= max(day.o, day.c) <= day.h
        assert day.low <= day.vw <= day.h
        assert day.v >= s.trade.size == minute.v
        assert day.n >= 1
        assert day.t == datetime(2026, 11, 19, tzinfo=NEW_YORK)
        assert minute.t == s.trade.t.replace(second=0, microsecond=0)


def test_a_contract_that_has_not_traded_has_no_bars_of_the_day(market, chain):
    quiet = [s for s in chain.values() if s.trade is None]
    assert quiet, "the model leaves some contracts untraded"
    assert all(s.daily_bar is None and s.minute_bar is None for s in quiet)
    before_open = market.option_snapshots("AAPL", FRIDAY_EARLY)
    assert all(s.daily_bar is None for s in before_open.values())
    assert any(s.prev_daily_bar is not None for s in before_open.values())


def test_a_finished_sessions_bar_is_the_next_days_previous_bar(market, chain):
    wednesday = market.option_snapshots("AAPL", WEDNESDAY_EVENING)
    both = [sym for sym in chain if sym in wednesday and wednesday[sym].daily_bar]
    assert both
    for sym in both:
        assert chain[sym].prev_daily_bar == wednesday[sym].daily_bar
        assert chain[sym].prev_daily_bar.t == datetime(2026, 11, 18, tzinfo=NEW_YORK)


def test_the_days_volume_grows_through_the_session(market, chain):
    later = market.option_snapshots("AAPL", THURSDAY + timedelta(hours=3))
    for sym, s in chain.items():
        if s.daily_bar is not None:
            assert later[sym].daily_bar.v >= s.daily_bar.v


def test_bars_repeat_for_a_seed(chain):
    again = Market(42, ["AAPL"], THURSDAY).option_snapshots("AAPL", THURSDAY)
    assert again == chain


def test_a_snapshot_renders_its_bars_and_nulls_for_what_it_lacks(chain):
    traded = next(s for s in chain.values() if s.prev_daily_bar and s.greeks)
    body = render.snapshot(traded)
    assert {"minuteBar", "dailyBar", "prevDailyBar"} <= body.keys()
    assert set(body["dailyBar"]) == {"t", "o", "h", "l", "c", "v", "n", "vw"}
    bare = OptionSnapshot("X", traded.quote, None, None, None)
    body = render.snapshot(bare)
    assert body["greeks"] is None
    assert body["impliedVolatility"] is None
    assert not {"latestTrade", "minuteBar", "dailyBar", "prevDailyBar"} & body.keys()


@pytest.mark.parametrize(("feed", "exchange"), [("iex", "V"), ("sip", "Q"), ("delayed_sip", "Q")])
def test_a_stock_quote_names_its_feeds_exchange_and_nasdaqs_tape(feed, exchange):
    quote = Quote(THURSDAY, 190.17, 190.21, 200, 300)
    body = render.quote(quote, feed)
    assert (body["ax"], body["bx"], body["z"]) == (exchange, exchange, "C")
