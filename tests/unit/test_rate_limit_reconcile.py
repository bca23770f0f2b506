"""reconcile_orders asks a broker that lists its orders once, not once an order; only
executions the listing leaves out are looked up one by one. And a submit turned away by
the rate limit is not followed by a lookup: the venue never read it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    OrderType,
)
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.services.outcomes import RECONCILE_LOOKBACK, RECONCILE_SLACK, reconcile_orders
from strikeflow.services.ports import OrderListing
from tests.integration.record_factories import stock_execution
from tests.unit.alpaca_stub import stub_adapter, stub_venue
from tests.unit.dispatch_runs import setup
from tests.unit.factories import NOW
from tests.unit.fakes_dispatch import OrderBook


class ListingBook(OrderBook):
    """An OrderBook that also lists: ``listed`` are the orders its listing returns."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[BrokerOrder] = []
        self.listings: list[tuple[datetime, int]] = []
        self.lookups: list[str] = []

    def recent_orders(self, after: datetime, limit: int = 500) -> list[BrokerOrder]:
        self.listings.append((after, limit))
        return [o for o in self.listed if o.submitted_at is None or o.submitted_at > after]

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        self.lookups.append(client_order_id)
        return super().order_by_client_id(client_order_id)


def filled(cid: str, submitted_at: datetime) -> BrokerOrder:
    return BrokerOrder(
        id=f"o-{cid}",
        client_order_id=cid,
        symbol="AAPL",
        side=Action.BUY,
        qty=Decimal(12),
        order_type=OrderType.MARKET,
        status=ExecutionStatus.FILLED,
        broker_status="filled",
        broker=BrokerName.ALPACA,
        execution_mode=ExecutionMode.PAPER,
        filled_qty=Decimal(12),
        filled_avg_price=Decimal("229.50"),
        submitted_at=submitted_at,
        filled_at=submitted_at + timedelta(seconds=1),
    )


def accepted(cid: str, submitted_at: datetime):
    return stock_execution(
        cid, "rec-1", status=ExecutionStatus.ACCEPTED, filled_qty=None,
        filled_avg_price=None, filled_at=None, submitted_at=submitted_at,
        created_at=submitted_at, updated_at=submitted_at,
    )  # fmt: skip


def test_one_listing_reconciles_every_recent_order_without_a_lookup():
    ctx, _, store, *_ = setup()
    book = ctx.broker = ListingBook()
    cids = [f"sf-{i}" for i in range(20)]
    for i, cid in enumerate(cids):
        at = NOW - timedelta(minutes=30 - i)
        store.upsert_execution(accepted(cid, at))
        book.listed.append(filled(cid, at))
        book.orders[cid] = book.listed[-1]
    assert isinstance(book, OrderListing)
    assert reconcile_orders(ctx) == 20
    assert len(book.listings) == 1
    assert book.lookups == []
    after, limit = book.listings[0]
    assert after == NOW - timedelta(minutes=30) - RECONCILE_SLACK
    assert limit == 500
    assert {store.executions[c].status for c in cids} == {ExecutionStatus.FILLED}
    assert reconcile_orders(ctx) == 0  # nothing unfinished: not even a listing
    assert len(book.listings) == 1


def test_an_execution_the_listing_leaves_out_is_looked_up_by_itself():
    ctx, _, store, *_ = setup()
    book = ctx.broker = ListingBook()
    old_at = NOW - RECONCILE_LOOKBACK - timedelta(hours=3)  # before the listing's window
    store.upsert_execution(accepted("sf-old", old_at))
    store.upsert_execution(accepted("sf-new", NOW - timedelta(minutes=2)))
    book.orders["sf-old"] = filled("sf-old", old_at)
    book.listed.append(filled("sf-new", NOW - timedelta(minutes=2)))
    assert reconcile_orders(ctx) == 2
    assert book.listings[0][0] == NOW - timedelta(minutes=2) - RECONCILE_LOOKBACK - RECONCILE_SLACK
    assert book.lookups == ["sf-old"]


def test_a_broker_that_cannot_list_is_asked_order_by_order():
    ctx, _, store, *_ = setup()
    book = ctx.broker = OrderBook()
    store.upsert_execution(accepted("sf-1", NOW))
    book.orders["sf-1"] = filled("sf-1", NOW)
    assert not isinstance(book, OrderListing)
    assert reconcile_orders(ctx) == 1


def test_the_alpaca_adapter_lists_all_recent_orders_in_one_request():
    with stub_venue() as venue:
        venue.other_reply = (200, "[]")
        stub_adapter(venue.url).recent_orders(NOW, 500)
        assert venue.seen == {("GET", "/v2/orders"): 1}


def test_a_submit_the_governor_never_sent_is_not_looked_up():
    from strikeflow.app_state.rate_budget import InProcessRateBudget
    from strikeflow.broker_adapters.alpaca.errors import NotSent
    from strikeflow.broker_adapters.alpaca.rate_limit import Governor, GovernorConfig

    with stub_venue() as venue:
        adapter = stub_adapter(venue.url)
        budget = InProcessRateBudget()
        governor = Governor(budget, GovernorConfig(max_wait_s=1), "stub-key-id")
        budget.hold_until(governor.name_of("trading"), time.time() + 30)  # the venue said so
        adapter.govern(governor)
        with pytest.raises(NotSent) as failure:
            adapter.submit(OrderIntent("sf-held", "AAPL", Action.BUY, Decimal(1)))
        assert failure.value.status == 429
        assert failure.value.transient
        assert (venue.posts, venue.lookups) == (0, 0)
