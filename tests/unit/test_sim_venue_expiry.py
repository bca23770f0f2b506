"""The paper venue over time: day orders expiring at the close, options settled at expiry.

The contracts expire on Friday 20 November 2026; 16:00 New York that day is 21:00 UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.venue import next_weekday_close
from tests.unit.test_sim_venue import (
    CALL,
    EXPIRATION,
    PUT,
    START,
    STOCK,
    FakeClock,
    FakeQuotes,
    holding_calls,
    make_venue,
    refused,
    settle,
)

PUT_180 = "AAPL261120P00180000"
THURSDAY_CLOSE = datetime(2026, 11, 19, 16, 0, tzinfo=NEW_YORK)
FRIDAY_CLOSE = datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK)
MONDAY_CLOSE = datetime(2026, 11, 23, 16, 0, tzinfo=NEW_YORK)
ONE_SECOND = timedelta(seconds=1)


def ny(day: int, hour: int, minute: int = 0, second: float = 0) -> datetime:
    whole = int(second)
    micros = round((second - whole) * 1_000_000)
    return datetime(2026, 11, day, hour, minute, whole, micros, tzinfo=NEW_YORK)


@pytest.fixture
def quotes() -> FakeQuotes:
    quotes = FakeQuotes()
    quotes.set(PUT_180, 0.40, 0.45)
    return quotes


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def venue(quotes, clock):
    return make_venue(quotes, clock)


# -- day orders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "close"),
    [
        (ny(19, 10), THURSDAY_CLOSE),
        (ny(19, 15, 59, 59), THURSDAY_CLOSE),
        (ny(19, 16), FRIDAY_CLOSE),
        (ny(19, 23), FRIDAY_CLOSE),
        (ny(20, 17), MONDAY_CLOSE),
        (ny(21, 11), MONDAY_CLOSE),
        (ny(22, 11), MONDAY_CLOSE),
    ],
)
def test_next_weekday_close(sent, close):
    assert next_weekday_close(sent) == close


def test_a_day_order_expires_at_the_session_close(venue, clock):
    order = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=2.00)  # ask 2.15: waits
    assert order.expires_at == THURSDAY_CLOSE
    assert venue.account().buying_power == 9400
    venue.process(THURSDAY_CLOSE - ONE_SECOND)
    assert venue.get_order(order.id).status == "new"
    venue.process(THURSDAY_CLOSE)
    expired = venue.get_order(order.id)
    assert expired.status == "expired"
    assert expired.expired_at == THURSDAY_CLOSE
    assert venue.account().buying_power == venue.account().cash == 10_000
    assert venue.list_orders("open") == []
    refused(lambda: venue.cancel(order.id), 422, 42210000, '"expired"')
    assert len(venue.audit()) == 1


def test_a_day_order_expires_at_the_close_even_when_the_clock_jumps_past_it(venue, clock):
    order = venue.submit(STOCK, 1, "buy", "limit", "day", limit_price=150)
    clock.now = ny(24, 12)  # next Tuesday
    venue.process()
    expired = venue.get_order(order.id)
    assert expired.status == "expired"
    assert expired.expired_at == THURSDAY_CLOSE


def test_after_a_jump_the_last_try_is_priced_at_the_close(venue, clock, quotes):
    order = venue.submit(STOCK, 10, "buy", "limit", "day", limit_price=191)
    quotes.asked_at.clear()
    venue.process(ny(19, 18))
    filled = venue.get_order(order.id)
    assert filled.status == "filled"
    assert filled.filled_at == THURSDAY_CLOSE
    assert filled.filled_avg_price == Decimal("190.1")
    assert quotes.asked_at[0] == (STOCK, THURSDAY_CLOSE)
    assert venue.account().cash == 10_000 - 1901


def test_an_order_whose_first_try_falls_after_the_close_expires_unfilled(venue, clock):
    clock.now = ny(19, 15, 59, 59.5)
    order = venue.submit(STOCK, 1, "buy", "market", "day")
    venue.process(ny(19, 16, 0, 1))
    assert venue.get_order(order.id).status == "expired"
    assert venue.account().cash == 10_000


def test_a_day_order_sent_after_the_close_lives_until_the_next_one(venue, clock):
    clock.now = ny(20, 17)  # Friday evening
    order = venue.submit(STOCK, 1, "buy", "limit", "day", limit_price=150)
    assert order.expires_at == MONDAY_CLOSE
    venue.process(MONDAY_CLOSE - ONE_SECOND)
    assert venue.get_order(order.id).status == "new"
    venue.process(MONDAY_CLOSE)
    assert venue.get_order(order.id).status == "expired"


def test_a_gtc_order_does_not_expire(venue):
    order = venue.submit(STOCK, 1, "buy", "limit", "gtc", limit_price=150)
    assert order.expires_at is None
    venue.process(ny(30, 12))
    assert venue.get_order(order.id).status == "new"
    assert venue.account().buying_power == 10_000 - 150


def test_the_session_close_comes_from_the_calendar_given(quotes, clock):
    venue = make_venue(quotes, clock, session_close=lambda t: t + timedelta(hours=1))
    order = venue.submit(STOCK, 1, "buy", "limit", "day", limit_price=150)
    assert order.expires_at == ny(19, 11)
    venue.process(ny(19, 11))
    assert venue.get_order(order.id).status == "expired"


def test_an_options_order_expires_with_its_contract_if_that_comes_first(quotes, clock):
    venue = make_venue(quotes, clock, session_close=lambda t: t + timedelta(days=5))
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00)
    stock = venue.submit(STOCK, 1, "buy", "limit", "day", limit_price=150)
    assert order.expires_at == FRIDAY_CLOSE
    assert stock.expires_at == START + timedelta(days=5)
    venue.process(FRIDAY_CLOSE)
    assert venue.get_order(order.id).status == "expired"
    assert venue.get_order(stock.id).status == "new"


# -- settlement at expiry ----------------------------------------------------------------------


def test_itm_call_and_put_are_exercised_with_physical_delivery(quotes, clock):
    venue = make_venue(quotes, clock, cash=100_000)
    venue.submit(STOCK, 200, "buy", "market", "day")  # 200 x 190.10 = 38 020
    venue.submit(CALL, 3, "buy", "market", "day")  # 3 x 215 = 645
    venue.submit(PUT, 2, "buy", "market", "day")  # 2 x 600 = 1200
    settle(venue, clock)
    assert venue.account().cash == 100_000 - 38_020 - 645 - 1200
    quotes.settlement[("AAPL", EXPIRATION)] = 195.0  # call 190: 5 in; put 200: 5 in

    venue.process(FRIDAY_CLOSE - ONE_SECOND)
    assert [p.symbol for p in venue.positions()] == [STOCK, CALL, PUT]
    assert venue.account().cash == 60_135

    venue.process(FRIDAY_CLOSE)
    account = venue.account()
    # the call buys 300 shares at 190 (57 000), the put sells 200 at 200 (40 000)
    assert account.cash == 60_135 - 57_000 + 40_000
    assert account.buying_power == account.cash
    (shares,) = venue.positions()
    assert (shares.symbol, shares.qty) == (STOCK, 300)
    assert shares.cost_basis == (38_020 + 57_000) * 3 / 5  # 200 + 300 held, 200 sold
    settled = [a for a in venue.activities() if a["activity_type"] != "FILL"]
    assert [
        (a["activity_type"], a["symbol"], a["qty"], a["price"], a["net_amount"], a["date"])
        for a in settled
    ] == [
        ("OPEXC", CALL, "3", None, "0", "2026-11-20"),
        ("OPTRD", STOCK, "300", "190", "-57000", "2026-11-20"),
        ("OPEXC", PUT, "2", None, "0", "2026-11-20"),
        ("OPTRD", STOCK, "200", "200", "40000", "2026-11-20"),
    ]
    assert all(a["id"].startswith("20261120160000000::") for a in settled)
    assert len({a["id"] for a in venue.activities()}) == len(venue.activities())


def test_otm_options_expire_worthless(venue, clock, quotes):
    venue.submit(CALL, 3, "buy", "market", "day")  # 645
    venue.submit(PUT_180, 4, "buy", "market", "day")  # 4 x 45 = 180
    settle(venue, clock)
    quotes.settlement[("AAPL", EXPIRATION)] = 185.0  # below 190, above 180
    cash = venue.account().cash
    assert cash == 10_000 - 645 - 180
    venue.process(FRIDAY_CLOSE)
    assert venue.account().cash == cash
    assert venue.positions() == []
    settled = [a for a in venue.activities() if a["activity_type"] != "FILL"]
    assert [(a["activity_type"], a["symbol"], a["qty"], a["net_amount"]) for a in settled] == [
        ("OPEXP", CALL, "3", "0"),
        ("OPEXP", PUT_180, "4", "0"),
    ]


@pytest.mark.parametrize(
    ("spot", "kinds", "shares"),
    [(190.01, ["OPEXC", "OPTRD"], 300), (190.009, ["OPEXP"], 0), (190.0, ["OPEXP"], 0)],
)
def test_a_cent_in_the_money_is_exercised_less_is_not(quotes, clock, spot, kinds, shares):
    venue = make_venue(quotes, clock, cash=100_000)
    holding_calls(venue, clock)
    quotes.settlement[("AAPL", EXPIRATION)] = spot
    venue.process(FRIDAY_CLOSE)
    settled = [a["activity_type"] for a in venue.activities() if a["activity_type"] != "FILL"]
    assert settled == kinds
    assert venue.account().cash == 99_355 - 190 * shares
    assert [(p.symbol, p.qty) for p in venue.positions()] == ([(STOCK, shares)] if shares else [])


def test_settlement_happens_once(quotes, clock):
    venue = make_venue(quotes, clock, cash=100_000)
    holding_calls(venue, clock)
    quotes.settlement[("AAPL", EXPIRATION)] = 195.0
    venue.process(FRIDAY_CLOSE)
    venue.process(FRIDAY_CLOSE + timedelta(days=3))
    venue.process(FRIDAY_CLOSE + timedelta(days=4))
    assert venue.account().cash == 99_355 - 57_000
    assert [a["activity_type"] for a in venue.activities()] == ["FILL", "OPEXC", "OPTRD"]
    refused(lambda: venue.close_position(CALL), 404, 40410000)
    assert venue.position(STOCK).qty == 300


def test_a_late_process_fills_then_settles_at_the_right_instants(venue, clock, quotes):
    venue.submit(CALL, 3, "buy", "market", "day")
    quotes.settlement[("AAPL", EXPIRATION)] = 195.0
    venue.process(MONDAY_CLOSE)  # the first look at the book since Thursday 10:00
    fill, expiry = venue.activities()
    assert fill["transaction_time"] == "2026-11-19T21:00:00Z"  # at the day order's close
    assert expiry["date"] == "2026-11-20"
    assert expiry["id"].startswith("20261120160000000::")
    # 10 000 cannot buy 300 shares at 190: the contracts are settled in cash instead
    assert expiry["activity_type"] == "OPCSH"
    assert venue.account().cash == 10_000 - 645 + 1500


def test_open_orders_on_an_expired_contract_are_expired(venue, clock, quotes):
    holding_calls(venue, clock)
    clock.now = ny(20, 10)
    sell = venue.submit(CALL, 3, "sell", "limit", "day", limit_price=9.00).id
    buy = venue.submit(PUT, 1, "buy", "limit", "day", limit_price=1.00).id
    assert venue.account().buying_power == 9355 - 100
    quotes.settlement[("AAPL", EXPIRATION)] = 195.0
    venue.process(FRIDAY_CLOSE)  # settles the lot, and with it the sell on it
    assert venue.get_order(sell).status == "expired"
    assert venue.get_order(sell).expired_at == FRIDAY_CLOSE
    assert venue.account().cash == 9355 + 1500  # the whole lot of 3, not 3 less the sell
    venue.process(FRIDAY_CLOSE)  # no lot on the put: its order expires at the contract's close
    assert venue.get_order(buy).status == "expired"
    assert venue.get_order(buy).expired_at == FRIDAY_CLOSE
    account = venue.account()
    assert account.buying_power == account.cash == 9355 + 1500
    clock.now = FRIDAY_CLOSE
    refused(lambda: venue.submit(CALL, 1, "buy", "market", "day"), 422, 40010001, "not active")


def test_a_settlement_price_that_is_not_a_price_is_an_error(venue, clock, quotes):
    holding_calls(venue, clock)
    quotes.settlement[("AAPL", EXPIRATION)] = float("nan")
    with pytest.raises(ValueError, match="settlement price of AAPL"):
        venue.process(FRIDAY_CLOSE)
