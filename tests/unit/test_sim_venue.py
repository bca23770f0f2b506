"""The emulator's paper venue: account, fills, option rules, refusals, audit, determinism.

Everything runs against a hand-written quote source and a clock the test moves; the numbers
in the assertions are worked out by hand (cash 10 000, ask 2.15 x 100 x 3 contracts = 645).
Expiry (day orders and option settlement) is in test_sim_venue_expiry.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from strikeflow.broker_adapters.alpaca.errors import is_duplicate
from strikeflow.domain.errors import OrderRejected
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.market_data import Quote
from strikeflow.sim.venue import Venue
from strikeflow.sim.venue_orders import VenueError

# Thursday 19 November 2026, 10:00 New York; the contracts expire on Friday the 20th.
START = datetime(2026, 11, 19, 10, 0, tzinfo=NEW_YORK)
EXPIRATION = date(2026, 11, 20)
CALL = "AAPL261120C00190000"  # strike 190
PUT = "AAPL261120P00200000"  # strike 200
STOCK = "AAPL"


class FakeQuotes:
    """Quotes by symbol (bid, ask) that a test can change; settlement prices by (root, date)."""

    def __init__(self) -> None:
        self.quotes: dict[str, tuple[float, float]] = {
            STOCK: (189.90, 190.10),
            CALL: (2.05, 2.15),
            PUT: (5.90, 6.00),
        }
        self.settlement: dict[tuple[str, date], float] = {}
        self.asked_at: list[tuple[str, datetime]] = []
        self.yield_thread = False  # sleep(0) in quote(): lets another thread in, mid-order

    def set(self, symbol: str, bid: float, ask: float) -> None:
        self.quotes[symbol] = (bid, ask)

    def quote(self, symbol: str, t: datetime) -> Quote | None:
        self.asked_at.append((symbol, t))
        if self.yield_thread:
            time.sleep(0)
        if symbol not in self.quotes:
            return None
        bid, ask = self.quotes[symbol]
        return Quote(t=t, bid=bid, ask=ask, bid_size=1, ask_size=1)

    def settlement_price(self, underlying: str, expiration: date) -> float:
        return self.settlement[(underlying, expiration)]  # KeyError if asked the wrong thing


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def make_venue(
    quotes: FakeQuotes, clock: FakeClock, *, cash: object = 10_000, **options: Any
) -> Venue:
    options.setdefault("partial_fill_rate", 0.0)  # whole fills; partial ones: test_sim_venue_life
    return Venue(quotes, cash=cash, fill_delay_s=1.0, clock=clock, **options)


@pytest.fixture
def quotes() -> FakeQuotes:
    return FakeQuotes()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def venue(quotes: FakeQuotes, clock: FakeClock) -> Venue:
    return make_venue(quotes, clock)


def buy_calls(venue: Venue, qty: int = 3, **more: Any) -> str:
    return venue.submit(CALL, qty, "buy", "market", "day", **more).id


def settle(venue: Venue, clock: FakeClock, seconds: float = 1.0) -> None:
    """Move the clock on by the fill delay and let the venue work its orders."""
    clock.advance(seconds)
    venue.process()


def holding_calls(venue: Venue, clock: FakeClock, qty: int = 3) -> None:
    """Buy ``qty`` calls at the ask 2.15 and let them fill: cash 10 000 - 215 x qty."""
    buy_calls(venue, qty)
    settle(venue, clock)
    assert venue.position(CALL).qty == qty


def refused(call: Callable[[], object], status: int, code: int, *named: str) -> VenueError:
    with pytest.raises(VenueError) as caught:
        call()
    error = caught.value
    assert (error.status, error.code) == (status, code), error
    for word in named:
        assert word in error.message, error.message
    return error


def state(venue: Venue) -> tuple[Any, ...]:
    account = venue.account()
    orders = [(o.id, o.client_order_id, o.status) for o in venue.list_orders("all", limit=500)]
    positions = [(p.symbol, p.qty, p.cost_basis) for p in venue.positions()]
    return simulated_audit(venue), account.cash, account.buying_power, orders, positions


def simulated_audit(venue: Venue) -> list[dict[str, Any]]:
    """The venue's audit less each order's wall-clock arrival (``received_at``: the one
    value in it that is not the simulation's, so not the same from run to run)."""
    return [{k: v for k, v in entry.items() if k != "received_at"} for entry in venue.audit()]


# -- account ---------------------------------------------------------------------------------


def test_a_fresh_account_has_every_money_field_at_its_cash(venue):
    account = venue.account()
    assert account.cash == Decimal(10_000)
    for power in (
        account.buying_power,
        account.options_buying_power,
        account.non_marginable_buying_power,
        account.regt_buying_power,
        account.equity,
        account.portfolio_value,
    ):
        assert power == Decimal(10_000)
    assert account.long_market_value == 0
    assert account.short_market_value == 0
    assert account.status == "ACTIVE"
    assert account.options_approved_level == account.options_trading_level == 2
    assert account.shorting_enabled is False


def test_an_open_limit_buy_reserves_its_limit_price(venue):
    venue.submit(CALL, 3, "buy", "limit", "day", limit_price=2.10)  # ask 2.15: waits
    account = venue.account()
    assert account.cash == 10_000
    assert account.buying_power == 10_000 - 630
    assert account.options_buying_power == account.buying_power
    assert account.non_marginable_buying_power == account.buying_power


def test_an_open_market_buy_reserves_the_ask_seen_at_submission(venue, quotes):
    venue.submit(STOCK, 10, "buy", "market", "day")
    assert venue.account().buying_power == Decimal("8099")  # 10 000 - 10 x 190.10
    quotes.set(STOCK, 199.90, 200.10)
    assert venue.account().buying_power == Decimal("8099")


def test_cancel_releases_the_reserve(venue):
    order = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=2.10)
    venue.cancel(order.id)
    account = venue.account()
    assert account.buying_power == account.options_buying_power == account.cash == 10_000


