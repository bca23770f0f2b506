"""A venue's validation refusal through the dispatch steps, with the real Alpaca adapter
(over HTTP to a scripted venue) and the real fallback policy: the recommendation ends
rejected in the venue's words after one POST, and is never answered with a simulated fill.

submit_order's task falls back only on ``BrokerUnavailable`` once its retries are spent;
``submit_or_fall_back`` does the same here, so a refusal misread as unavailability would
show up as a SIMULATED execution.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.fallback import FailurePolicy, FallbackBroker
from strikeflow.domain.enums import ExecutionMode, ExecutionStatus, RecommendationStatus
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.services.dispatch_steps import fall_back, submit_order
from strikeflow.services.messages import PlacedOrder, SizedOrder
from strikeflow.services.outcomes import persist_execution
from tests.unit.alpaca_stub import StubVenue, order_json, stub_adapter, stub_venue
from tests.unit.dispatch_runs import hop, run_to_size, setup

INACTIVE = '{"code":40010001,"message":"asset \\"XYZ261120C00100000\\" is not active"}'


@pytest.fixture
def venue() -> Iterator[StubVenue]:
    with stub_venue() as stub:
        yield stub


@pytest.fixture
def adapter(venue) -> Iterator[AlpacaAdapter]:
    made = stub_adapter(venue.url)
    yield made
    made.close()


def submit_or_fall_back(ctx, fallback: FallbackBroker, sized: SizedOrder) -> PlacedOrder:
    """submit_order as its task runs it once the retries are spent."""
    try:
        return submit_order(ctx, sized)
    except BrokerUnavailable as down:
        return fall_back(ctx, fallback, sized, down)


def test_a_validation_refusal_ends_rejected_never_simulated(venue, adapter):
    ctx, _, store, _, simulated, _ = setup()
    sized = run_to_size(ctx)
    ctx.broker = adapter
    fallback = FallbackBroker(adapter, simulated, FailurePolicy.SIMULATE, live=False)
    venue.submit_reply = (422, INACTIVE)
    placed = submit_or_fall_back(ctx, fallback, hop(sized))
    assert (venue.posts, venue.lookups) == (1, 0)
    assert placed.order.status is ExecutionStatus.REJECTED
    assert placed.order.execution_mode is ExecutionMode.PAPER
    assert (placed.refusal.status, placed.refusal.code) == (422, 40010001)
    out = persist_execution(ctx, hop(placed))
    assert out.status is RecommendationStatus.REJECTED
    rec = store.recs["rec-1"]
    assert rec.status is RecommendationStatus.REJECTED
    assert 'asset "XYZ261120C00100000" is not active' in rec.status_reason
    (row,) = store.executions.values()
    assert row.execution_mode is ExecutionMode.PAPER
    assert row.status is ExecutionStatus.REJECTED
    assert simulated.order_by_client_id(sized.ticket.client_order_id) is None


def test_only_an_unreachable_venue_is_answered_with_a_simulated_fill(venue, adapter):
    ctx, _, _, _, simulated, _ = setup()
    sized = run_to_size(ctx)
    ctx.broker = adapter
    fallback = FallbackBroker(adapter, simulated, FailurePolicy.SIMULATE, live=False)
    venue.submit_reply = (503, "")
    placed = submit_or_fall_back(ctx, fallback, hop(sized))
    # the adapter's lookup after the failed POST, then fall_back's last ask: none held
    assert (venue.posts, venue.lookups) == (1, 2)
    assert placed.order.execution_mode is ExecutionMode.SIMULATED
    assert "broker unavailable" in placed.order.simulated_reason


def test_a_duplicate_resolves_to_the_venues_order(venue, adapter):
    ctx, *_ = setup()
    sized = run_to_size(ctx)
    ctx.broker = adapter
    cid = sized.ticket.client_order_id
    venue.orders[cid] = order_json(cid, symbol=sized.contract.symbol)
    venue.submit_reply = (422, '{"code":40010001,"message":"client_order_id must be unique"}')
    placed = submit_order(ctx, hop(sized))
    assert (venue.posts, venue.lookups) == (1, 1)
    assert placed.refusal is None
    assert placed.order.id == "61e69015-8549-4bfd-b9c3-01e75843f47d"
