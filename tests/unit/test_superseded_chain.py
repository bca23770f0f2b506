"""Two runs of one recommendation's chain (a re-drive while the first still ran): the
latest sizing is the decision kept, and the run whose message is not that decision
sends nothing and ends with no verdict (``ChainSuperseded``), so it cannot end the
recommendation while the other run goes on to place the decided order."""

from __future__ import annotations

import pytest

from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.errors import ChainSuperseded, DispatchRejected
from strikeflow.services.dispatch_steps import submit_order
from strikeflow.services.outcomes import failure_kind, superseded
from tests.unit.dispatch_runs import hop, run_to_size, setup


def test_the_run_sized_first_sends_nothing_and_the_one_sized_last_places_the_order():
    ctx, _market, store, _switch, broker, _rec = setup()
    first = run_to_size(ctx)
    # The re-driven run sizes again, on less buying power: its decision replaces the first.
    resized = dict(store.decisions["rec-1"], qty=str(int(first.quantity) - 1))
    assert store.record_decision("rec-1", resized)
    second = hop(first.model_copy(update={"quantity": first.quantity - 1}))

    with pytest.raises(ChainSuperseded) as refused:
        submit_order(ctx, first)
    assert f"qty '{first.quantity:f}' (sized '{first.quantity - 1:f}')" in str(refused.value)
    cid = first.ticket.client_order_id
    assert broker.order_by_client_id(cid) is None  # nothing sent for the superseded run
    assert store.recs["rec-1"].status is RecommendationStatus.DISPATCHED  # no verdict

    placed = submit_order(ctx, second)
    assert placed.order.qty == first.quantity - 1
    assert broker.order_by_client_id(cid).qty == first.quantity - 1  # the one order


def test_a_superseded_run_is_told_apart_from_a_refusal():
    message = "submit_order refused: the order differs from the one sized"
    assert superseded(ChainSuperseded(message))
    assert not superseded(DispatchRejected("kill switch on"))
    assert failure_kind(ChainSuperseded(message)) == "rejected"  # still a refusal, if asked
