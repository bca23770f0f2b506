"""The venue's final word: every final state of an order × nothing, part or all filled →
the recommendation's state and reason, and the one correction of a terminal state."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    OrderType,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.final_word import FinalWord, final_word, settled
from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.risk import open_exposure
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.dispatch_steps import submit_order
from strikeflow.services.outcomes import persist_execution, reconcile_orders, status_of_execution
from tests.integration.record_factories import option_execution, recommendation
from tests.unit.dispatch_runs import run_to_size, setup
from tests.unit.factories import NOW
from tests.unit.fakes_dispatch import OrderBook, make_context

EXECUTED, UNFILLED = RecommendationStatus.EXECUTED, RecommendationStatus.UNFILLED
FELL_BACK, REJECTED = RecommendationStatus.FELL_BACK, RecommendationStatus.REJECTED
CANCELED, REJECTED_ORDER = ExecutionStatus.CANCELED, ExecutionStatus.REJECTED
SYMBOL = "AAPL261120C00230000"


def order(
    status: ExecutionStatus,
    broker_status: str,
    filled: int,
    qty: int = 5,
    coid: str = "sf-open-x",
) -> BrokerOrder:
    return BrokerOrder(
        id="venue-1",
        client_order_id=coid,
        symbol=SYMBOL,
        side=Action.BUY,
        qty=Decimal(qty),
        order_type=OrderType.LIMIT,
        status=status,
        broker_status=broker_status,
        broker=BrokerName.ALPACA,
        execution_mode=ExecutionMode.PAPER,
        limit_price=Decimal("2.15"),
        filled_qty=Decimal(filled),
        filled_avg_price=Decimal("2.10") if filled else None,
    )


# Every final status Alpaca reports (broker_adapters.alpaca.parsing.ORDER_STATUS), as
# the order's meaning, the venue's word, and how the reasons read it.
FINAL = [
    (CANCELED, "canceled", "order canceled", "the rest canceled"),
    (CANCELED, "expired", "order expired at the close", "the rest expired"),
    (CANCELED, "replaced", "order replaced", "the rest replaced"),
    (REJECTED_ORDER, "rejected", "order rejected after it was accepted", "the rest rejected"),
    (REJECTED_ORDER, "suspended", "order suspended", "the rest suspended"),
]


@pytest.mark.parametrize(("status", "word", "whole", "rest"), FINAL)
def test_nothing_filled_is_unfilled_with_the_venues_reason(status, word, whole, rest):
    assert final_word(order(status, word, 0)) == FinalWord(UNFILLED, f"{whole} with 0 of 5 filled")


@pytest.mark.parametrize(("status", "word", "whole", "rest"), FINAL)
def test_part_filled_is_executed_for_what_filled(status, word, whole, rest):
    assert final_word(order(status, word, 3)) == FinalWord(EXECUTED, f"3 of 5 filled; {rest}")


@pytest.mark.parametrize(("status", "word", "whole", "rest"), FINAL)
def test_all_filled_is_executed_whatever_the_last_word(status, word, whole, rest):
    assert final_word(order(status, word, 5)) == FinalWord(EXECUTED, None)


def test_a_filled_order_is_executed_without_a_reason():
    assert final_word(order(ExecutionStatus.FILLED, "filled", 5)) == FinalWord(EXECUTED, None)


@pytest.mark.parametrize(
    ("status", "word", "filled"),
    [
        (ExecutionStatus.SUBMITTED, "pending_new", 0),
        (ExecutionStatus.ACCEPTED, "new", 0),
        (ExecutionStatus.ACCEPTED, "pending_cancel", 2),
        (ExecutionStatus.PARTIALLY_FILLED, "partially_filled", 2),
    ],
)
def test_an_open_order_has_no_final_word_yet(status, word, filled):
    assert final_word(order(status, word, filled)) is None


def test_a_cancel_we_asked_for_names_its_cause():
    cause = "after resting 5 min 00 s"
    assert final_word(order(CANCELED, "canceled", 0), cause) == FinalWord(
        UNFILLED, "canceled after resting 5 min 00 s unfilled (0 of 5 filled)"
    )
    assert final_word(order(CANCELED, "canceled", 2), cause) == FinalWord(
        EXECUTED, "2 of 5 filled; the rest canceled after resting 5 min 00 s"
    )
    # The order expired before our cancel took: the venue's word, not ours.
    assert final_word(order(CANCELED, "expired", 0), cause).reason == (
        "order expired at the close with 0 of 5 filled"
    )


def test_large_quantities_read_as_whole_numbers():
    word = final_word(order(CANCELED, "expired", 2768, qty=5537))
    assert word == FinalWord(EXECUTED, "2768 of 5537 filled; the rest expired")


# -- the transitions --------------------------------------------------------------------

NONE_FILLED = FinalWord(UNFILLED, "order expired at the close with 0 of 5 filled")
PART_FILLED = FinalWord(EXECUTED, "3 of 5 filled; the rest expired")
ALL_FILLED = FinalWord(EXECUTED, None)


@pytest.mark.parametrize(
    ("current", "reason", "word", "expected"),
    [
        # not yet terminal: the word's state
        (RecommendationStatus.DISPATCHED, None, NONE_FILLED, (UNFILLED, NONE_FILLED.reason)),
        (RecommendationStatus.PENDING, None, PART_FILLED, (EXECUTED, PART_FILLED.reason)),
        # the one correction of a terminal state: executed or fell_back → unfilled
        (EXECUTED, None, NONE_FILLED, (UNFILLED, NONE_FILLED.reason)),
        (FELL_BACK, "no eligible contract", NONE_FILLED, (UNFILLED, NONE_FILLED.reason)),
        # partly filled: the state stays, the reason says how much
        (EXECUTED, None, PART_FILLED, (EXECUTED, PART_FILLED.reason)),
        (
            FELL_BACK,
            "no eligible contract",
            PART_FILLED,
            (FELL_BACK, "no eligible contract; 3 of 5 filled; the rest expired"),
        ),
        # nothing to say, or nothing to change
        (EXECUTED, None, ALL_FILLED, None),
        (EXECUTED, PART_FILLED.reason, PART_FILLED, None),  # heard twice
        (UNFILLED, NONE_FILLED.reason, NONE_FILLED, None),  # heard twice
        (REJECTED, "order rejected", NONE_FILLED, None),
        (RecommendationStatus.FAILED, "failed: boom", PART_FILLED, None),
    ],
)
def test_the_recommendation_follows_the_final_word(current, reason, word, expected):
    assert settled(current, reason, word) == expected


# -- through reconcile_orders -----------------------------------------------------------


def world(status=EXECUTED):
    """A recommendation settled with its order resting at the venue (accepted, 0 filled)."""
    ctx, _market, store, _switch, _sim = make_context()
    store.add(recommendation("r-1", status=status))
    coid = client_order_id_for("r-1")
    store.upsert_execution(
        option_execution(
            coid,
            "r-1",
            contracts=5,
            status=ExecutionStatus.ACCEPTED,
            filled_qty=None,
            filled_avg_price=None,
            filled_at=None,
        )
    )
    ctx.broker = book = OrderBook()
    return ctx, store, book, coid


def test_reconcile_turns_an_entry_that_expired_unfilled_into_unfilled():
    ctx, store, book, coid = world()
    book.orders[coid] = order(CANCELED, "expired", 0, coid=coid)
    assert reconcile_orders(ctx) == 1
    assert store.executions[coid].status is CANCELED
    rec = store.recs["r-1"]
    assert (rec.status, rec.status_reason) == (UNFILLED, NONE_FILLED.reason)
    writes = store.status_writes
    assert reconcile_orders(ctx) == 0  # final: not asked again, nothing written again
    assert store.status_writes == writes


def test_reconcile_keeps_a_partly_filled_entry_executed_and_its_fill_held():
    ctx, store, book, coid = world()
    book.orders[coid] = order(CANCELED, "expired", 3, coid=coid)
    reconcile_orders(ctx)
    row = store.executions[coid]
    assert (row.status, row.filled_qty) == (CANCELED, Decimal(3))
    rec = store.recs["r-1"]
    assert (rec.status, rec.status_reason) == (EXECUTED, "3 of 5 filled; the rest expired")
    exposure = open_exposure([row], NOW)
    assert exposure.positions == 1  # the 3 contracts are held, whatever the order's status
    assert exposure.of("AAPL") == Decimal(3) * Decimal("2.10") * 100


def test_reconcile_of_a_rejection_after_acceptance_is_unfilled():
    ctx, store, book, coid = world()
    book.orders[coid] = order(REJECTED_ORDER, "rejected", 0, coid=coid)
    reconcile_orders(ctx)
    rec = store.recs["r-1"]
    assert (rec.status, rec.status_reason) == (
        UNFILLED,
        "order rejected after it was accepted with 0 of 5 filled",
    )


def test_an_open_order_leaves_the_recommendation_as_it_is():
    ctx, store, book, coid = world()
    book.orders[coid] = order(ExecutionStatus.PARTIALLY_FILLED, "partially_filled", 2, coid=coid)
    reconcile_orders(ctx)
    assert store.executions[coid].filled_qty == Decimal(2)
    assert (store.recs["r-1"].status, store.recs["r-1"].status_reason) == (EXECUTED, None)


def test_only_the_recommendations_own_order_speaks_for_it():
    """A closing order recorded under the same recommendation (another client_order_id)
    ending unfilled does not make the recommendation unfilled."""
    ctx, store, book, _coid = world()
    closing = option_execution(
        "sf-close-1",
        "r-1",
        contracts=5,
        status=ExecutionStatus.ACCEPTED,
        position_effect=PositionEffect.CLOSE,
        action=Action.SELL,
        filled_qty=None,
        filled_avg_price=None,
    )
    store.executions.clear()
    store.upsert_execution(closing)
    book.orders["sf-close-1"] = order(CANCELED, "expired", 0, coid="sf-close-1")
    reconcile_orders(ctx)
    assert store.executions["sf-close-1"].status is CANCELED
    assert store.recs["r-1"].status is EXECUTED


def test_recovery_reads_a_canceled_row_with_nothing_filled_as_unfilled():
    row = option_execution(status=CANCELED, filled_qty=Decimal(0), filled_avg_price=None)
    assert status_of_execution(row, row.instrument_type) is UNFILLED
    part = replace(row, filled_qty=Decimal(1), filled_avg_price=Decimal("2.10"))
    assert status_of_execution(part, row.instrument_type) is EXECUTED
    refused = replace(row, status=REJECTED_ORDER)
    assert status_of_execution(refused, row.instrument_type) is REJECTED


@pytest.mark.parametrize(
    ("filled", "expected", "reason"),
    [
        (0, UNFILLED, "order canceled with 0 of {qty} filled"),
        (1, EXECUTED, "1 of {qty} filled; the rest canceled"),
    ],
)
def test_persisting_an_order_the_venue_already_ended(filled, expected, reason):
    """The chain's tail itself: an order the venue canceled before persist_execution ran
    is unfilled when nothing filled (not rejected: the venue accepted it), executed for
    what filled otherwise."""
    ctx, _market, store, _switch, _broker, rec = setup()
    placed = submit_order(ctx, run_to_size(ctx))
    ended = replace(
        placed.order,
        status=CANCELED,
        broker_status="canceled",
        filled_qty=Decimal(filled),
        filled_avg_price=placed.order.filled_avg_price if filled else None,
    )
    persist_execution(ctx, placed.model_copy(update={"order": ended}))
    stored = store.recs[rec.id]
    qty = f"{placed.order.qty.normalize():f}"
    assert (stored.status, stored.status_reason) == (expected, reason.format(qty=qty))
