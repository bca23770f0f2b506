"""Stale entries: which resting entries are canceled (their age, the 0DTE cut-off), what
the recommendation then says, and that a second run cancels nothing twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.config import Settings
from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    OrderType,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.errors import OrderRejected
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.final_word import CANCEL_KEY
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.outcomes import reconcile_orders
from strikeflow.services.stale_entries import cancel_stale_entries, resting, stale_cause
from strikeflow.tasks.stale_entries import CANCEL_STALE_ENTRIES
from strikeflow.tasks.stale_entries import cancel_stale_entries as cancel_task
from strikeflow.workers.beat import beat_schedule
from tests.integration.record_factories import option_execution, recommendation, stock_execution
from tests.unit.factories import NOW, TODAY
from tests.unit.fakes_dispatch import CancellingBook, FakeClock, OrderBook, make_context

EXECUTED, UNFILLED = RecommendationStatus.EXECUTED, RecommendationStatus.UNFILLED
ACCEPTED, CANCELED = ExecutionStatus.ACCEPTED, ExecutionStatus.CANCELED
SWING_EXPIRY = date(2026, 11, 27)
MAX_REST_S = 300.0


def venue_order(execution, status=ACCEPTED, broker_status="new", filled=0) -> BrokerOrder:
    return BrokerOrder(
        id=f"venue-{execution.recommendation_id}",
        client_order_id=execution.client_order_id,
        symbol=execution.option_symbol or execution.ticker,
        side=Action.BUY,
        qty=execution.quantity,
        order_type=OrderType.LIMIT,
        status=status,
        broker_status=broker_status,
        broker=BrokerName.ALPACA,
        execution_mode=ExecutionMode.PAPER,
        limit_price=Decimal("2.15"),
        filled_qty=Decimal(filled),
        filled_avg_price=Decimal("2.10") if filled else None,
    )


def world(at: datetime = NOW, pending: bool = False):
    clock = FakeClock(at)
    ctx, _market, store, _switch, _sim = make_context(clock=clock)
    ctx.broker = book = CancellingBook(pending=pending)
    return ctx, store, book, clock


def resting_entry(ctx, store, book, rid: str, age_s: float, stock: bool = False, **overrides):
    """An executed recommendation whose entry has rested ``age_s`` seconds, unfilled."""
    store.add(recommendation(rid, status=EXECUTED))
    made = stock_execution if stock else option_execution
    values = {"contracts": 5} if not stock else {"quantity": Decimal(5)}
    if not stock:
        values["expiration_date"] = SWING_EXPIRY
    row = made(
        client_order_id_for(rid),
        rid,
        status=ACCEPTED,
        filled_qty=None,
        filled_avg_price=None,
        filled_at=None,
        created_at=ctx.now() - timedelta(seconds=age_s),
        **{**values, **overrides},
    )
    stored, _ = store.upsert_execution(row)
    book.orders[stored.client_order_id] = venue_order(stored)
    return stored


def reason(store, rid):
    rec = store.recs[rid]
    return rec.status, rec.status_reason


def test_an_entry_resting_past_its_age_is_canceled_and_its_recommendation_says_why():
    ctx, store, book, _clock = world()
    young = resting_entry(ctx, store, book, "young", 299)
    old = resting_entry(ctx, store, book, "old", 300)
    report = cancel_stale_entries(ctx, MAX_REST_S)
    assert report.canceled == [old.client_order_id]
    assert store.executions[old.client_order_id].status is CANCELED
    assert reason(store, "old") == (
        UNFILLED,
        "canceled after resting 5 min 00 s unfilled (0 of 5 filled)",
    )
    assert store.executions[young.client_order_id].status is ACCEPTED
    assert reason(store, "young") == (EXECUTED, None)


def test_a_second_run_cancels_nothing_twice():
    ctx, store, book, clock = world()
    resting_entry(ctx, store, book, "old", 600)
    cancel_stale_entries(ctx, MAX_REST_S)
    clock.at += timedelta(minutes=1)
    again = cancel_stale_entries(ctx, MAX_REST_S)
    assert again.to_json() == {
        "canceled": [],
        "recorded": [],
        "pending": [],
        "unreachable": [],
        "unsupported": False,
    }
    assert len(book.cancels) == 1


def test_a_pending_cancel_is_not_asked_again_and_reconcile_names_its_cause():
    ctx, store, book, clock = world(pending=True)
    old = resting_entry(ctx, store, book, "old", 425)
    coid = old.client_order_id
    assert cancel_stale_entries(ctx, MAX_REST_S).canceled == [coid]
    assert store.executions[coid].explain_json[CANCEL_KEY]["cause"] == "after resting 7 min 05 s"
    assert reason(store, "old") == (EXECUTED, None)  # not final yet: nothing said
    clock.at += timedelta(minutes=1)
    assert cancel_stale_entries(ctx, MAX_REST_S).pending == [coid]
    assert len(book.cancels) == 1
    book.finish_cancels()
    assert reconcile_orders(ctx) == 1
    assert reason(store, "old") == (
        UNFILLED,
        "canceled after resting 7 min 05 s unfilled (0 of 5 filled)",
    )


def test_an_order_already_final_at_the_venue_is_only_recorded():
    ctx, store, book, _clock = world()
    filled = resting_entry(ctx, store, book, "filled", 900)
    expired = resting_entry(ctx, store, book, "expired", 900)
    book.orders[filled.client_order_id] = venue_order(filled, ExecutionStatus.FILLED, "filled", 5)
    book.orders[expired.client_order_id] = venue_order(expired, CANCELED, "expired", 0)
    report = cancel_stale_entries(ctx, MAX_REST_S)
    assert sorted(report.recorded) == sorted([filled.client_order_id, expired.client_order_id])
    assert book.cancels == []
    assert reason(store, "filled") == (EXECUTED, None)
    assert reason(store, "expired") == (UNFILLED, "order expired at the close with 0 of 5 filled")


def test_a_partly_filled_entry_keeps_its_fill_and_says_how_much():
    ctx, store, book, _clock = world()
    part = resting_entry(ctx, store, book, "part", 300)
    book.orders[part.client_order_id] = venue_order(
        part, ExecutionStatus.PARTIALLY_FILLED, "partially_filled", 2
    )
    cancel_stale_entries(ctx, MAX_REST_S)
    row = store.executions[part.client_order_id]
    assert (row.status, row.filled_qty) == (CANCELED, Decimal(2))
    assert reason(store, "part") == (
        EXECUTED,
        "2 of 5 filled; the rest canceled after resting 5 min 00 s",
    )


class FillingFirst(CancellingBook):
    """The venue fills the order between our lookup and our cancel: the cancel is refused."""

    def cancel_order(self, order_id: str) -> BrokerOrder:
        for coid, order in list(self.orders.items()):
            if order.id == order_id:
                self.orders[coid] = replace(
                    order,
                    status=ExecutionStatus.FILLED,
                    broker_status="filled",
                    filled_qty=order.qty,
                    filled_avg_price=Decimal("2.10"),
                )
        return super().cancel_order(order_id)


def test_a_cancel_refused_because_the_order_filled_records_the_fill():
    ctx, store, _book, _clock = world()
    ctx.broker = book = FillingFirst()
    raced = resting_entry(ctx, store, book, "raced", 600)
    report = cancel_stale_entries(ctx, MAX_REST_S)
    assert (report.canceled, report.recorded) == ([], [raced.client_order_id])
    row = store.executions[raced.client_order_id]
    assert (row.status, row.filled_qty) == (ExecutionStatus.FILLED, Decimal(5))
    assert reason(store, "raced") == (EXECUTED, None)


def test_closing_orders_are_never_canceled_here():
    ctx, store, book, _clock = world()
    resting_entry(
        ctx, store, book, "close", 3600, position_effect=PositionEffect.CLOSE, action=Action.SELL
    )
    assert cancel_stale_entries(ctx, MAX_REST_S).canceled == []
    assert book.cancels == []


def at_new_york(hour: int, minute: int) -> datetime:
    return datetime.combine(TODAY, time(hour, minute), tzinfo=NEW_YORK)


def test_a_0dte_entry_is_canceled_at_the_day_trade_cutoff_however_young():
    ctx, store, book, clock = world(at=at_new_york(15, 9))
    zero = resting_entry(ctx, store, book, "zero", 60, expiration_date=TODAY)
    swing = resting_entry(ctx, store, book, "swing", 60)
    stock = resting_entry(ctx, store, book, "stock", 60, stock=True)
    assert cancel_stale_entries(ctx, MAX_REST_S).canceled == []  # 15:09: before the cut-off
    clock.at = at_new_york(15, 10)
    assert cancel_stale_entries(ctx, MAX_REST_S).canceled == [zero.client_order_id]
    assert reason(store, "zero") == (
        UNFILLED,
        "canceled at the 15:10 ET day-trade cut-off (0DTE) after resting 2 min 00 s"
        " unfilled (0 of 5 filled)",
    )
    assert store.executions[swing.client_order_id].status is ACCEPTED
    assert store.executions[stock.client_order_id].status is ACCEPTED


def test_no_cutoff_means_only_the_age_counts():
    row = option_execution(expiration_date=TODAY, created_at=at_new_york(15, 30))
    assert stale_cause(row, at_new_york(15, 31), MAX_REST_S, None) is None
    assert (
        stale_cause(row, at_new_york(15, 31), MAX_REST_S, time(15, 10))
        == "at the 15:10 ET day-trade cut-off (0DTE) after resting 1 min 00 s"
    )
    assert stale_cause(row, at_new_york(15, 35), MAX_REST_S, None) == "after resting 5 min 00 s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 min 00 s"), (300, "5 min 00 s"), (425, "7 min 05 s"), (19_500, "5 h 25 min 00 s")],
)
def test_resting_reads_as_a_person_says_it(seconds, text):
    assert resting(timedelta(seconds=seconds)) == text


def test_an_unreachable_venue_cancels_nothing_and_the_next_run_tries_again():
    ctx, store, book, _clock = world()
    old = resting_entry(ctx, store, book, "old", 600)
    book.unreachable = True
    assert cancel_stale_entries(ctx, MAX_REST_S).unreachable == [old.client_order_id]
    assert reason(store, "old") == (EXECUTED, None)
    book.unreachable = False
    assert cancel_stale_entries(ctx, MAX_REST_S).canceled == [old.client_order_id]


def test_a_broker_that_cannot_cancel_is_reported_not_guessed_at():
    ctx, store, _book, _clock = world()
    ctx.broker = plain = OrderBook()
    resting_entry(ctx, store, plain, "old", 600)
    report = cancel_stale_entries(ctx, MAX_REST_S)
    assert report.unsupported
    assert reason(store, "old") == (EXECUTED, None)


def test_the_simulated_broker_cancels_a_resting_limit_and_refuses_a_filled_one():
    ctx, market, _store, _switch, _sim = make_context()
    market.quote_stock("XYZ", "100")
    broker = SimulatedBroker(market, reason="unit test", now=ctx.now)
    low = OrderIntent("sf-open-low", "XYZ", Action.BUY, Decimal(5), OrderType.LIMIT, Decimal(90))
    rests = broker.submit(low)
    assert rests.status is ACCEPTED
    canceled = broker.cancel_order(rests.id)
    assert (canceled.status, canceled.broker_status) == (CANCELED, "canceled")
    assert broker.order_by_client_id("sf-open-low") == canceled
    with pytest.raises(OrderRejected, match="canceled"):
        broker.cancel_order(rests.id)
    filled = broker.submit(OrderIntent("sf-open-mkt", "XYZ", Action.BUY, Decimal(1)))
    with pytest.raises(OrderRejected, match="filled"):
        broker.cancel_order(filled.id)


def test_beat_sends_the_task_every_minute_and_the_age_is_a_setting(monkeypatch):
    entry = beat_schedule(Settings())["cancel-stale-entries"]
    assert entry["task"] == CANCEL_STALE_ENTRIES == cancel_task.name
    assert entry["schedule"] == timedelta(minutes=1)
    assert 0 < entry["options"]["expires"] <= 60
    assert Settings().entry_max_rest_s == 300
    monkeypatch.setenv("STRIKEFLOW_ENTRY_MAX_REST_S", "90")
    assert Settings().entry_max_rest_s == 90
    monkeypatch.setenv("STRIKEFLOW_ENTRY_MAX_REST_S", "0")
    with pytest.raises(ValidationError, match="entry_max_rest_s"):
        Settings()