def test_a_fill_below_the_limit_releases_the_unused_reserve(venue, clock):
    venue.submit(CALL, 3, "buy", "limit", "day", limit_price=2.20)
    assert venue.account().buying_power == 10_000 - 660
    settle(venue, clock)
    account = venue.account()
    assert account.cash == account.buying_power == 10_000 - 645
    assert account.options_buying_power == 10_000 - 645


def test_a_position_is_marked_at_the_mid(venue, clock):
    holding_calls(venue, clock)  # 3 at 2.15; quote 2.05 / 2.15, mid 2.10
    account = venue.account()
    assert account.cash == Decimal("9355")
    assert account.long_market_value == Decimal("630")
    assert account.equity == account.portfolio_value == Decimal("9985")
    position = venue.position(CALL)
    assert position.asset_class == "us_option"
    assert position.exchange == ""
    assert position.side == "long"
    assert position.qty == 3
    assert position.qty_available == 3
    assert position.avg_entry_price == Decimal("2.15")
    assert position.cost_basis == Decimal("645")
    assert position.current_price == Decimal("2.1")
    assert position.market_value == Decimal("630")
    assert position.unrealized_pl == Decimal("-15")


def test_an_unknown_position_is_404(venue):
    refused(lambda: venue.position(CALL), 404, 40410000, "position not found")


# -- fills -----------------------------------------------------------------------------------


def test_a_market_buy_is_accepted_then_filled_at_the_ask_after_the_delay(venue, clock):
    order = venue.submit(CALL, 3, "buy", "market", "day")
    assert order.status == "accepted"
    assert order.filled_qty == 0
    assert order.asset_class == "us_option"
    assert order.qty == 3
    venue.process(START + timedelta(seconds=0.999))
    assert venue.get_order(order.id).status == "accepted"
    assert venue.account().cash == 10_000
    clock.advance(1.0)
    venue.process()
    filled = venue.get_order(order.id)
    assert filled.status == "filled"
    assert filled.filled_qty == 3
    assert filled.filled_avg_price == Decimal("2.15")
    assert filled.filled_at == START + timedelta(seconds=1)
    assert venue.account().cash == Decimal("9355")
    assert order.status == "accepted"  # submit handed back a copy
    (fill,) = venue.activities()
    assert fill["activity_type"] == "FILL"
    assert (fill["qty"], fill["price"], fill["side"], fill["type"]) == ("3", "2.15", "buy", "fill")
    assert (fill["cum_qty"], fill["leaves_qty"], fill["order_status"]) == ("3", "0", "filled")


