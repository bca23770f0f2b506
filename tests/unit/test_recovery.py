"""recover() over the dispatch fakes: stale recommendations reach their chain or state."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderType,
    PositionEffect,
    RecommendationStatus,
    Right,
)
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import BrokerOrder
from strikeflow.services import chain_sending, recovery
from strikeflow.services.adoption import end_chain
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.dispatch_steps import (
    fetch_chain,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from strikeflow.services.messages import PlacedOrder, SizedOrder
from strikeflow.services.outcomes import persist_execution
from strikeflow.services.recovery import recover
from tests.integration.record_factories import recommendation
from tests.unit.factories import NOW, contract
from tests.unit.fakes_dispatch import OrderBook, make_context
from tests.unit.step_messages import through_json

LATER = NOW + timedelta(minutes=10)


def listed() -> list:
    """Calls and puts on XYZ, 0, 1 and 10 DTE, strikes 80-120."""
    return [
        contract(k, dte=dte, right=right)
        for dte in (0, 1, 10)
        for right in (Right.CALL, Right.PUT)
        for k in range(80, 121)
    ]


def sized(ctx, rid: str) -> SizedOrder:
    """The chain's first four steps in-process, each message through JSON as Celery
    carries it: what submit_order is handed."""
    message = through_json(fetch_chain(ctx, rid))
    for step in (select_contract, snapshot_price, size_position):
        message = through_json(step(ctx, message))
    return message


def placed(ctx, rid: str) -> PlacedOrder:
    """The chain up to the venue's accept: what persist_execution is handed."""
    return through_json(submit_order(ctx, sized(ctx, rid)))


class Pending:
    """The one read recover() needs, over the fake store's recommendations."""

    def __init__(self, store) -> None:
        self.store = store

    def pending(self, limit: int = 1_000):
        active = [r for r in self.store.recs.values() if not r.status.terminal]
        return sorted(active, key=lambda r: r.created_at)[:limit]


class Chains:
    """send_chain: runs the six steps in-process, as a redelivered chain would."""

    def __init__(self, ctx) -> None:
        self.ctx, self.sent = ctx, []

    def __call__(self, rid: str) -> None:
        self.sent.append(rid)
        persist_execution(self.ctx, placed(self.ctx, rid))


def world(*rids: str, status=RecommendationStatus.DISPATCHED, at=NOW):
    ctx, market, store, _switch, broker = make_context(listed())
    market.quote_stock("XYZ", "100")
    for rid in rids:
        rec = recommendation(rid, ticker="XYZ", created_at=at, updated_at=at)
        store.add(replace(rec, status=status))
    return ctx, store, broker, Chains(ctx)


def test_lost_chains_are_sent_again_and_end_terminal():
    ctx, store, _broker, chains = world("r-1", "r-2")
    report = recover(ctx, Pending(store), chains, min_age_s=60, now=LATER)
    assert report.redriven == ["r-1", "r-2"]
    assert chains.sent == ["r-1", "r-2"]
    assert {store.recs[r].status for r in ("r-1", "r-2")} == {RecommendationStatus.EXECUTED}
    assert len(store.executions) == 2


def test_a_pending_recommendation_gets_its_chain_then_is_marked_dispatched():
    """Sent first, marked after: a chain sent but never marked stays pending, where the
    next recovery finds it (a mark without a chain could not be told from one in flight)."""
    ctx, store, _broker, _chains = world("r-1", status=RecommendationStatus.PENDING)
    seen = []
    report = recover(
        ctx, Pending(store), lambda rid: seen.append(store.recs[rid].status), now=LATER
    )
    assert seen == [RecommendationStatus.PENDING]
    assert store.recs["r-1"].status is RecommendationStatus.DISPATCHED
    assert report.redriven == ["r-1"]


def test_a_pending_recommendation_whose_chain_cannot_be_sent_stays_pending():
    ctx, store, _broker, _chains = world("r-1", status=RecommendationStatus.PENDING)

    def broker_down(rid: str) -> None:
        raise ConnectionError("the broker refused the connection")

    with pytest.raises(ConnectionError):
        recover(ctx, Pending(store), broker_down, now=LATER)
    assert store.recs["r-1"].status is RecommendationStatus.PENDING
    assert store.status_writes == 0


def test_recovery_sends_and_marks_through_the_one_implementation(monkeypatch):
    ctx, store, _broker, chains = world("r-1", status=RecommendationStatus.PENDING)
    used = []

    def recorded_send_and_mark(writer, send_chain, rid):
        used.append(rid)
        return chain_sending.send_and_mark(writer, send_chain, rid)

    monkeypatch.setattr(recovery, "send_and_mark", recorded_send_and_mark)
    recover(ctx, Pending(store), chains, now=LATER)
    assert used == ["r-1"]
    assert chains.sent == ["r-1"]


class StatusLog:
    """A status writer that records each write beside the sends, in order."""

    def __init__(self, events: list) -> None:
        self.events = events

    def set_status(self, recommendation_id, status):
        self.events.append(("marked", recommendation_id, status))


