"""recover() over the dispatch fakes: stale recommendations reach their chain or state."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.models import InstrumentType
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import BrokerOrder, OrderType
from strikeflow.domain.records import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.services.dispatch import (
    client_order_id_for,
    fetch_chain,
    persist_execution,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from strikeflow.services.recovery import recover
from tests.integration.records import recommendation
from tests.unit.factories import NOW
from tests.unit.fakes_dispatch import OrderBook, make_context
from tests.unit.test_dispatch_steps import listed

LATER = NOW + timedelta(minutes=10)


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
        payload = fetch_chain(self.ctx, rid)
        for step in (select_contract, snapshot_price, size_position, submit_order):
            payload = json.loads(json.dumps(step(self.ctx, payload)))
        persist_execution(self.ctx, payload)


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


def test_a_pending_recommendation_is_marked_dispatched_before_its_chain():
    ctx, store, _broker, _chains = world("r-1", status=RecommendationStatus.PENDING)
    seen = []
    recover(ctx, Pending(store), lambda rid: seen.append(store.recs[rid].status), now=LATER)
    assert seen == [RecommendationStatus.DISPATCHED]


def test_an_order_the_venue_accepted_without_a_row_is_adopted_not_placed_again():
    ctx, store, broker, chains = world("r-1")
    # The crash: submit_order placed the order, the worker died before persist_execution.
    payload = fetch_chain(ctx, "r-1")
    for step in (select_contract, snapshot_price, size_position):
        payload = json.loads(json.dumps(step(ctx, payload)))
    placed = submit_order(ctx, payload)["order"]
    assert store.executions == {}

    report = recover(ctx, Pending(store), chains, now=LATER)
    assert report.adopted == ["r-1"]
    assert report.redriven == []
    assert chains.sent == []
    row = store.executions[client_order_id_for("r-1")]
    assert row.broker_order_id == placed["id"]
    assert row.option_symbol == placed["symbol"]
    assert row.contracts == int(Decimal(placed["qty"]))
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
    payload = fetch_chain(ctx, "r-1")
    for step in (select_contract, snapshot_price, size_position, submit_order):
        payload = json.loads(json.dumps(step(ctx, payload)))
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
    payload = fetch_chain(ctx, "r-1")
    for step in (select_contract, snapshot_price, size_position):
        payload = json.loads(json.dumps(step(ctx, payload)))
    placed = submit_order(ctx, payload)["order"]
    ctx.market = NoMarket()  # a chain sent again now would select from another market
    report = recover(ctx, Pending(store), chains, redrive=False, now=LATER)
    assert report.adopted == ["r-1"]
    row = store.executions[client_order_id_for("r-1")]
    occ = parse_occ(placed["symbol"])
    assert (row.option_symbol, row.strike_price, row.expiration_date) == (
        placed["symbol"],
        occ.strike,
        occ.expiration,
    )
    assert row.instrument_type is InstrumentType(payload["instrument"])
    assert row.premium_paid == Decimal(placed["limit_price"]).quantize(Decimal("0.01"))
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
    first = fetch_chain(ctx, "r-1")
    for step in (select_contract, snapshot_price, size_position, submit_order):
        first = json.loads(json.dumps(step(ctx, first)))
    ctx.market.quote_stock("XYZ", "108")
    second = fetch_chain(ctx, "r-1")
    for step in (select_contract, snapshot_price, size_position, submit_order):
        second = json.loads(json.dumps(step(ctx, second)))
    assert second["contract"]["symbol"] != first["contract"]["symbol"]  # another selection
    persist_execution(ctx, second)
    persist_execution(ctx, first)
    row = store.executions[client_order_id_for("r-1")]
    held_symbol = first["order"]["symbol"]
    assert row.option_symbol == held_symbol
    assert (row.strike_price, row.expiration_date) == (
        parse_occ(held_symbol).strike,
        parse_occ(held_symbol).expiration,
    )
    assert row.contracts == int(Decimal(first["order"]["qty"]))
