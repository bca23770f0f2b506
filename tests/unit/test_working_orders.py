"""Working an option entry (``services.working_orders``) over the hand-written fakes: a
venue whose orders rest until the test fills them and that replaces as Alpaca does, the
fake market's quotes, the store that records worked orders. The chain runs through the
real steps (size, submit, persist) under STRIKEFLOW_OPTION_ORDER_PRICING=worked."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    ExitRule,
    ExitUrgency,
    OrderPricing,
    OrderType,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.exits import ExitDecision
from strikeflow.domain.orders import (
    OptionPricing,
    OrderIntent,
    OrderNotReplaceable,
    PositionSnapshot,
    split_worked,
    worked_client_order_id,
)
from strikeflow.domain.working import Purpose, exit_purpose
from strikeflow.services.closing import request_exit
from strikeflow.services.closing_steps import quote_close, size_close
from strikeflow.services.dispatch_policy import DispatchContext, DispatchPolicy
from strikeflow.services.dispatch_steps import submit_order
from strikeflow.services.outcomes import persist_execution, reconcile_orders
from strikeflow.services.working_orders import MAX_WAIT_S, first_step, waited, work_step
from tests.integration.record_factories import recommendation
from tests.unit.dispatch_runs import hop, listed, run_to_size
from tests.unit.factories import NOW
from tests.unit.fakes_dispatch import (
    ONE_PRICE,
    FakeClock,
    FakeKillSwitch,
    FakeMarket,
    WorkingFakeStore,
    WorkingVenue,
)

WORKED = DispatchPolicy(pricing=OptionPricing(OrderPricing.WORKED))
RID = "rec-1"
D205 = Decimal("2.05")
SYMBOL = "XYZ261119C00100000"  # the ATM day trade the listing gives (bid 2.00, ask 2.10)


def working_world(policy: DispatchPolicy = WORKED, venue_kind: type = WorkingVenue):
    """The fakes under ``policy``, and the recommendation RID dispatched: (ctx, market,
    store, venue)."""
    clock = FakeClock()
    market = FakeMarket(clock, listed())
    market.quote_stock("XYZ", "100")
    store, venue = WorkingFakeStore(), venue_kind(SimulatedBroker(market, now=clock))
    ctx = DispatchContext(market, venue, store, FakeKillSwitch(), policy, clock)
    store.add(
        recommendation(RID, ticker="XYZ", created_at=NOW, updated_at=NOW, status="dispatched")
    )
    return ctx, market, store, venue


def worked_entry(policy: DispatchPolicy = WORKED):
    """A day-trade call entry placed by submit_order and persisted, resting at the venue
    at its ladder's first price; the first step to send."""
    ctx, market, store, venue = working_world(policy)
    placed = hop(submit_order(ctx, run_to_size(ctx, RID)))
    persist_execution(ctx, placed)
    return ctx, market, store, venue, placed, first_step(ctx, placed)


def row(store):
    (only,) = store.executions.values()
    return only


def quote(market, bid: str, ask: str) -> None:
    market.contracts = [
        replace(c, bid=Decimal(bid), ask=Decimal(ask)) if c.symbol == SYMBOL else c
        for c in market.contracts
    ]


def test_the_entry_starts_at_the_mid_and_sizes_at_the_last_price():
    _, _, store, venue, placed, nxt = worked_entry()
    order = placed.order
    assert order.symbol == SYMBOL
    assert (order.order_type, order.limit_price) == (OrderType.LIMIT, Decimal("2.05"))
    assert order.qty == Decimal(22)  # 4,640 of budget // 209: the ladder's last price
    work = row(store).explain_json["work"]
    assert work["decision"] == {"bid": "2.00", "ask": "2.10"}
    assert [s["price"] for s in work["steps"]] == ["2.05"]
    assert (nxt.recommendation_id, nxt.step, nxt.wait_s) == (RID, 1, 10.0)  # day trade: 10 s
    assert len(venue.resting()) == 1


def test_the_default_pricing_works_the_order():
    assert DispatchPolicy().pricing == WORKED.pricing


def test_a_one_price_policy_works_nothing():
    _, _, store, _, placed, nxt = worked_entry(ONE_PRICE)
    assert nxt is None
    assert placed.order.limit_price == Decimal("2.10")  # marketable: the ask
    assert "work" not in row(store).explain_json