def test_send_and_mark_sends_first_and_returns_what_the_sender_returned():
    events: list = []

    def send(rid: str) -> str:
        events.append(("sent", rid))
        return f"chain-of-{rid}"

    out = chain_sending.send_and_mark(StatusLog(events), send, "r-1")
    assert out == "chain-of-r-1"
    assert events == [("sent", "r-1"), ("marked", "r-1", RecommendationStatus.DISPATCHED)]


def test_an_order_the_venue_accepted_without_a_row_is_adopted_not_placed_again():
    ctx, store, broker, chains = world("r-1")
    # The crash: submit_order placed the order, the worker died before persist_execution.
    order = placed(ctx, "r-1").order
    assert store.executions == {}

    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.adopted == ["r-1"]
    assert report.redriven == []
    assert chains.sent == []
    row = store.executions[client_order_id_for("r-1")]
    assert row.broker_order_id == order.id
    assert row.option_symbol == order.symbol
    assert row.contracts == int(order.qty)
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED
    assert repr(broker) == "SimulatedBroker(orders=1, reason='unit test')"


def test_a_row_without_its_status_settles_without_a_chain():
    ctx, store, _broker, chains = world("r-1")
    Chains(ctx)("r-1")
    store.recs["r-1"] = replace(store.recs["r-1"], status=RecommendationStatus.DISPATCHED)
    chains.sent.clear()
    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.settled == ["r-1"]
    assert chains.sent == []
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED


def test_recent_recommendations_are_left_to_their_chain():
    ctx, store, _broker, chains = world("r-1")
    report = recover(ctx, Pending(store), chains, min_age_s=60, now=NOW + timedelta(seconds=30))
    assert report.in_flight == 1
    assert chains.sent == []
    assert store.recs["r-1"].status is RecommendationStatus.DISPATCHED


def test_terminal_recommendations_are_not_touched():
    ctx, store, _broker, chains = world("r-1", status=RecommendationStatus.REJECTED)
    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.to_json() == {
        "reconciled": 0, "settled": [], "adopted": [], "redriven": [], "waiting": 0,
        "unreachable": [],
        "in_flight": 0,
    }  # fmt: skip
    assert chains.sent == []


def test_without_redrive_only_orders_at_the_venue_get_their_chain():
    ctx, store, _broker, chains = world("r-1", "r-2")
    placed(ctx, "r-1")
    report = recover(ctx, Pending(store), chains, redrive=False, now=LATER)
    assert report.adopted == ["r-1"]
    assert report.waiting == 1
    assert chains.sent == []  # the adopted row is written from the venue's order
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED
    assert store.recs["r-2"].status is RecommendationStatus.DISPATCHED


class Unreachable:
    """A venue that cannot be asked: every call is BrokerUnavailable."""

    def __getattr__(self, name: str):
        def down(*_args, **_kwargs):
            raise BrokerUnavailable(name, "connection refused", None)

        return down


def test_a_venue_that_cannot_be_asked_leaves_the_recommendation_for_the_next_run():
    ctx, store, _broker, chains = world("r-1")
    ctx.broker = Unreachable()
    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.unreachable == ["r-1"]
    assert chains.sent == []
    assert store.recs["r-1"].status is RecommendationStatus.DISPATCHED


class NoMarket:
    """A market that cannot answer (after the close, say): adoption must not need it."""

    def __getattr__(self, name: str):
        def down(*_args, **_kwargs):
            raise AssertionError(f"adoption asked the market: {name}")

        return down


def test_adoption_records_the_contract_the_venue_holds_not_a_new_selection():
    ctx, store, _broker, chains = world("r-1")
    held_order = placed(ctx, "r-1")
    order, asked_for = held_order.order, held_order.sized.ticket.instrument
    ctx.market = NoMarket()  # a chain sent again now would select from another market
    report = recover(ctx, Pending(store), chains, redrive=False, now=LATER)
    assert report.adopted == ["r-1"]
    row = store.executions[client_order_id_for("r-1")]
    occ = parse_occ(order.symbol)
    assert (row.option_symbol, row.strike_price, row.expiration_date) == (
        order.symbol,
        occ.strike,
        occ.expiration,
    )
    assert row.instrument_type is asked_for
    assert row.premium_paid == order.limit_price.quantize(Decimal("0.01"))
    assert row.explain_json["adopted"]
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED


def held(coid: str, symbol: str, side: Action, status=ExecutionStatus.FILLED) -> BrokerOrder:
    return BrokerOrder(
        id="venue-1",
        client_order_id=coid,
        symbol=symbol,
        side=side,
        qty=Decimal(5),
        order_type=OrderType.MARKET,
        status=status,
        broker_status=status.value,
        broker=BrokerName.ALPACA,
        execution_mode=ExecutionMode.PAPER,
        filled_qty=Decimal(5) if status is ExecutionStatus.FILLED else Decimal(0),
        filled_avg_price=Decimal("101.5") if status is ExecutionStatus.FILLED else None,
    )


