"""A close claims what it closes: the arithmetic (``domain.claims``), table-driven, and the
dispatch and closing steps over the hand-written fakes, where two closes of one entry
race (two bearish SELLs, a manual close and a SELL) and the second is sized from what is
left unclaimed, or refused with the figures."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from strikeflow.domain.claims import ClaimRefused, CloseOrder, DecidedClose, close_claims
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.errors import DispatchRejected
from strikeflow.services.closing import request_close
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.closing_steps import quote_close, size_close
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.dispatch_steps import submit_order
from strikeflow.services.outcomes import persist_execution
from tests.integration.record_factories import recommendation
from tests.unit.dispatch_runs import hop, run_all, run_to_size, setup
from tests.unit.factories import NOW

D = Decimal


def order(status: str, quantity: str, filled: str | None, rid: str = "r") -> CloseOrder:
    return CloseOrder(rid, status, D(quantity), None if filled is None else D(filled))


# (entry status, quantity, filled_qty), closes, decided: holds, filled, open, decided
CLAIMS = [
    pytest.param(("filled", "100", "100"), [], [], ("100", "0", "0", "0"), id="nothing-claimed"),
    pytest.param(("filled", "100", None), [], [], ("100", "0", "0", "0"), id="filled-no-qty"),
    pytest.param(
        ("partially_filled", "100", "30"), [], [], ("30", "0", "0", "0"), id="partly-held"
    ),
    pytest.param(("accepted", "100", None), [], [], ("0", "0", "0", "0"), id="holds-nothing"),
    pytest.param(
        ("filled", "100", "100"),
        [order("filled", "40", "40")],
        [],
        ("100", "40", "0", "0"),
        id="a-filled-close",
    ),
    pytest.param(
        ("filled", "100", "100"),
        [order("accepted", "60", None)],
        [],
        ("100", "0", "60", "0"),
        id="an-open-close-order",
    ),
    pytest.param(
        ("filled", "100", "100"),
        [order("partially_filled", "60", "25")],
        [],
        ("100", "25", "35", "0"),
        id="a-partly-filled-open-close",
    ),
    pytest.param(
        ("filled", "100", "100"),
        [order("canceled", "60", "25"), order("expired", "10", None)],
        [],
        ("100", "25", "0", "0"),
        id="ended-closes-count-their-fills",
    ),
    pytest.param(
        ("filled", "100", "100"),
        [order("filled", "10", None)],
        [DecidedClose("d", D(30))],
        ("100", "10", "0", "30"),
        id="a-decision-not-yet-sent",
    ),
]


@pytest.mark.parametrize(("entry", "closes", "decided", "expected"), CLAIMS)
def test_what_the_closes_of_an_entry_claim(entry, closes, decided, expected):
    status, quantity, filled = entry
    claims = close_claims(
        7, status, D(quantity), None if filled is None else D(filled), closes, decided
    )
    holds, filled_by, open_orders, decided_qty = (D(x) for x in expected)
    assert (claims.holds, claims.filled, claims.open_orders, claims.decided) == (
        holds,
        filled_by,
        open_orders,
        decided_qty,
    )
    assert claims.unclaimed == max(holds - filled_by - open_orders - decided_qty, D(0))


# holds, claimed (as an open order), asked: refused?
ADMISSIONS = [
    ("100", "0", "100", False),
    ("100", "60", "40", False),
    ("100", "60", "41", True),
    ("100", "100", "1", True),
    ("100", "0", "101", True),
    ("2.5", "1.5", "1", False),
]


@pytest.mark.parametrize(("holds", "claimed", "asked", "refused"), ADMISSIONS)
def test_a_close_is_admitted_only_within_what_is_unclaimed(holds, claimed, asked, refused):
    closes = [order("accepted", claimed, None)] if D(claimed) else []
    claims = close_claims(12, "filled", D(holds), D(holds), closes, [])
    refusal = claims.refusal(D(asked))
    assert (refusal is not None) is refused
    if refusal is not None:
        assert not refusal
        assert refusal.describe() == (
            f"execution 12: {claimed} of {holds} already being closed; this close asks {asked}"
        )


def test_the_claimants_are_the_open_orders_and_the_decisions():
    closes = [order("filled", "10", "10", "done"), order("accepted", "20", None, "open")]
    claims = close_claims(1, "filled", D(100), D(100), closes, [DecidedClose("sized", D(5))])
    assert claims.claimants == ("open", "sized")


# -- over the fakes ---------------------------------------------------------------------

BEARISH = {"instrument_type": InstrumentType.STOCK, "action": Action.SELL}


def stock_entries(count: int = 1):
    """``count`` stock entries of XYZ bought and filled; (ctx, market, store, broker,
    the entry rows, oldest first)."""
    ctx, market, store, _, broker, _ = setup(
        rec_overrides={"instrument_type": InstrumentType.STOCK}
    )
    run_all(ctx)
    for n in range(2, count + 1):
        rid = f"rec-buy-{n}"
        store.add(
            recommendation(
                rid,
                ticker="XYZ",
                instrument_type=InstrumentType.STOCK,
                created_at=NOW,
                updated_at=NOW,
                status=RecommendationStatus.DISPATCHED,
            )
        )
        assert run_all(ctx, rid).status is RecommendationStatus.EXECUTED
    entries = [e for e in store.executions.values() if e.position_effect is PositionEffect.OPEN]
    market.quote_stock("XYZ", "104")
    return ctx, market, store, broker, entries


def bearish(store, rid: str) -> str:
    store.add(recommendation(rid, ticker="XYZ", created_at=NOW, updated_at=NOW, **BEARISH))
    return rid


def test_two_bearish_signals_sized_at_once_close_two_entries_not_one_twice():
    ctx, _market, store, broker, (first, second) = stock_entries(2)
    one = run_to_size(ctx, bearish(store, "sell-1"))
    two = run_to_size(ctx, bearish(store, "sell-2"))  # before the first is sent
    assert (one.closes.execution_id, one.quantity) == (first.id, first.filled_qty)
    assert (two.closes.execution_id, two.quantity) == (second.id, second.filled_qty)
    for sized in (one, two):
        hop(persist_execution(ctx, hop(submit_order(ctx, sized))))
    assert broker.positions() == []


def test_a_bearish_signal_while_every_entry_is_being_closed_is_refused():
    ctx, _market, store, broker, (entry,) = stock_entries(1)
    run_to_size(ctx, bearish(store, "sell-1"))
    with pytest.raises(
        DispatchRejected,
        match=r"^no XYZ entry has anything left to close: each is being closed already"
        r" or not filled yet$",
    ):
        run_to_size(ctx, bearish(store, "sell-2"))
    assert broker.positions()[0].qty == entry.filled_qty  # nothing sold yet


def test_a_close_order_accepted_not_filled_still_claims_the_entry():
    """The venue holds the shares of the second entry; the first entry's close order is
    open, its fill not recorded: the next SELL closes the second entry, not the first."""
    ctx, _market, store, _broker, (first, second) = stock_entries(2)
    sized = run_to_size(ctx, bearish(store, "sell-1"))
    hop(persist_execution(ctx, hop(submit_order(ctx, sized))))
    close = store.executions[client_order_id_for("sell-1")]
    assert close.closes_execution_id == first.id
    store.executions[close.client_order_id] = replace(
        close, status=ExecutionStatus.ACCEPTED, filled_qty=None
    )
    assert store.close_claims(first.id).open_orders == first.filled_qty
    again = run_to_size(ctx, bearish(store, "sell-2"))
    assert (again.closes.execution_id, again.quantity) == (second.id, second.filled_qty)


def test_two_decisions_read_before_either_is_stored_the_second_is_refused_with_figures():
    _ctx, _market, store, _broker, (entry,) = stock_entries(1)
    held = entry.filled_qty
    for rid in ("sell-1", "sell-2"):
        bearish(store, rid)
    decision = {"qty": str(held), "closes": str(entry.id)}
    assert store.record_decision("sell-1", decision) is True
    refused = store.record_decision("sell-2", decision)
    assert isinstance(refused, ClaimRefused)
    assert refused.describe() == (
        f"execution {entry.id}: {held} of {held} already being closed; this close asks {held}"
    )
    assert store.record_decision("sell-1", decision) is True  # a redelivery: its own
    assert "sell-2" not in store.decisions


def test_a_manual_close_sized_first_leaves_a_bearish_signal_nothing():
    ctx, _market, store, broker, (entry,) = stock_entries(1)
    (asked,) = request_close(store, store, lambda rid: rid, entry.id)
    sized = size_close(ctx, hop(quote_close(ctx, asked.recommendation_id)))
    assert sized.quantity == entry.filled_qty
    with pytest.raises(DispatchRejected, match="no XYZ entry has anything left to close"):
        run_to_size(ctx, bearish(store, "sell-1"))
    hop(persist_execution(ctx, hop(submit_order(ctx, sized))))
    assert store.executions[order_id_of(asked.recommendation_id)].filled_qty == entry.filled_qty
    assert broker.positions() == []


def test_a_bearish_signal_sized_first_leaves_the_manual_close_in_flight_behind_it():
    ctx, _market, store, _broker, (entry,) = stock_entries(1)
    run_to_size(ctx, bearish(store, "sell-1"))
    sent: list[str] = []
    (asked,) = request_close(store, store, sent.append, entry.id)
    assert (asked.sent, asked.recommendation_id, asked.why) == (
        False,
        "sell-1",
        "a close is in flight",
    )
    assert asked.remaining == 0
    assert sent == []


def test_a_close_sized_after_a_partial_claim_takes_only_the_rest():
    ctx, _market, store, _broker, (entry,) = stock_entries(1)
    bearish(store, "sell-1")
    part = entry.filled_qty - 1
    assert store.record_decision("sell-1", {"qty": str(part), "closes": str(entry.id)})
    sized = run_to_size(ctx, bearish(store, "sell-2"))
    assert (sized.closes.execution_id, sized.quantity) == (entry.id, D(1))


def test_a_claim_that_lost_the_race_is_a_one_line_refusal_at_the_sizing_step(monkeypatch):
    """Both SELLs read the entry unclaimed; the first stores its decision; the second's
    ``decided`` is refused with the figures, not sent."""
    ctx, _market, store, _broker, (entry,) = stock_entries(1)
    bearish(store, "sell-1")
    bearish(store, "sell-2")

    run_to_size(ctx, "sell-1")
    # The second SELL read the claims before the first decision was stored.
    monkeypatch.setattr(
        store, "close_claims", lambda entry_id, excluding="": store.claims_of(entry_id, "sell-1")
    )
    held = entry.filled_qty
    with pytest.raises(DispatchRejected) as refused:
        run_to_size(ctx, "sell-2")
    assert str(refused.value) == (
        f"execution {entry.id}: {held} of {held} already being closed; this close asks {held}"
    )
    assert "sell-2" not in store.decisions