def test_a_ladder_that_fills_on_step_two():
    ctx, _, store, venue, placed, nxt = worked_entry()
    first = work_step(ctx, RID, nxt.step)
    assert first.next.step == 2
    second = work_step(ctx, RID, 2)
    assert [call[2] for call in venue.replace_calls] == [Decimal("2.07"), Decimal("2.08")]
    (resting,) = venue.resting()  # never two orders for one entry
    assert resting.client_order_id == worked_client_order_id(placed.order.client_order_id, 2)
    assert second.next.step == 3
    venue.fill(resting.client_order_id, Decimal(22), Decimal("2.08"))

    done = work_step(ctx, RID, 3)

    assert done.next is None
    assert "filled" in done.outcome
    entry = row(store)
    assert (entry.status, entry.filled_qty) == (ExecutionStatus.FILLED, Decimal(22))
    assert entry.client_order_id == placed.order.client_order_id  # the entry's own id
    assert entry.broker_order_id == resting.id  # the latest order of the chain
    assert entry.explain_json["work"]["replaces"] == 2
    figures = store.figures[entry.client_order_id]
    assert figures["improvement"] == Decimal("44.0000")  # (2.10 - 2.08) x 22 x 100
    assert figures["improvement_of_half_spread"] == Decimal("0.4000")
    assert figures["slippage_vs_mid"] == Decimal("66.0000")  # (2.08 - 2.05) x 22 x 100
    assert store.recs[RID].status is RecommendationStatus.EXECUTED


def test_a_ladder_that_ends_canceled_leaves_the_recommendation_unfilled_with_the_reason():
    ctx, _, store, venue, _, nxt = worked_entry()
    steps = []
    while nxt is not None:
        steps.append((nxt.step, nxt.wait_s))
        nxt = work_step(ctx, RID, nxt.step).next
        venue.finish_cancels()
    assert steps == [(1, 10.0), (2, 10.0), (3, 10.0), (4, 10.0), (5, 60.0)]  # held a minute
    replaced = [c[2] for c in venue.replace_calls]
    assert replaced == [Decimal(p) for p in ("2.07", "2.08", "2.09", "2.10")]  # to the ask
    assert venue.resting() == []
    reconcile_orders(ctx)
    rec = store.recs[RID]
    assert rec.status is RecommendationStatus.UNFILLED
    assert rec.status_reason == "canceled after working 5 step(s) to 2.10 unfilled (0 of 22 filled)"
    outcomes = [s["outcome"] for s in row(store).explain_json["work"]["steps"]]
    assert outcomes[0] == "placed"
    assert outcomes[-1].startswith("canceled after working")


def test_a_partial_fill_then_a_replace_for_the_rest():
    ctx, _, store, venue, placed, nxt = worked_entry()
    venue.fill(placed.order.client_order_id, Decimal(5), Decimal("2.05"))
    work_step(ctx, RID, nxt.step)
    (_, qty, price, cid) = venue.replace_calls[0]
    assert (qty, price) == (Decimal(22), Decimal("2.07"))  # the total: the venue works 17
    (resting,) = venue.resting()
    assert resting.filled_qty == Decimal(5)  # carried on by the replacing order
    assert row(store).filled_qty == Decimal(5)
    venue.fill(cid, Decimal(22), Decimal("2.0645"))
    work_step(ctx, RID, 2)
    entry = row(store)
    assert (entry.status, entry.filled_qty) == (ExecutionStatus.FILLED, Decimal(22))
    assert len(venue.replace_calls) == 1
    assert store.recs[RID].status is RecommendationStatus.EXECUTED


def test_a_market_that_moved_too_far_cancels_the_order_with_the_move():
    ctx, market, store, venue, _, nxt = worked_entry()
    quote(market, "2.50", "2.60")  # the mid moved from 2.05 to 2.55: +24.4% > 20%
    done = work_step(ctx, RID, nxt.step)
    assert done.next is None
    assert venue.replace_calls == []
    assert venue.resting() == []
    rec = store.recs[RID]
    assert rec.status is RecommendationStatus.UNFILLED
    assert "as the market moved: the mid moved from 2.05 to 2.55 (+24.4%)" in rec.status_reason


def test_a_redelivered_step_does_not_replace_twice():
    ctx, _, store, venue, _, nxt = worked_entry()
    once = work_step(ctx, RID, nxt.step)
    again = work_step(ctx, RID, nxt.step)
    assert len(venue.replace_calls) == 1
    assert once.next is not None
    assert again.next is None
    assert row(store).explain_json["work"]["replaces"] == 1


def test_a_step_whose_replace_landed_but_was_not_recorded_records_it_and_goes_on():
    ctx, _, store, venue, placed, nxt = worked_entry()
    own = worked_client_order_id(placed.order.client_order_id, 1)
    venue.replace_order(placed.order.id, Decimal(22), Decimal("2.07"), own)  # then it died
    done = work_step(ctx, RID, nxt.step)
    assert len(venue.replace_calls) == 1  # the one before: none again
    assert done.next.step == 2
    assert row(store).explain_json["work"]["client_order_id"] == own