def test_a_stock_order_held_for_an_option_recommendation_is_adopted_as_its_fallback():
    ctx, store, _broker, chains = world("r-1")
    ctx.broker = book = OrderBook()
    coid = client_order_id_for("r-1")
    book.orders[coid] = held(coid, "XYZ", Action.BUY)
    recover(ctx, Pending(store), chains, redrive=False, now=LATER)
    row = store.executions[coid]
    assert row.instrument_type is InstrumentType.STOCK
    assert (row.option_symbol, row.contracts) == (None, None)
    assert row.notional == Decimal("507.5")
    assert store.recs["r-1"].status is RecommendationStatus.FELL_BACK


def test_a_stock_sell_held_is_adopted_as_a_close_and_a_refused_order_as_a_rejection():
    ctx, store, _broker, chains = world("r-1", "r-2")
    store.recs["r-1"] = replace(
        store.recs["r-1"], action=Action.SELL, instrument_type=InstrumentType.STOCK
    )
    ctx.broker = book = OrderBook()
    sell, refused = client_order_id_for("r-1"), client_order_id_for("r-2")
    book.orders[sell] = held(sell, "XYZ", Action.SELL)
    book.orders[refused] = held(refused, "XYZ", Action.BUY, status=ExecutionStatus.REJECTED)
    report = recover(ctx, Pending(store), chains, redrive=False, now=LATER)
    assert sorted(report.adopted) == ["r-1", "r-2"]
    assert store.executions[sell].position_effect is PositionEffect.CLOSE
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED
    assert store.recs["r-2"].status is RecommendationStatus.REJECTED


def test_a_second_delivery_after_the_market_moved_records_the_order_the_venue_holds():
    """A chain delivered twice (its fetch_chain redelivered after a kill): the second
    selects at the new prices, and its submit finds the first delivery's order under the
    same client_order_id. The row must describe that order, whichever persists first."""
    ctx, store, _broker, _chains = world("r-1")
    first = placed(ctx, "r-1")
    ctx.market.quote_stock("XYZ", "108")
    second = placed(ctx, "r-1")
    assert second.sized.contract.symbol != first.sized.contract.symbol  # another selection
    persist_execution(ctx, second)
    persist_execution(ctx, first)
    row = store.executions[client_order_id_for("r-1")]
    held_symbol = first.order.symbol
    assert row.option_symbol == held_symbol
    assert (row.strike_price, row.expiration_date) == (
        parse_occ(held_symbol).strike,
        parse_occ(held_symbol).expiration,
    )
    assert row.contracts == int(first.order.qty)


# -- a chain that stops after its order went out (adoption.end_chain) -------------------


def test_a_chain_that_stops_after_the_venue_took_its_order_ends_with_the_order_adopted():
    """An earlier delivery placed the order; this one stops (a stale message refused, a
    budget spent): the venue is asked, and its order is recorded, not the failure."""
    ctx, store, _broker, _chains = world("r-1")
    order = placed(ctx, "r-1").order  # the worker that placed it died before the row
    adopted = end_chain(ctx, "r-1", "rejected", "submit_order refused: the order differs")
    assert adopted
    row = store.executions[client_order_id_for("r-1")]
    assert row.broker_order_id == order.id
    assert store.recs["r-1"].status is RecommendationStatus.EXECUTED
    assert "the chain stopped (rejected: submit_order refused" in store.recs["r-1"].status_reason


def test_a_chain_that_stops_before_sizing_ends_without_asking_the_venue():
    ctx, store, _broker, _chains = world("r-1")
    ctx.broker = Unreachable()  # never asked: no order can have been sent
    assert not end_chain(ctx, "r-1", "rejected", "no eligible contract")
    assert store.recs["r-1"].status is RecommendationStatus.REJECTED


def test_a_chain_that_stops_after_sizing_with_the_venue_unreachable_asks_again():
    ctx, store, _broker, _chains = world("r-1")
    sized(ctx, "r-1")  # its decision is stored: an order may have been sent
    ctx.broker = Unreachable()
    with pytest.raises(BrokerUnavailable):
        end_chain(ctx, "r-1", "failed", "submit_order: BrokerUnavailable")
    assert store.recs["r-1"].status is RecommendationStatus.DISPATCHED


def test_a_chain_that_stops_after_sizing_with_nothing_at_the_venue_ends_as_it_says():
    ctx, store, _broker, _chains = world("r-1")
    sized(ctx, "r-1")
    assert not end_chain(ctx, "r-1", "failed", "submit_order: BrokerUnavailable")
    assert store.recs["r-1"].status is RecommendationStatus.FAILED


def test_past_the_retry_budget_the_failure_is_recorded_saying_the_venue_was_not_asked():
    ctx, store, _broker, _chains = world("r-1")
    sized(ctx, "r-1")
    ctx.broker = Unreachable()
    assert not end_chain(ctx, "r-1", "failed", "BrokerUnavailable", venue_error="HTTP 503")
    rec = store.recs["r-1"]
    assert rec.status is RecommendationStatus.FAILED
    assert "the venue could not be asked whether it holds the order: HTTP 503" in rec.status_reason
