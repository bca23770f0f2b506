"""The paper venue's order life: partial fills, pending cancels, replacement, and the
activity log's query. Against the Venue directly, with the hand-written quotes and clock of
test_sim_venue (cash 10 000; the call's ask 2.15 x 100 = 215 a contract)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from strikeflow.cli import _parser, main
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.sim.venue import Venue
from tests.unit.test_sim_venue import (
    CALL,
    START,
    STOCK,
    FakeClock,
    FakeQuotes,
    holding_calls,
    make_venue,
    refused,
    settle,
)
from tests.unit.test_sim_venue_expiry import FRIDAY_CLOSE, THURSDAY_CLOSE

ACTIVITY_ID = re.compile(
    r"\d{17}::[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


@pytest.fixture
def quotes() -> FakeQuotes:
    return FakeQuotes()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def venue(quotes, clock) -> Venue:
    return make_venue(quotes, clock)


def partial(quotes: FakeQuotes, clock: FakeClock, seed: int = 7, **more) -> Venue:
    """Every fill of two units or more takes only part of what is left."""
    return make_venue(quotes, clock, partial_fill_rate=1.0, seed=seed, **more)


# -- partial fills ---------------------------------------------------------------------------


def test_a_partial_fill_leaves_the_rest_working_and_averages_the_price(quotes, clock):
    venue = partial(quotes, clock)
    order = venue.submit(CALL, 10, "buy", "market", "day")
    settle(venue, clock)
    first = venue.get_order(order.id)
    assert first.status == "partially_filled"
    assert 1 <= first.filled_qty <= 9
    assert first.filled_avg_price == Decimal("2.15")
    assert venue.position(CALL).qty == first.filled_qty
    cash = 10_000 - 215 * first.filled_qty
    assert venue.account().cash == cash
    assert venue.account().buying_power == cash - 215 * (10 - first.filled_qty)  # still reserved

    quotes.set(CALL, 2.15, 2.25)
    for _ in range(20):
        if venue.get_order(order.id).status == "filled":
            break
        settle(venue, clock)
    done = venue.get_order(order.id)
    assert done.status == "filled"
    assert done.filled_qty == 10
    rest = 10 - first.filled_qty
    paid = Decimal("2.15") * first.filled_qty + Decimal("2.25") * rest
    assert done.filled_avg_price == (paid / 10).quantize(Decimal("1e-9")).normalize()
    assert venue.account().cash == 10_000 - 100 * paid
    assert venue.account().buying_power == venue.account().cash

    fills = venue.activities()
    assert [f["type"] for f in fills] == ["partial_fill"] * (len(fills) - 1) + ["fill"]
    assert sum(int(f["qty"]) for f in fills) == 10
    cum = 0
    for f in fills:
        cum += int(f["qty"])
        assert (f["cum_qty"], f["leaves_qty"], f["order_id"]) == (str(cum), str(10 - cum), order.id)
    assert [f["order_status"] for f in fills][-1] == "filled"
    assert {f["order_status"] for f in fills[:-1]} <= {"partially_filled"}


def test_the_rest_of_a_partial_fill_waits_for_the_next_process(quotes, clock):
    venue = partial(quotes, clock)
    order = venue.submit(CALL, 10, "buy", "market", "day")
    venue.process(THURSDAY_CLOSE - timedelta(hours=1))  # one call, however far it jumps
    assert len(venue.activities()) == 1
    assert venue.get_order(order.id).status == "partially_filled"


def test_one_unit_left_always_fills_whole(quotes, clock):
    venue = partial(quotes, clock)
    order = venue.submit(CALL, 1, "buy", "market", "day")
    settle(venue, clock)
    assert venue.get_order(order.id).status == "filled"


def test_partial_fills_come_at_the_rate_asked_and_repeat_under_a_seed(quotes):
    def run(seed: int, rate: float) -> list[Decimal]:
        clock = FakeClock()
        venue = make_venue(quotes, clock, cash=10**8, partial_fill_rate=rate, seed=seed)
        ids = [venue.submit(STOCK, 10, "buy", "market", "gtc").id for _ in range(400)]
        settle(venue, clock)
        return [venue.get_order(i).filled_qty for i in ids]

    first = run(42, 0.1)
    share = sum(q < 10 for q in first) / len(first)
    assert 0.05 <= share <= 0.16, share
    assert run(42, 0.1) == first
    assert run(43, 0.1) != first
    assert all(q == 10 for q in run(42, 0.0))


def test_the_partial_fill_rate_must_be_a_probability(quotes, clock):
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="partial_fill_rate"):
            make_venue(quotes, clock, partial_fill_rate=bad)


def test_a_partly_filled_day_order_expires_at_the_close_keeping_its_fills(quotes, clock):
    venue = partial(quotes, clock)
    order = venue.submit(CALL, 10, "buy", "limit", "day", limit_price=2.20)
    settle(venue, clock)
    filled = venue.get_order(order.id).filled_qty
    assert 0 < filled < 10
    quotes.set(CALL, 2.40, 2.50)  # no longer crosses
    venue.process(THURSDAY_CLOSE)
    ended = venue.get_order(order.id)
    assert (ended.status, ended.expired_at, ended.filled_qty) == ("expired", THURSDAY_CLOSE, filled)
    account = venue.account()
    assert account.buying_power == account.cash == 10_000 - 215 * filled
    assert venue.position(CALL).qty == filled


# -- cancel ----------------------------------------------------------------------------------


def test_a_cancel_of_a_working_order_is_pending_until_the_next_process(venue, clock, quotes):
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00)
    settle(venue, clock)
    assert venue.get_order(order.id).status == "new"
    assert venue.cancel(order.id).status == "pending_cancel"
    assert venue.cancel(order.id).status == "pending_cancel"  # asked again: the same answer
    assert [o.id for o in venue.list_orders("open")] == [order.id]
    assert venue.account().buying_power == 10_000 - 100  # still reserved
    quotes.set(CALL, 0.80, 0.90)  # it would cross now: a pending cancel fills no more
    settle(venue, clock)
    canceled = venue.get_order(order.id)
    assert (canceled.status, canceled.canceled_at, canceled.filled_qty) == (
        "canceled",
        clock.now,
        0,
    )
    assert venue.account().buying_power == 10_000
    assert venue.activities() == []
    refused(lambda: venue.cancel(order.id), 422, 42210000, '"canceled"')


def test_a_cancel_of_an_order_not_yet_tried_is_at_once(venue):
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00)
    assert venue.cancel(order.id).status == "canceled"


def test_a_cancel_of_a_partly_filled_order_keeps_its_fills(quotes, clock):
    venue = partial(quotes, clock)
    order = venue.submit(CALL, 10, "buy", "limit", "day", limit_price=2.20)
    settle(venue, clock)
    filled = venue.get_order(order.id).filled_qty
    assert venue.cancel(order.id).status == "pending_cancel"
    settle(venue, clock)
    ended = venue.get_order(order.id)
    assert (ended.status, ended.filled_qty) == ("canceled", filled)
    assert venue.account().buying_power == venue.account().cash == 10_000 - 215 * filled


def test_cancel_all_puts_working_orders_in_pending_cancel(venue, clock):
    working = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00).id
    settle(venue, clock)
    fresh = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00).id
    assert venue.cancel_all() == [(working, 200), (fresh, 200)]
    assert venue.get_order(working).status == "pending_cancel"
    assert venue.get_order(fresh).status == "canceled"
    venue.process()
    assert venue.get_order(working).status == "canceled"


# -- replace ---------------------------------------------------------------------------------


def test_replace_makes_a_new_order_and_ends_the_old_one_replaced(venue, clock):
    old = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=1.00, client_order_id="a")
    settle(venue, clock)
    assert venue.account().buying_power == 10_000 - 300
    new = venue.replace(old.id, qty=5, limit_price="1.10", client_order_id="b")
    assert new.id != old.id
    assert (new.replaces, new.replaced_by, new.status) == (old.id, None, "accepted")
    assert (new.qty, new.limit_price, new.client_order_id) == (5, Decimal("1.1"), "b")
    assert (new.symbol, new.side, new.type, new.time_in_force) == (CALL, "buy", "limit", "day")
    ended = venue.get_order(old.id)
    assert (ended.status, ended.replaced_by, ended.replaced_at) == ("replaced", new.id, clock.now)
    assert ended.replaces is None
    assert venue.account().buying_power == 10_000 - 550  # the reserve follows the new order
    assert [o.id for o in venue.list_orders("open")] == [new.id]
    assert venue.get_order_by_client_id("a").id == old.id
    assert venue.get_order_by_client_id("b").id == new.id
    assert [e["id"] for e in venue.audit()] == [old.id, new.id]


def test_a_replacement_works_like_any_order(venue, clock, quotes):
    old = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=1.00)
    new = venue.replace(old.id, limit_price=2.20)
    assert new.client_order_id not in (None, old.client_order_id)
    settle(venue, clock)
    filled = venue.get_order(new.id)
    assert (filled.status, filled.filled_qty, filled.filled_avg_price) == (
        "filled",
        3,
        Decimal("2.15"),
    )
    assert venue.account().cash == 10_000 - 645


def test_a_replace_reusing_a_client_order_id_is_the_duplicate(venue):
    old = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=1.00, client_order_id="a")
    refused(lambda: venue.replace(old.id, qty=4, client_order_id="a"), 422, 40010001, "unique")
    assert venue.get_order(old.id).status == "accepted"


@pytest.mark.parametrize("ending", ["filled", "canceled", "expired", "replaced"])
def test_an_order_that_ended_cannot_be_replaced(venue, clock, ending):
    if ending == "filled":
        order = venue.submit(CALL, 1, "buy", "market", "day").id
        settle(venue, clock)
    else:
        order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00).id
        if ending == "canceled":
            venue.cancel(order)
        elif ending == "expired":
            venue.process(THURSDAY_CLOSE)
        else:
            venue.replace(order, qty=2)
    assert venue.get_order(order).status == ending
    refused(lambda: venue.replace(order, qty=3), 422, 42210000, f'"{ending}"')
    refused(lambda: venue.replace("no-such-order", qty=3), 404, 40410000)


def test_an_order_pending_cancel_cannot_be_replaced(venue, clock):
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price=1.00).id
    settle(venue, clock)
    venue.cancel(order)
    refused(lambda: venue.replace(order, qty=3), 422, 42210000, "pending_cancel")


def test_a_replacement_carries_what_filled_and_must_exceed_it(quotes, clock):
    venue = partial(quotes, clock)
    old = venue.submit(CALL, 10, "buy", "limit", "day", limit_price=2.20)
    settle(venue, clock)
    filled = venue.get_order(old.id).filled_qty
    refused(lambda: venue.replace(old.id, qty=filled), 422, 40010001, "filled qty")
    new = venue.replace(old.id, qty=12)
    assert (new.qty, new.filled_qty, new.filled_avg_price) == (12, filled, Decimal("2.15"))
    assert venue.account().buying_power == 10_000 - 215 * filled - 220 * (12 - filled)
    for _ in range(20):
        settle(venue, clock)
    done = venue.get_order(new.id)
    assert (done.status, done.filled_qty) == ("filled", 12)
    assert venue.position(CALL).qty == 12
    assert venue.activities()[-1]["cum_qty"] == "12"


def test_a_replacement_beyond_buying_power_is_refused_and_the_order_stands(venue):
    old = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=1.00)
    refused(lambda: venue.replace(old.id, qty=101), 403, 40310000, "buying power")
    assert venue.replace(old.id, qty=100).qty == 100  # 100 x 100: all of the cash, freed by old
    assert venue.account().buying_power == 0


def test_a_replaced_sell_counts_what_it_held(venue, clock):
    holding_calls(venue, clock, 3)
    sell = venue.submit(CALL, 2, "sell", "limit", "day", limit_price=9.00)
    refused(lambda: venue.replace(sell.id, qty=4), 403, 40310000, "insufficient qty")
    assert venue.replace(sell.id, qty=3).qty == 3
    refused(lambda: venue.replace(sell.id, limit_price=1), 422, 42210000)


def test_replace_refusals_name_the_problem(venue):
    old = venue.submit(CALL, 3, "buy", "limit", "day", limit_price=1.00)
    market = venue.submit(CALL, 1, "buy", "market", "day")
    refused(lambda: venue.replace(old.id), 422, 40010001, "qty")
    refused(lambda: venue.replace(old.id, qty=0), 422, 40010001, "qty")
    refused(lambda: venue.replace(old.id, limit_price=-1), 422, 40010001, "limit_price")
    refused(lambda: venue.replace(old.id, time_in_force="gtc"), 422, 42210000, "day")
    refused(lambda: venue.replace(market.id, limit_price=1), 422, 40010001, "market")
    assert venue.get_order(old.id).status == "accepted"


# -- activities ------------------------------------------------------------------------------


def three_activities(quotes: FakeQuotes, clock: FakeClock) -> tuple[Venue, list[dict]]:
    """FILL Thursday 10:00:01, FILL 10:01:01, OPEXP at Friday's close."""
    venue = make_venue(quotes, clock)
    holding_calls(venue, clock, 3)
    clock.advance(59)
    venue.submit(CALL, 1, "sell", "market", "day")
    settle(venue, clock)
    quotes.settlement[("AAPL", date(2026, 11, 20))] = 185.0
    venue.process(FRIDAY_CLOSE)
    return venue, venue.activities()