def test_an_order_filled_meanwhile_stops_the_work_and_is_recorded():
    ctx, _, store, venue, placed, nxt = worked_entry()
    venue.fill(placed.order.client_order_id, Decimal(22), Decimal("2.05"))
    done = work_step(ctx, RID, nxt.step)
    assert done.next is None
    assert venue.replace_calls == []
    assert row(store).status is ExecutionStatus.FILLED
    assert store.figures[row(store).client_order_id]["improvement"] == Decimal("110.0000")


def test_reconcile_reads_the_latest_order_of_the_chain():
    ctx, _, store, venue, _, nxt = worked_entry()
    work_step(ctx, RID, nxt.step)
    (resting,) = venue.resting()
    venue.fill(resting.client_order_id, Decimal(22), Decimal("2.07"))
    assert reconcile_orders(ctx) == 1
    assert row(store).status is ExecutionStatus.FILLED


def test_a_long_hold_is_waited_in_countdowns_below_the_visibility_timeout():
    step = waited(RID, 4, 1000.0)
    assert (step.wait_s, step.left_s) == (MAX_WAIT_S, 700.0)
    assert waited(RID, 4, 5.0).left_s == 0.0


@pytest.mark.parametrize(
    ("cid", "split"),
    [
        ("sf-open-abc-w3", ("sf-open-abc", 3)),
        ("sf-open-abc", ("sf-open-abc", 0)),
        ("sf-open-abc-w0", ("sf-open-abc-w0", 0)),
        ("sf-open-abc-wx", ("sf-open-abc-wx", 0)),
    ],
)
def test_a_step_client_order_id_names_its_entry_and_step(cid, split):
    assert split_worked(cid) == split
    if split[1]:
        assert worked_client_order_id(split[0], split[1]) == cid


def test_the_simulated_broker_replaces_as_the_venue_does():
    clock = FakeClock()
    market = FakeMarket(clock, listed())
    broker = SimulatedBroker(market, now=clock)
    intent = OrderIntent("sf-open-x", SYMBOL, Action.BUY, Decimal(2), OrderType.LIMIT, D205)
    resting = broker.submit(intent)
    assert resting.is_open  # below the ask: it rests

    new = broker.replace_order(resting.id, Decimal(2), Decimal("2.10"), "sf-open-x-w1")

    assert (new.status, new.filled_avg_price, new.replaces) == (
        ExecutionStatus.FILLED,
        Decimal("2.10"),
        resting.id,
    )
    old = broker.order_by_client_id("sf-open-x")
    assert (old.status, old.replaced_by) == (ExecutionStatus.REPLACED, new.id)
    assert broker.replace_order(resting.id, Decimal(2), Decimal("2.10"), "sf-open-x-w1") == new
    with pytest.raises(OrderNotReplaceable):
        broker.replace_order(new.id, Decimal(2), Decimal("2.11"), "sf-open-x-w2")


def test_an_order_replaced_by_someone_else_ends_the_work_and_the_row_replaced():
    ctx, _, store, venue, placed, nxt = worked_entry()
    venue.replace_order(placed.order.id, Decimal(22), Decimal("2.06"), "by-hand-1")
    done = work_step(ctx, RID, nxt.step)
    assert done.next is None
    assert len(venue.replace_calls) == 1  # the hand's, none of this work
    assert row(store).status is ExecutionStatus.REPLACED
    assert store.recs[RID].status is RecommendationStatus.EXECUTED  # its fate is the other's


# -- exits: the same machinery, the policy of the exit's purpose -----------------------


class HoldingVenue(WorkingVenue):
    """The working venue, holding what its filled buy orders bought."""

    def positions(self):
        held: dict[str, Decimal] = {}
        for order in self.orders.values():
            if order.side is Action.BUY and order.filled_qty:
                held[order.symbol] = held.get(order.symbol, Decimal(0)) + order.filled_qty
        return [PositionSnapshot(s, q, Decimal("2.05")) for s, q in held.items()]


def worked_exit(rule: ExitRule, urgency: ExitUrgency = ExitUrgency.ORDINARY):
    """The entry of ``worked_entry`` filled at 2.05, then an exit of it under ``rule``
    placed and persisted: (ctx, market, store, venue, the close's placed order, its first
    step)."""
    ctx, market, store, venue = working_world(WORKED, HoldingVenue)
    entered = hop(submit_order(ctx, run_to_size(ctx, RID)))
    persist_execution(ctx, entered)
    venue.fill(entered.order.client_order_id, entered.order.qty, D205)
    reconcile_orders(ctx)
    entry = row(store)
    decision = ExitDecision(rule, f"{rule.value} fired", {}, urgency)
    close_rid = request_exit(store, store, lambda rid: rid, entry.id, decision).recommendation_id
    sized = hop(size_close(ctx, hop(quote_close(ctx, close_rid))))
    placed = hop(submit_order(ctx, sized))
    persist_execution(ctx, placed)
    return ctx, market, store, venue, placed, first_step(ctx, placed)


