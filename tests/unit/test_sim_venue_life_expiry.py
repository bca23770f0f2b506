"""The paper venue on expiration day: the 0DTE cutoff for opening orders, the liquidation of
positions the account could not exercise, exercise with physical delivery (at expiry and
on request). The contracts expire on Friday 20 November 2026 (16:00 New York)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.venue import Venue
from tests.unit.test_sim_venue import (
    CALL,
    PUT,
    STOCK,
    FakeClock,
    FakeQuotes,
    holding_calls,
    make_venue,
    refused,
    settle,
)

EXPIRATION = date(2026, 11, 20)
SPY_CALL = "SPY261120C00600000"
NEXT_WEEK_CALL = "AAPL261127C00190000"


def friday(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, second, tzinfo=NEW_YORK)


@pytest.fixture
def quotes() -> FakeQuotes:
    quotes = FakeQuotes()
    quotes.set("SPY", 609.90, 610.10)
    quotes.set(SPY_CALL, 10.00, 10.20)
    quotes.set(NEXT_WEEK_CALL, 3.00, 3.10)
    return quotes


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def rich(quotes: FakeQuotes, clock: FakeClock, **more) -> Venue:
    return make_venue(quotes, clock, cash=100_000, **more)


# -- 0DTE: the cutoff for opening orders ------------------------------------------------------


def test_opening_orders_in_contracts_expiring_today_stop_at_15_15(quotes, clock):
    venue = make_venue(quotes, clock)
    clock.now = friday(15, 14, 59)
    assert venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00).status == "accepted"
    clock.now = friday(15, 15)
    error = refused(
        lambda: venue.submit(CALL, 1, "buy", "market", "day"), 403, 40310000, "0DTE", "15:15"
    )
    assert CALL in error.message
    assert venue.submit(NEXT_WEEK_CALL, 1, "buy", "market", "day").status == "accepted"
    assert venue.submit(STOCK, 1, "buy", "market", "day").status == "accepted"


def test_broad_based_etfs_keep_opening_orders_until_15_30(quotes, clock):
    venue = rich(quotes, clock)
    clock.now = friday(15, 29, 59)
    assert venue.submit(SPY_CALL, 1, "buy", "limit", "day", limit_price=1).status == "accepted"
    clock.now = friday(15, 30)
    refused(lambda: venue.submit(SPY_CALL, 1, "buy", "market", "day"), 403, 40310000, "15:30")


def test_closing_a_held_position_stays_allowed_after_the_cutoff(quotes, clock):
    venue = make_venue(quotes, clock)
    holding_calls(venue, clock, 2)
    clock.now = friday(15, 50)
    sell = venue.submit(CALL, 2, "sell", "market", "day")
    settle(venue, clock)
    assert venue.get_order(sell.id).status == "filled"


def test_a_replace_after_the_cutoff_is_an_opening_order_too(quotes, clock):
    venue = make_venue(quotes, clock)
    clock.now = friday(15, 0)
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00)
    clock.now = friday(15, 20)
    refused(lambda: venue.replace(order.id, qty=2), 403, 40310000, "0DTE")


# -- liquidation of what the account could not exercise --------------------------------------


def test_an_itm_position_the_account_cannot_exercise_is_sold_at_15_30(quotes, clock):
    venue = make_venue(quotes, clock)  # 10 000: 300 shares at 190 are beyond it
    holding_calls(venue, clock, 3)
    quotes.set(STOCK, 194.90, 195.10)  # the call is 5 in the money
    venue.process(friday(15, 29, 59))
    assert len(venue.list_orders("all")) == 1  # the buy, filled
    venue.process(friday(15, 30))
    liquidation, _ = venue.list_orders("all")
    assert (liquidation.symbol, liquidation.side, liquidation.type) == (CALL, "sell", "market")
    assert (liquidation.qty, liquidation.position_intent) == (3, "sell_to_close")
    assert liquidation.submitted_at == friday(15, 30)
    assert not liquidation.client_order_id.startswith("sf-")  # never one strikeflow makes
    assert uuid.UUID(liquidation.client_order_id)
    assert venue.audit()[-1]["liquidation"] is True
    venue.process(friday(15, 30, 1))
    assert venue.get_order(liquidation.id).status == "filled"
    assert venue.positions() == []
    assert venue.account().cash == 9355 + 3 * 205
    fill = venue.activities()[-1]
    assert (fill["activity_type"], fill["order_id"], fill["side"]) == (
        "FILL",
        liquidation.id,
        "sell",
    )
    venue.process(friday(16))
    assert [a["activity_type"] for a in venue.activities()] == ["FILL", "FILL"]


def test_only_the_contracts_the_account_cannot_exercise_are_sold(quotes, clock):
    venue = make_venue(quotes, clock, cash=30_000)  # 29 355 after the fills: one exercise
    holding_calls(venue, clock, 3)
    quotes.set(STOCK, 194.90, 195.10)
    quotes.settlement[("AAPL", EXPIRATION)] = 195.0
    venue.process(friday(15, 30))
    liquidation = venue.list_orders("open")[0]
    assert liquidation.qty == 2
    venue.process(friday(16))
    assert venue.get_order(liquidation.id).status == "filled"
    assert [(p.symbol, p.qty) for p in venue.positions()] == [(STOCK, 100)]
    assert venue.account().cash == 29_355 + 2 * 205 - 19_000


def test_out_of_the_money_and_affordable_positions_are_left_alone(quotes, clock):
    venue = make_venue(quotes, clock)
    holding_calls(venue, clock, 3)  # the stock's mid is 190: the 190 call is not in the money
    venue.process(friday(15, 45))
    rich_venue = rich(quotes, FakeClock())
    holding_calls(rich_venue, rich_venue._clock, 3)
    quotes.set(STOCK, 194.90, 195.10)
    rich_venue.process(friday(15, 45))
    assert len(venue.list_orders("all")) == len(rich_venue.list_orders("all")) == 1


def test_a_put_without_the_shares_to_deliver_is_sold(quotes, clock):
    venue = make_venue(quotes, clock)
    venue.submit(PUT, 2, "buy", "market", "day")  # the 200 put, 10 in the money at 190
    settle(venue, clock)
    venue.process(friday(15, 30))
    (liquidation,) = venue.list_orders("open")
    assert (liquidation.symbol, liquidation.qty) == (PUT, 2)


def test_broad_based_etfs_are_liquidated_from_15_45(quotes, clock):
    venue = make_venue(quotes, clock)
    venue.submit(SPY_CALL, 1, "buy", "market", "day")  # 1 020; 60 000 to exercise
    settle(venue, clock)
    venue.process(friday(15, 44, 59))
    assert venue.list_orders("open") == []
    venue.process(friday(15, 45))
    assert venue.list_orders("open")[0].symbol == SPY_CALL


def test_a_clock_jumping_past_the_close_still_liquidates_at_15_30(quotes, clock):
    venue = make_venue(quotes, clock)
    holding_calls(venue, clock, 3)
    quotes.set(STOCK, 194.90, 195.10)
    quotes.settlement[("AAPL", EXPIRATION)] = 195.0
    venue.process(friday(17))
    liquidation = venue.list_orders("all")[0]
    assert liquidation.submitted_at == friday(15, 30)
    # as for any order the clock jumps past, its one try is priced at its close
    assert venue.get_order(liquidation.id).filled_at == friday(16)
    assert "OPCSH" not in [a["activity_type"] for a in venue.activities()]


def test_liquidation_repeats_under_the_same_inputs(quotes):
    def run() -> list[str]:
        clock = FakeClock()
        venue = make_venue(quotes, clock)
        holding_calls(venue, clock, 3)
        quotes.set(STOCK, 194.90, 195.10)
        venue.process(friday(15, 31))
        quotes.set(STOCK, 189.90, 190.10)
        return [o.client_order_id for o in venue.list_orders("all")] + [
            a["id"] for a in venue.activities()
        ]

    assert run() == run()


# -- exercise --------------------------------------------------------------------------------


def test_exercising_a_call_buys_the_shares_at_the_strike(quotes, clock):
    venue = rich(quotes, clock)
    holding_calls(venue, clock, 3)
    venue.exercise(CALL)
    assert venue.account().cash == 99_355 - 57_000
    (shares,) = venue.positions()
    assert (shares.symbol, shares.qty, shares.cost_basis) == (STOCK, 300, 57_000)
    opexc, optrd = venue.activities()[1:]
    assert (opexc["activity_type"], opexc["symbol"], opexc["qty"]) == ("OPEXC", CALL, "3")
    assert (optrd["activity_type"], optrd["symbol"], optrd["qty"]) == ("OPTRD", STOCK, "300")
    assert (optrd["price"], optrd["net_amount"]) == ("190", "-57000")
    assert opexc["date"] == optrd["date"] == "2026-11-19"


def test_exercising_a_put_sells_held_shares_at_the_strike(quotes, clock):
    venue = rich(quotes, clock)
    venue.submit(STOCK, 250, "buy", "market", "day")  # 47 525
    venue.submit(PUT, 2, "buy", "market", "day")  # 1 200
    settle(venue, clock)
    venue.exercise(PUT)
    assert venue.account().cash == 100_000 - 47_525 - 1200 + 40_000
    assert [(p.symbol, p.qty) for p in venue.positions()] == [(STOCK, 50)]


def test_exercise_refusals(quotes, clock):
    venue = make_venue(quotes, clock)
    refused(lambda: venue.exercise(CALL), 404, 40410000, "position")
    holding_calls(venue, clock, 3)
    refused(lambda: venue.exercise(CALL), 403, 40310000, "buying power")
    venue.submit(PUT, 1, "buy", "market", "day")
    venue.submit(STOCK, 10, "buy", "market", "day")
    settle(venue, clock)
    refused(lambda: venue.exercise(PUT), 403, 40310000, "AAPL")
    refused(lambda: venue.exercise(STOCK), 422, 40010001, "not an option")
    assert [p.qty for p in venue.positions()] == [3, 1, 10]


def test_exercise_is_refused_outside_market_hours(quotes, clock):
    hours = {"open": True}

    def tradable_from(t: datetime) -> datetime:
        return t if hours["open"] else t + timedelta(hours=12)

    venue = rich(quotes, clock, tradable_from=tradable_from)
    holding_calls(venue, clock, 1)
    hours["open"] = False
    refused(lambda: venue.exercise(CALL), 422, 42210000, "outside market hours")
    hours["open"] = True
    venue.exercise(CALL)
    assert venue.position(STOCK).qty == 100


def test_contracts_an_open_sell_holds_are_not_exercised(quotes, clock):
    venue = rich(quotes, clock)
    holding_calls(venue, clock, 3)
    venue.submit(CALL, 2, "sell", "limit", "day", limit_price=9.00)
    venue.exercise(CALL)
    assert venue.position(CALL).qty == 2
    assert venue.position(STOCK).qty == 100