def test_a_market_buy_takes_the_ask_at_fill_time(venue, clock, quotes):
    buy_calls(venue)
    quotes.set(CALL, 2.10, 2.20)
    settle(venue, clock)
    assert venue.account().cash == 10_000 - 660


def test_a_market_sell_fills_at_the_bid(venue, clock):
    holding_calls(venue, clock)
    order = venue.submit(CALL, 3, "sell", "market", "day")
    settle(venue, clock)
    assert venue.get_order(order.id).filled_avg_price == Decimal("2.05")
    assert venue.account().cash == 9355 + 615
    assert venue.positions() == []


def test_a_limit_buy_waits_as_new_until_the_ask_reaches_the_limit(venue, clock, quotes):
    order = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=2.10)
    settle(venue, clock)
    assert venue.get_order(order.id).status == "new"
    quotes.set(CALL, 2.05, 2.11)
    settle(venue, clock)
    assert venue.get_order(order.id).status == "new"
    quotes.set(CALL, 2.00, 2.08)  # below the limit: fills at the ask, min(2.10, 2.08)
    settle(venue, clock)
    filled = venue.get_order(order.id)
    assert filled.status == "filled"
    assert filled.filled_avg_price == Decimal("2.08")
    assert venue.account().cash == 10_000 - 624


def test_a_limit_buy_at_the_ask_fills_at_the_limit(venue, clock):
    order = venue.submit(CALL, 2, "buy", "limit", "day", limit_price=2.15)
    settle(venue, clock)
    assert venue.get_order(order.id).filled_avg_price == Decimal("2.15")
    assert venue.account().cash == 10_000 - 430


def test_a_limit_sell_waits_until_the_bid_reaches_it_then_takes_the_better_price(
    venue, clock, quotes
):
    holding_calls(venue, clock)
    order = venue.submit(CALL, 3, "sell", "limit", "day", limit_price=2.10)
    settle(venue, clock)
    assert venue.get_order(order.id).status == "new"
    quotes.set(CALL, 2.12, 2.20)  # max(2.10, 2.12)
    settle(venue, clock)
    filled = venue.get_order(order.id)
    assert filled.status == "filled"
    assert filled.filled_avg_price == Decimal("2.12")
    assert venue.account().cash == 9355 + 636


def test_fills_are_whole_whatever_the_quoted_size(venue, clock):
    order = venue.submit(STOCK, 25, "buy", "market", "day")  # the fake quotes size 1
    settle(venue, clock)
    filled = venue.get_order(order.id)
    assert filled.status == "filled"
    assert filled.filled_qty == 25
    assert venue.position(STOCK).qty == 25
    assert venue.account().cash == Decimal("5247.5")  # 10 000 - 25 x 190.10


def test_a_zero_ask_never_fills(venue, clock, quotes):
    order = venue.submit(CALL, 1, "buy", "market", "day")
    quotes.set(CALL, 0.0, 0.0)
    settle(venue, clock)
    assert venue.get_order(order.id).status == "new"
    assert venue.account().cash == 10_000


def test_a_buy_that_would_overdraw_cash_at_fill_time_is_rejected(venue, clock, quotes):
    order = venue.submit(STOCK, 50, "buy", "market", "day")  # reserves 9505
    quotes.set(STOCK, 209.90, 210.10)  # would cost 10 505
    settle(venue, clock)
    rejected = venue.get_order(order.id)
    assert rejected.status == "rejected"
    assert rejected.failed_at == clock.now
    assert venue.account().cash == venue.account().buying_power == 10_000
    assert venue.positions() == []


