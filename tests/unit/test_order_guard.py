"""Broker access is not order access, on the fakes: submit_order sends only the order the
sizing step stored, record_failure ends only a recommendation whose chain is running,
and a stale report of the venue never moves a recommendation."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus
from strikeflow.domain.errors import DispatchRejected
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.dispatch_steps import submit_order
from strikeflow.services.outcomes import persist_execution, record_failure, record_order
from tests.integration.record_factories import recommendation
from tests.unit.dispatch_runs import hop, run_all, run_to_size, setup
from tests.unit.factories import NOW

R = RecommendationStatus


def refused(ctx, sized) -> str:
    with pytest.raises(DispatchRejected) as refusal:
        submit_order(ctx, sized)
    return str(refusal.value)


def test_the_sized_order_is_sent_and_nothing_else():
    ctx, _, store, _, broker, _ = setup()
    sized = run_to_size(ctx)
    cid = client_order_id_for("rec-1")
    decided = store.decisions["rec-1"]
    assert (decided["client_order_id"], decided["qty"]) == (cid, "22")

    assert "qty '23' (sized '22')" in refused(
        ctx, sized.model_copy(update={"quantity": Decimal(23)})
    )
    cheaper = replace(sized.option_quote, bid=Decimal("0.40"), ask=Decimal("0.50"))
    assert "limit_price" in refused(ctx, sized.model_copy(update={"option_quote": cheaper}))
    assert "symbol" in refused(ctx, sized.model_copy(update={"contract": None}))
    assert broker.order_by_client_id(cid) is None  # none of them reached the venue

    placed = submit_order(ctx, sized)
    assert (placed.order.client_order_id, placed.order.qty) == (cid, 22)


def test_another_recommendations_id_or_one_never_sized_is_refused():
    ctx, _, store, _, broker, _ = setup()
    sized = run_to_size(ctx)
    store.add(recommendation("rec-2", ticker="XYZ", created_at=NOW, updated_at=NOW))
    as_rec_2 = sized.model_copy(
        update={"ticket": sized.ticket.model_copy(update={"recommendation_id": "rec-2"})}
    )
    assert "no order was sized" in refused(ctx, as_rec_2)
    as_unknown = sized.model_copy(
        update={"ticket": sized.ticket.model_copy(update={"recommendation_id": "rec-x"})}
    )
    assert "unknown recommendation" in refused(ctx, as_unknown)
    assert broker.order_by_client_id(client_order_id_for("rec-2")) is None
    assert store.recs["rec-2"].status is R.PENDING


def test_a_duplicate_after_the_order_is_recorded_sends_nothing_whatever_it_says():
    ctx, _, store, *_ = setup()
    sized = run_to_size(ctx)
    persist_execution(ctx, hop(submit_order(ctx, sized)))
    (row,) = store.executions.values()
    again = submit_order(ctx, sized.model_copy(update={"quantity": Decimal(99)}))
    assert (again.order.qty, again.order.symbol) == (row.quantity, row.option_symbol)
    persist_execution(ctx, hop(again))
    assert list(store.executions.values()) == [row]
    assert store.recs["rec-1"].status is R.EXECUTED


@pytest.mark.parametrize("status", list(R))
def test_record_failure_ends_only_a_dispatched_recommendation(status):
    ctx, _, store, *_ = setup(rec_overrides={"status": status})
    before = store.recs["rec-1"]
    record_failure(ctx, "rec-1", "failed", "forged")
    after = store.recs["rec-1"]
    if status is R.DISPATCHED:
        assert (after.status, after.status_reason) == (R.FAILED, "failed: forged")
    else:
        assert after == before


def test_a_sizing_step_for_an_ended_recommendation_is_refused():
    ctx, _, store, *_ = setup()
    store.recs["rec-1"] = replace(store.recs["rec-1"], status=R.FAILED)
    with pytest.raises(DispatchRejected, match="recommendation already failed"):
        run_to_size(ctx)  # fetch_chain refuses it first
    store.recs["rec-1"] = replace(store.recs["rec-1"], status=R.DISPATCHED)
    checked_then_ended = run_to_size(ctx)
    store.recs["rec-1"] = replace(store.recs["rec-1"], status=R.REJECTED)
    assert "recommendation already rejected" in refused(ctx, checked_then_ended)


def test_a_stale_report_leaves_the_row_and_the_recommendation_alone():
    ctx, _, store, _, broker, _ = setup()
    run_all(ctx)
    cid = client_order_id_for("rec-1")
    order = broker.order_by_client_id(cid)
    filled = replace(order, status=ExecutionStatus.FILLED, filled_qty=order.qty)
    record_order(ctx, filled)
    assert store.executions[cid].status is ExecutionStatus.FILLED
    # A copy that says canceled with nothing filled (held by a stopped worker): the row
    # is final already, and the recommendation does not become unfilled.
    stale = replace(order, status=ExecutionStatus.CANCELED, filled_qty=Decimal(0))
    assert record_order(ctx, stale) == store.executions[cid]
    assert store.executions[cid].filled_qty == order.qty
    assert store.recs["rec-1"].status is R.EXECUTED