def test_activities_carry_alpacas_fields_and_stable_ids(quotes, clock):
    venue, (buy, sell, expiry) = three_activities(quotes, clock)
    assert buy["id"].startswith("20261119100001000::")
    assert all(ACTIVITY_ID.fullmatch(a["id"]) for a in (buy, sell, expiry))
    assert set(buy) == {
        "id", "account_id", "activity_type", "transaction_time", "type", "price", "qty",
        "side", "symbol", "leaves_qty", "order_id", "cum_qty", "order_status",
    }  # fmt: skip
    assert (sell["side"], sell["qty"], sell["price"], sell["type"]) == ("sell", "1", "2.05", "fill")
    assert expiry == {
        "id": expiry["id"],
        "account_id": buy["account_id"],
        "activity_type": "OPEXP",
        "date": "2026-11-20",
        "net_amount": "0",
        "description": f"{CALL} expired worthless",
        "status": "executed",
        "symbol": CALL,
        "qty": "2",
        "price": None,
        "per_share_amount": None,
    }
    again, _ = three_activities(FakeQuotes(), FakeClock())
    assert [a["id"] for a in again.activities()] == [a["id"] for a in venue.activities()]


def test_the_activities_query(quotes, clock):
    venue, (buy, sell, expiry) = three_activities(quotes, clock)
    ids = lambda rows: [a["id"] for a in rows]  # noqa: E731
    assert ids(venue.account_activities()) == ids([expiry, sell, buy])
    assert ids(venue.account_activities(direction="asc")) == ids([buy, sell, expiry])
    assert ids(venue.account_activities(["FILL"])) == ids([sell, buy])
    assert ids(venue.account_activities(["OPEXP", "OPEXC"])) == ids([expiry])
    assert ids(venue.account_activities(on=date(2026, 11, 20))) == ids([expiry])
    assert ids(venue.account_activities(after=START + timedelta(seconds=30))) == ids([expiry, sell])
    assert ids(venue.account_activities(until=START + timedelta(seconds=30))) == ids([buy])
    first = venue.account_activities(page_size=2)
    assert ids(first) == ids([expiry, sell])
    assert ids(venue.account_activities(page_size=2, page_token=first[-1]["id"])) == ids([buy])
    refused(lambda: venue.account_activities(page_token="nope"), 422, 40010001, "page_token")
    refused(lambda: venue.account_activities(direction="up"), 422, 40010001, "direction")
    refused(lambda: venue.account_activities(page_size=101), 422, 40010001, "page_size")
    refused(
        lambda: venue.account_activities(on=date(2026, 11, 20), after=START),
        422, 40010001, "date",
    )  # fmt: skip


# -- the emulator's flag and option ----------------------------------------------------------


@pytest.mark.parametrize("text", ["-0.1", "1.01", "nan", "ten", ""])
def test_a_bad_partial_fill_rate_flag_is_a_usage_error(text, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["emulator", "--partial-fill-rate", text])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "--partial-fill-rate" in err
    assert "Traceback" not in err


def test_the_partial_fill_rate_flag_and_option():
    args = _parser().parse_args(["emulator", "--partial-fill-rate", "0.25"])
    assert args.partial_fill_rate == 0.25
    assert _parser().parse_args(["emulator"]).partial_fill_rate == 0.1
    assert EmulatorOptions().partial_fill_rate == 0.1
    with pytest.raises(ValueError, match="partial_fill_rate"):
        EmulatorOptions(partial_fill_rate=2)