def test_fills_are_tried_in_acceptance_order(venue, clock, quotes):
    first = venue.submit(STOCK, 20, "buy", "market", "day").id  # reserves 3802
    second = venue.submit(STOCK, 20, "buy", "market", "day").id  # reserves 3802
    quotes.set(STOCK, 259.90, 260.10)  # each now costs 5202: one fits in 10 000, not both
    settle(venue, clock)
    assert venue.get_order(first).status == "filled"
    assert venue.get_order(second).status == "rejected"
    assert venue.account().cash == 10_000 - 5202


# -- options rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("qty", [1.5, "2.5", Decimal("0.1")])
def test_options_take_whole_contracts_only(venue, qty):
    refused(lambda: venue.submit(CALL, qty, "buy", "market", "day"), 422, 40010001, "integer")


def test_a_float_whole_number_of_contracts_is_fine(venue):
    assert venue.submit(CALL, 2.0, "buy", "market", "day").qty == 2


@pytest.mark.parametrize("tif", ["gtc", "ioc", "fok", "opg", "cls"])
def test_options_are_day_orders_only(venue, tif):
    refused(lambda: venue.submit(CALL, 1, "buy", "market", tif), 422, 42210000, tif)


def test_options_refuse_extended_hours(venue):
    refused(
        lambda: venue.submit(CALL, 1, "buy", "limit", "day", limit_price=2.15, extended_hours=True),
        422,
        42210000,
        "extended hours",
    )


def test_premium_times_100_times_qty_is_checked_against_buying_power(venue):
    venue.submit(CALL, 46, "buy", "market", "day")  # 46 x 215 = 9890: fits
    assert venue.account().options_buying_power == 110


def test_one_contract_too_many_is_insufficient_buying_power(venue):
    error = refused(
        lambda: venue.submit(CALL, 47, "buy", "market", "day"),
        403,
        40310000,
        "insufficient buying power",
    )
    assert error.extra == {"buying_power": "10000", "cost_basis": "10105"}


def test_open_orders_count_against_buying_power(venue):
    venue.submit(CALL, 40, "buy", "limit", "day", limit_price=2.00)  # reserves 8000
    error = refused(
        lambda: venue.submit(CALL, 10, "buy", "limit", "day", limit_price=2.01),
        403,
        40310000,
    )
    assert error.extra == {"buying_power": "2000", "cost_basis": "2010"}


def test_a_stock_buy_beyond_buying_power(venue):
    error = refused(lambda: venue.submit(STOCK, 53, "buy", "market", "day"), 403, 40310000)
    assert error.extra == {"buying_power": "10000", "cost_basis": "10075.3"}


def test_approval_level_1_cannot_buy_options_but_can_buy_stock(quotes, clock):
    venue = make_venue(quotes, clock, options_approved_level=1)
    refused(lambda: buy_calls(venue), 403, 40310000, "not eligible")
    assert venue.submit(STOCK, 1, "buy", "market", "day").status == "accepted"
    assert [entry["symbol"] for entry in venue.audit()] == [STOCK]


def test_approval_level_0_cannot_trade_options_at_all(quotes, clock):
    venue = make_venue(quotes, clock, options_approved_level=0)
    refused(lambda: venue.submit(CALL, 1, "sell", "market", "day"), 403, 40310000, "approved")


def test_an_expired_contract_is_refused(venue, clock):
    clock.now = datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK)  # its expiration close
    refused(lambda: buy_calls(venue), 422, 40010001, CALL, "not active")
    assert venue.audit() == []


def test_a_contract_on_its_last_minute_is_still_tradable(venue, clock):
    holding_calls(venue, clock, 1)  # a closing order: the 0DTE cutoff stops only opening ones
    clock.now = datetime(2026, 11, 20, 15, 59, tzinfo=NEW_YORK)
    assert venue.submit(CALL, 1, "sell", "market", "day").status == "accepted"


# -- client_order_id -------------------------------------------------------------------------


