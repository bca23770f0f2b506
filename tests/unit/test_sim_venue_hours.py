"""The paper venue outside market hours: an order sent after the close rests ``accepted``
until the next open, then fills there, as Alpaca queues it (emulator calendar hours)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.calendar import next_close, trading_from
from tests.unit.test_sim_venue import CALL, STOCK, FakeClock, FakeQuotes, make_venue

THURSDAY_EVENING = datetime(2026, 11, 19, 17, 0, tzinfo=NEW_YORK)
FRIDAY_OPEN = datetime(2026, 11, 20, 9, 30, tzinfo=NEW_YORK)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(THURSDAY_EVENING)


@pytest.fixture
def venue(clock: FakeClock):
    return make_venue(
        FakeQuotes(), clock, cash=100_000, session_close=next_close, tradable_from=trading_from
    )


@pytest.mark.parametrize("symbol", [STOCK, CALL])
def test_a_day_order_after_the_close_rests_accepted_until_the_open_then_fills(venue, clock, symbol):
    order = venue.submit(symbol, 1, "buy", "market", "day")
    for hours in (1, 8, 16):  # into the night, then to 09:29 the next morning
        clock.now = THURSDAY_EVENING + timedelta(hours=hours, minutes=29 if hours == 16 else 0)
        venue.process()
        assert venue.get_order(order.id).status == "accepted"
    clock.now = FRIDAY_OPEN + timedelta(seconds=1)
    venue.process()
    filled = venue.get_order(order.id)
    assert filled.status == "filled"
    assert filled.filled_at == clock.now
    assert filled.expires_at == datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK)


def test_in_session_the_order_fills_after_the_fill_delay_as_before(venue, clock):
    clock.now = FRIDAY_OPEN + timedelta(hours=1)
    order = venue.submit(STOCK, 1, "buy", "market", "day")
    clock.now += timedelta(seconds=1)
    venue.process()
    assert venue.get_order(order.id).status == "filled"


def test_an_extended_hours_stock_order_is_not_held_for_the_open(venue, clock):
    order = venue.submit(STOCK, 1, "buy", "limit", "day", limit_price=191, extended_hours=True)
    clock.now += timedelta(seconds=1)
    venue.process()
    assert venue.get_order(order.id).status == "filled"


def test_a_gtc_order_is_done_for_the_day_between_sessions_and_worked_again_at_the_open(clock):
    quotes = FakeQuotes()
    venue = make_venue(
        quotes, clock, cash=100_000, session_close=next_close, tradable_from=trading_from
    )
    clock.now = FRIDAY_OPEN - timedelta(days=1) + timedelta(hours=5)  # Thursday 14:30
    order = venue.submit(STOCK, 1, "buy", "limit", "gtc", limit_price=180)
    clock.now += timedelta(seconds=1)
    venue.process()
    assert venue.get_order(order.id).status == "new"  # 190.10 asked: no fill at 180
    clock.now = THURSDAY_EVENING
    quotes.set(STOCK, 178.90, 179.10)  # the night's quote would cross the limit
    venue.process()
    resting = venue.get_order(order.id)
    assert (resting.status, resting.filled_qty) == ("done_for_day", 0)
    assert resting.expires_at is None  # gtc: it stays open across sessions
    clock.now = FRIDAY_OPEN + timedelta(seconds=1)
    venue.process()
    filled = venue.get_order(order.id)
    assert (filled.status, filled.filled_at) == ("filled", clock.now)


def test_a_gtc_order_still_resting_at_the_open_is_new_again(clock):
    venue = make_venue(
        FakeQuotes(), clock, cash=100_000, session_close=next_close, tradable_from=trading_from
    )
    clock.now = FRIDAY_OPEN - timedelta(days=1) + timedelta(hours=5)  # Thursday 14:30
    order = venue.submit(STOCK, 1, "buy", "limit", "gtc", limit_price=180)
    clock.now += timedelta(seconds=1)
    venue.process()
    clock.now = FRIDAY_OPEN - timedelta(hours=2)
    venue.process()
    assert venue.get_order(order.id).status == "done_for_day"
    clock.now = FRIDAY_OPEN + timedelta(seconds=1)
    venue.process()
    assert venue.get_order(order.id).status == "new"
    assert venue.cancel(order.id).status in ("canceled", "pending_cancel")
