"""The emulator's daily stock bars (``timeframe=1Day``): one per session, stamped at New
York midnight as Alpaca stamps them, made of the same minutes the minute bars are, so a
scan's past closes are the same whichever it reads; the session in progress so far."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.market import Market
from strikeflow.sim.market_data import Bar, daily_bars_of

MONDAY = datetime(2027, 4, 12, 9, 30, tzinfo=NEW_YORK)
THURSDAY_NOON = datetime(2027, 4, 15, 12, 0, tzinfo=NEW_YORK)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(7, ["SPY", "NVDA"], MONDAY)


@pytest.mark.parametrize("symbol", ["SPY", "NVDA"])
def test_a_daily_bar_is_its_sessions_minutes(market, symbol):
    start = MONDAY - timedelta(hours=9, minutes=30)  # Monday's midnight
    days = market.daily_bars(symbol, start, THURSDAY_NOON)
    assert [b.t for b in days] == [
        datetime.combine(MONDAY.date() + timedelta(days=n), time(0), NEW_YORK) for n in range(4)
    ]
    minutes = market.bars(symbol, start, THURSDAY_NOON)
    assert days == daily_bars_of(minutes)
    for day in days[:3]:  # a finished session: its close is the last minute's
        last = [m for m in minutes if m.t.date() == day.t.date()][-1]
        assert day.c == last.c
        assert last.t == datetime.combine(day.t.date(), time(15, 59), NEW_YORK)
        assert day.low <= min(day.o, day.c) <= max(day.o, day.c) <= day.h
    # Thursday so far: the minutes from the open to noon
    today = [m for m in minutes if m.t.date() == THURSDAY_NOON.date()]
    assert len(today) == 150
    assert days[-1].v == sum(m.v for m in today)


def test_a_day_stamped_outside_the_window_is_left_out(market):
    after_monday = MONDAY + timedelta(hours=1)  # Monday's stamp (midnight) is before it
    days = market.daily_bars("SPY", after_monday, THURSDAY_NOON)
    assert [b.t.date().isoformat() for b in days] == ["2027-04-13", "2027-04-14", "2027-04-15"]
    before_the_open = THURSDAY_NOON.replace(hour=8)
    assert market.daily_bars("SPY", before_the_open - timedelta(hours=1), before_the_open) == []


def test_daily_bars_of_weights_the_vwap_by_volume():
    stamp = datetime(2027, 4, 12, 10, 0, tzinfo=NEW_YORK)
    minutes = [
        Bar(stamp, 10.0, 11.0, 9.5, 10.5, 100, 4, 10.2),
        Bar(stamp + timedelta(minutes=1), 10.5, 12.0, 10.4, 11.8, 300, 6, 11.0),
    ]
    (day,) = daily_bars_of(minutes)
    assert (day.o, day.h, day.low, day.c, day.v, day.n) == (10.0, 12.0, 9.5, 11.8, 400, 10)
    assert day.vw == pytest.approx((10.2 * 100 + 11.0 * 300) / 400)
    assert day.t == datetime(2027, 4, 12, tzinfo=NEW_YORK)