def test_client_order_id_is_unique(venue):
    venue.submit(CALL, 1, "buy", "market", "day", client_order_id="sf-1")
    error = refused(
        lambda: venue.submit(STOCK, 2, "buy", "market", "day", client_order_id="sf-1"),
        422,
        40010001,
    )
    assert error.message == "client_order_id must be unique"  # Alpaca's words, to the letter
    assert is_duplicate(OrderRejected("submit", error.status, error.code, error.message))
    assert len(venue.audit()) == 1


def test_client_order_id_stays_taken_after_cancel_and_after_fill(venue, clock):
    canceled = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.0, client_order_id="a")
    venue.cancel(canceled.id)
    venue.submit(CALL, 1, "buy", "market", "day", client_order_id="b")
    settle(venue, clock)
    for cid in ("a", "b"):
        refused(
            lambda cid=cid: venue.submit(CALL, 1, "buy", "market", "day", client_order_id=cid),
            422,
            40010001,
        )


def test_a_refused_order_does_not_take_its_client_order_id(venue):
    refused(lambda: buy_calls(venue, 100, client_order_id="sf-9"), 403, 40310000)
    assert buy_calls(venue, 1, client_order_id="sf-9")


def test_lookup_by_client_order_id(venue):
    order = venue.submit(CALL, 1, "buy", "market", "day", client_order_id="sf-look")
    found = venue.get_order_by_client_id("sf-look")
    assert found.id == order.id
    assert found.client_order_id == "sf-look"
    assert venue.get_order(order.id).client_order_id == "sf-look"


def test_unknown_orders_are_404(venue):
    refused(lambda: venue.get_order_by_client_id("never-sent"), 404, 40410000, "order not found")
    refused(lambda: venue.get_order("00000000-0000-4000-8000-000000000000"), 404, 40410000)


def test_a_missing_client_order_id_is_generated_and_unique(venue):
    first, second = buy_calls(venue, 1), buy_calls(venue, 1)
    cids = [venue.get_order(first).client_order_id, venue.get_order(second).client_order_id]
    assert all(cids)
    assert cids[0] != cids[1]
    assert venue.get_order_by_client_id(cids[1]).id == second


# -- sells: no shorting ----------------------------------------------------------------------


def test_selling_what_is_not_held_is_forbidden(venue):
    error = refused(
        lambda: venue.submit(STOCK, 1, "sell", "market", "day"), 403, 40310000, "insufficient qty"
    )
    assert error.extra["available"] == "0"


def test_selling_more_than_held_is_forbidden(venue, clock):
    holding_calls(venue, clock)
    error = refused(lambda: venue.submit(CALL, 4, "sell", "market", "day"), 403, 40310000)
    assert error.extra["available"] == "3"


def test_quantity_offered_by_an_open_sell_is_not_available_again(venue, clock):
    holding_calls(venue, clock)
    venue.submit(CALL, 2, "sell", "limit", "day", limit_price=9.00)
    assert venue.position(CALL).qty_available == 1
    error = refused(lambda: venue.submit(CALL, 2, "sell", "market", "day"), 403, 40310000)
    assert (error.extra["available"], error.extra["held_for_orders"]) == ("1", "2")
    assert venue.submit(CALL, 1, "sell", "market", "day").status == "accepted"


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_an_open_order(venue, clock):
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00)
    clock.advance(5)
    canceled = venue.cancel(order.id)
    assert canceled.status == "canceled"
    assert canceled.canceled_at == clock.now
    assert [o.id for o in venue.list_orders("closed")] == [order.id]
    assert venue.list_orders("open") == []
    settle(venue, clock)
    assert venue.get_order(order.id).status == "canceled"


def test_cancel_of_a_filled_order_is_422(venue, clock):
    order = buy_calls(venue)
    settle(venue, clock)
    refused(lambda: venue.cancel(order), 422, 42210000, '"filled"')
    refused(lambda: venue.cancel("no-such-order"), 404, 40410000)


def test_cancel_twice_is_422(venue):
    order = buy_calls(venue)
    venue.cancel(order)
    refused(lambda: venue.cancel(order), 422, 42210000, '"canceled"')