def close_row(store):
    (close,) = [e for e in store.executions.values() if e.position_effect == PositionEffect.CLOSE]
    return close


def test_a_take_profit_exit_is_worked_from_the_mid_toward_the_bid():
    ctx, _, store, venue, placed, nxt = worked_exit(ExitRule.TAKE_PROFIT)
    order = placed.order
    assert (order.side, order.order_type, order.limit_price) == (
        Action.SELL,
        OrderType.LIMIT,
        D205,  # the mid of 2.00 x 2.10: the day-trade exit starts there
    )
    work = close_row(store).explain_json["work"]
    assert work["policy"]["end"] == "marketable"
    assert (nxt.step, nxt.wait_s) == (1, 10.0)
    work_step(ctx, nxt.recommendation_id, 1)
    assert [call[2] for call in venue.replace_calls] == [Decimal("2.03")]  # toward the bid
    (resting,) = [o for o in venue.resting() if o.side is Action.SELL]
    assert resting.client_order_id == worked_client_order_id(order.client_order_id, 1)


def test_a_stop_is_an_urgent_exit_at_the_bid_that_ends_marketable_and_realizes_its_pnl():
    ctx, _, store, venue, placed, nxt = worked_exit(ExitRule.STOP_LOSS)
    assert placed.order.limit_price == Decimal("2.00")  # urgent: the far side at once
    assert (nxt.step, nxt.wait_s) == (1, 5.0)
    steps = []
    while nxt is not None:
        steps.append(nxt.step)
        done = work_step(ctx, nxt.recommendation_id, nxt.step)
        nxt = done.next
    assert steps == [1, 2]
    (resting,) = [o for o in venue.resting() if o.side is Action.SELL]  # the marketable end
    assert resting.limit_price == Decimal("2.00")
    venue.fill(resting.client_order_id, resting.qty, Decimal("2.00"))
    reconcile_orders(ctx)
    close = close_row(store)
    assert close.status is ExecutionStatus.FILLED
    assert close.closes_execution_id == row_of_entry(store).id
    assert close.realized_pnl == (Decimal("2.00") - D205) * 100 * close.filled_qty


def row_of_entry(store):
    (entry,) = [e for e in store.executions.values() if e.position_effect is PositionEffect.OPEN]
    return entry


def test_a_clock_exit_near_the_close_is_urgent_and_a_manual_close_is_not():
    assert exit_purpose("time_of_day", "urgent") is Purpose.URGENT_EXIT
    assert exit_purpose("time_of_day", "ordinary") is Purpose.EXIT
    assert exit_purpose("trailing_stop", "ordinary") is Purpose.URGENT_EXIT
    assert exit_purpose(None, None) is Purpose.EXIT


def test_an_exit_stops_the_entry_still_working_and_closes_what_it_filled():
    """An exit decided while the entry's order still works (5 of 22 filled, resting at
    the mid): the entry's order is canceled before the close is sized, so the close
    sells the 5 held and the entry buys no more."""
    ctx, _, store, venue = working_world(WORKED, HoldingVenue)
    entered = hop(submit_order(ctx, run_to_size(ctx, RID)))
    persist_execution(ctx, entered)
    venue.fill(entered.order.client_order_id, Decimal(5), D205)
    reconcile_orders(ctx)
    entry = row(store)
    assert (entry.status, entry.filled_qty) == (ExecutionStatus.PARTIALLY_FILLED, Decimal(5))
    decision = ExitDecision(ExitRule.TAKE_PROFIT, "take profit fired", {}, ExitUrgency.ORDINARY)
    close_rid = request_exit(store, store, lambda rid: rid, entry.id, decision).recommendation_id

    sized = hop(size_close(ctx, hop(quote_close(ctx, close_rid))))

    assert venue.cancels == [entered.order.id]
    assert venue.resting() == []  # the entry buys no more
    stopped = row(store)
    assert (stopped.status, stopped.filled_qty) == (ExecutionStatus.CANCELED, Decimal(5))
    assert sized.quantity == Decimal(5)  # all it holds, nothing it never bought
    assert store.recs[RID].status is RecommendationStatus.EXECUTED  # 5 filled: executed