def test_cancel_all_cancels_every_open_order_and_nothing_else(venue, clock):
    filled = buy_calls(venue, 1)
    settle(venue, clock)
    a = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=1.00).id
    b = venue.submit(CALL, 1, "sell", "limit", "day", limit_price=9.00).id
    c = venue.submit(STOCK, 1, "buy", "limit", "gtc", limit_price=100).id
    assert venue.account().buying_power == 9785 - 300 - 100
    assert venue.cancel_all() == [(a, 200), (b, 200), (c, 200)]
    assert {venue.get_order(i).status for i in (a, b, c)} == {"canceled"}
    assert venue.get_order(filled).status == "filled"
    assert venue.account().buying_power == 9785
    assert venue.cancel_all() == []


# -- close_position --------------------------------------------------------------------------


def test_close_all_of_a_position(venue, clock):
    holding_calls(venue, clock)
    order = venue.close_position(CALL)
    assert (order.side, order.type, order.time_in_force) == ("sell", "market", "day")
    assert order.qty == 3
    assert order.position_intent == "sell_to_close"
    settle(venue, clock)
    assert venue.positions() == []
    assert venue.account().cash == 9355 + 615


def test_close_part_of_a_position_by_qty(venue, clock):
    holding_calls(venue, clock)
    assert venue.close_position(CALL, qty=1).qty == 1
    settle(venue, clock)
    position = venue.position(CALL)
    assert position.qty == 2
    assert position.cost_basis == 430
    assert venue.account().cash == 9355 + 205


@pytest.mark.parametrize(("percentage", "qty"), [(50, 1), (66.7, 2), (100, 3), ("34", 1)])
def test_close_by_percentage_rounds_contracts_down(venue, clock, percentage, qty):
    holding_calls(venue, clock)
    assert venue.close_position(CALL, percentage=percentage).qty == qty


def test_close_by_percentage_of_shares_keeps_fractions(venue, clock):
    venue.submit(STOCK, 10, "buy", "market", "day")
    settle(venue, clock)
    assert venue.close_position(STOCK, percentage=25).qty == Decimal("2.5")


def test_close_position_refusals(venue, clock):
    refused(lambda: venue.close_position(CALL), 404, 40410000, "position not found")
    holding_calls(venue, clock)
    before = state(venue)
    refused(lambda: venue.close_position(CALL, qty=1, percentage=50), 422, 40010001, "not both")
    refused(lambda: venue.close_position(CALL, qty=4), 403, 40310000, "insufficient qty")
    refused(lambda: venue.close_position(CALL, qty=1.5), 422, 40010001, "integer")
    refused(lambda: venue.close_position(CALL, percentage=10), 422, 40010001, "less than one")
    refused(lambda: venue.close_position(CALL, percentage=150), 422, 40010001, "percentage")
    refused(lambda: venue.close_position(CALL, percentage=0), 422, 40010001, "percentage")
    assert state(venue) == before


def test_close_position_counts_what_open_sells_hold(venue, clock):
    holding_calls(venue, clock)
    venue.submit(CALL, 2, "sell", "limit", "day", limit_price=9.00)
    refused(lambda: venue.close_position(CALL), 403, 40310000, "available: 1")


# -- audit and determinism -------------------------------------------------------------------


def test_audit_lists_every_accepted_order_once_in_acceptance_order(venue, clock):
    first = venue.submit(CALL, 3, "buy", "market", "day", client_order_id="sf-1")
    refused(
        lambda: venue.submit(CALL, 1, "buy", "market", "gtc", client_order_id="sf-x"), 422, 42210000
    )
    second = venue.submit(STOCK, 1, "buy", "limit", "gtc", limit_price=150, client_order_id="sf-2")
    refused(
        lambda: venue.submit(STOCK, 1, "buy", "market", "day", client_order_id="sf-1"),
        422,
        40010001,
    )
    settle(venue, clock)
    venue.cancel(second.id)
    closing = venue.close_position(CALL)
    audit = venue.audit()
    assert [entry["id"] for entry in audit] == [first.id, second.id, closing.id]
    assert [entry["client_order_id"] for entry in audit] == [
        "sf-1",
        "sf-2",
        closing.client_order_id,
    ]
    arrived = datetime.fromisoformat(audit[1].pop("received_at"))  # the wall clock's
    assert arrived.tzinfo is not None
    assert audit[1] == {
        "id": second.id,
        "client_order_id": "sf-2",
        "symbol": STOCK,
        "side": "buy",
        "qty": "1",
        "type": "limit",
        "time_in_force": "gtc",
        "limit_price": "150",
        "submitted_at": "2026-11-19T15:00:00Z",
    }
    audit.clear()
    assert len(venue.audit()) == 3  # a copy


def script(venue: Venue, clock: FakeClock, quotes: FakeQuotes) -> list[Any]:
    ids = [buy_calls(venue, 2), venue.submit(STOCK, 5, "buy", "limit", "gtc", limit_price=150).id]
    settle(venue, clock)
    ids.append(venue.close_position(CALL, qty=1).id)
    ids.append(venue.submit(STOCK, 1, "buy", "market", "day", client_order_id="mine").id)
    venue.cancel(ids[1])
    quotes.set(CALL, 2.50, 2.60)
    settle(venue, clock)
    orders = [venue.get_order(i) for i in ids]
    return [ids, orders, simulated_audit(venue), venue.activities(), state(venue)]


def test_the_same_calls_give_the_same_ids(quotes, clock):
    first = script(make_venue(quotes, clock), clock, quotes)
    again_quotes, again_clock = FakeQuotes(), FakeClock()
    again = script(make_venue(again_quotes, again_clock), again_clock, again_quotes)
    assert first == again
    assert len(set(first[0])) == 4


# -- bad input -------------------------------------------------------------------------------

GOOD = {
    "symbol": CALL,
    "qty": 1,
    "side": "buy",
    "type": "limit",
    "time_in_force": "day",
    "limit_price": 2.20,
    "client_order_id": "sf-bad",
}


@pytest.mark.parametrize(
    ("changes", "status", "code", "named"),
    [
        ({"qty": float("nan")}, 422, 40010001, "qty must be a finite number"),
        ({"qty": float("inf")}, 422, 40010001, "qty must be a finite number"),
        ({"qty": Decimal("NaN")}, 422, 40010001, "qty must be a finite number"),
        ({"qty": -1}, 422, 40010001, "qty must be > 0"),
        ({"qty": 0}, 422, 40010001, "qty must be > 0"),
        ({"qty": "ten"}, 422, 40010001, "qty must be a number"),
        ({"qty": "1e3"}, 422, 40010001, "qty must be a number"),
        ({"qty": ""}, 422, 40010001, "qty must be a number"),
        ({"qty": True}, 422, 40010001, "qty must be a number"),
        ({"qty": None}, 422, 40010001, "qty must be a number"),
        ({"qty": [1]}, 422, 40010001, "qty must be a number"),
        ({"qty": 1e300}, 422, 40010001, "qty"),
        ({"qty": 10**5000}, 422, 40010001, "qty"),
        ({"qty": Decimal("1E+999999")}, 422, 40010001, "qty"),
        ({"qty": 1e30}, 403, 40310000, "insufficient buying power"),
        ({"symbol": STOCK, "qty": Decimal("1E-10")}, 422, 40010001, "decimal places"),
        ({"limit_price": float("nan")}, 422, 40010001, "limit_price must be a finite number"),
        ({"limit_price": "cheap"}, 422, 40010001, "limit_price must be a number"),
        ({"limit_price": False}, 422, 40010001, "limit_price must be a number"),
        ({"limit_price": -2}, 422, 40010001, "limit_price must be > 0"),
        ({"limit_price": None}, 422, 40010001, "limit_price is required"),
        ({"limit_price": Decimal("1E+999998"), "qty": 1000}, 422, 40010001, "limit_price"),
        ({"limit_price": 2.155}, 422, 42210000, "sub-penny"),
        ({"type": "market"}, 422, 40010001, "limit_price must not be given"),
        ({"side": "hold"}, 422, 40010001, "invalid side hold"),
        ({"side": "BUY"}, 422, 40010001, "invalid side"),
        ({"side": True}, 422, 40010001, "invalid side"),
        ({"type": "stop"}, 422, 40010001, "invalid order type stop"),
        ({"type": None}, 422, 40010001, "invalid order type"),
        ({"time_in_force": "forever"}, 422, 40010001, "invalid time_in_force forever"),
        ({"extended_hours": "yes"}, 422, 40010001, "extended_hours must be a boolean"),
        ({"position_intent": "sell_to_close"}, 422, 40010001, "does not match side"),
        ({"position_intent": "hodl"}, 422, 40010001, "invalid position_intent"),
        ({"symbol": "AAPL261120X00190000"}, 422, 40010001, "invalid OCC symbol"),
        ({"symbol": "AAPL261131C00190000"}, 422, 40010001, "not a real date"),
        ({"symbol": "AAPL2611C00190000"}, 422, 40010001, "invalid OCC symbol"),
        ({"symbol": "TOOLONGROOT261120C00190000"}, 422, 40010001, "invalid OCC symbol"),
        ({"symbol": "aapl261120c00190000"}, 422, 40010001, "lowercase"),
        ({"symbol": ""}, 422, 40010001, "symbol is required"),
        ({"symbol": None}, 422, 40010001, "symbol is required"),
        ({"symbol": "ZZZZ"}, 422, 40010001, "asset ZZZZ not found"),
        ({"symbol": "AAPL261120C00999000"}, 422, 40010001, "AAPL261120C00999000 not found"),
        ({"client_order_id": "x" * 129}, 422, 40010001, "client_order_id"),
        ({"client_order_id": ""}, 422, 40010001, "client_order_id"),
        ({"client_order_id": 7}, 422, 40010001, "client_order_id"),
    ],
)
def test_bad_input_is_refused_by_name_and_changes_nothing(venue, changes, status, code, named):
    venue.submit(CALL, 2, "buy", "limit", "day", limit_price=2.00, client_order_id="sf-before")
    before = state(venue)
    ticket = {**GOOD, **changes}
    error = refused(lambda: venue.submit(**ticket), status, code, named)
    assert len(error.message) < 200
    # Alpaca's code for a duplicate, but not its message: the adapter must not take it for one.
    assert not is_duplicate(OrderRejected("submit", error.status, error.code, error.message))
    assert state(venue) == before
    # The refused order took nothing, not even its client_order_id.
    accepted = venue.submit(CALL, 1, "buy", "market", "day", client_order_id="sf-bad")
    assert (accepted.client_order_id, accepted.status) == ("sf-bad", "accepted")


# -- threads ---------------------------------------------------------------------------------


def test_concurrent_submissions_give_one_order_per_client_order_id(venue, quotes):
    quotes.yield_thread = True
    threads, shared, own = 8, 30, 10
    barrier = threading.Barrier(threads)
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        cids = [f"shared-{i}" for i in range(shared)] + [f"own-{n}-{i}" for i in range(own)]
        barrier.wait()
        for cid in cids:
            try:
                venue.submit(STOCK, 1, "buy", "limit", "gtc", limit_price=1.00, client_order_id=cid)
                outcome = "accepted"
            except VenueError as error:
                outcome = str(error.code)
            with lock:
                outcomes.append((cid, outcome))

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    accepted = [cid for cid, outcome in outcomes if outcome == "accepted"]
    assert sorted(accepted) == sorted(
        [f"shared-{i}" for i in range(shared)]
        + [f"own-{n}-{i}" for n in range(threads) for i in range(own)]
    )
    assert {outcome for _, outcome in outcomes if outcome != "accepted"} == {"40010001"}
    audit = venue.audit()
    assert len(audit) == len(accepted) == shared + threads * own
    assert len({entry["id"] for entry in audit}) == len(audit)
    assert venue.account().buying_power == 10_000 - len(accepted)
