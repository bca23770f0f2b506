"""The closing chain over the hand-written fakes and the in-process SimulatedBroker: a
CALL entry of XYZ is bought, then closed (all, part, or asked for twice); each message
crosses Celery's JSON hop between two steps (``tests.unit.dispatch_runs.hop``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    ExitRule,
    InstrumentType,
    PositionEffect,
    RecommendationSource,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import DispatchRejected, InvalidRecord
from strikeflow.domain.exits import ExitDecision
from strikeflow.domain.orders import OrderIntent
from strikeflow.services.closing import request_close, request_exit
from strikeflow.services.closing_ids import (
    close_recommendation_id,
    entry_closed_by,
    order_id_of,
)
from strikeflow.services.closing_size import close_quantity, pnl_of_close, remaining
from strikeflow.services.closing_steps import quote_close, size_close
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.dispatch_steps import order_intent, submit_order
from strikeflow.services.messages import ClosingOf
from strikeflow.services.outcomes import persist_execution, record_order
from strikeflow.services.recovery import recover
from tests.unit.dispatch_runs import hop, run_all, setup

CALL = {
    "instrument_type": InstrumentType.CALL,
    "action": Action.BUY,
    "strategy_type": StrategyType.DAY_TRADE,
}


class Sender:
    """A chain sender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, recommendation_id: str) -> str:
        self.sent.append(recommendation_id)
        return recommendation_id


def entered(confidence: float = 1.0):
    """A CALL of XYZ bought and filled; (ctx, market, store, broker, the entry row)."""
    ctx, market, store, _, broker, _ = setup(rec_overrides={**CALL, "confidence": confidence})
    out = run_all(ctx)
    assert out.status is RecommendationStatus.EXECUTED
    entry = store.executions[client_order_id_for("rec-1")]
    assert entry.filled_qty is not None, entry
    assert entry.filled_qty >= 2, entry
    return ctx, market, store, broker, entry


def quote_contract(market, symbol: str, bid: str, ask: str) -> None:
    """The listed contract ``symbol`` quoted ``bid`` x ``ask`` from now on."""
    for i, c in enumerate(market.contracts):
        if c.symbol == symbol:
            market.contracts[i] = replace(c, bid=Decimal(bid), ask=Decimal(ask))
            return
    raise AssertionError(f"{symbol} is not listed")


def charging(ctx, fee: str):
    """``ctx`` whose policy charges ``fee`` per option contract closed."""
    return replace(ctx, policy=replace(ctx.policy, close_fee_per_contract=Decimal(fee)))


def run_close(ctx, rid: str):
    quoted = hop(quote_close(ctx, rid))
    sized = hop(size_close(ctx, quoted))
    placed = hop(submit_order(ctx, sized))
    return hop(persist_execution(ctx, placed))


# -- ids ------------------------------------------------------------------------------


def test_close_ids_are_deterministic_and_name_their_entry():
    rid = close_recommendation_id(12, 1)
    assert rid == "close-12-1" == close_recommendation_id(12, 1)
    assert entry_closed_by(rid) == 12
    assert entry_closed_by("close-123-1") == 123
    assert entry_closed_by("manual-abc") is None
    cid = order_id_of(rid)
    assert cid == order_id_of("close-12-1")
    assert cid.startswith("sf-close-")
    assert len(cid) <= 48
    assert cid != order_id_of("close-12-2") != client_order_id_for(rid)
    assert order_id_of("manual-abc") == client_order_id_for("manual-abc")  # entries unchanged


# -- sizing and P&L, pure ----------------------------------------------------------------


def test_a_close_is_sized_to_what_is_left_and_never_more():
    assert close_quantity(Decimal(3), None, Decimal(3), whole_units=True) == 3
    assert close_quantity(Decimal(3), Decimal(1), Decimal(3), whole_units=True) == 1
    assert close_quantity(Decimal(3), Decimal(5), Decimal(9), whole_units=True) == 3
    assert close_quantity(Decimal(3), None, Decimal(2), whole_units=True) == 2  # the venue's
    assert close_quantity(Decimal(3), None, Decimal(-1), whole_units=True) == 0
    assert close_quantity(Decimal("2.5"), None, Decimal(9), whole_units=False) == Decimal("2.5")


def test_realized_pnl_is_the_fill_difference_times_multiplier_and_quantity_less_fees():
    option = ClosingOf(
        execution_id=1,
        symbol="XYZ261120C00100000",
        entry_price=Decimal("2.10"),
        multiplier=100,
        fee_per_contract=Decimal("0.65"),
    )
    assert pnl_of_close(option, Decimal(3), Decimal("2.60")) == Decimal("148.05")  # 150 - 1.95
    assert pnl_of_close(option, Decimal(2), Decimal("1.60")) == Decimal("-101.30")
    assert pnl_of_close(option, None, Decimal("2.60")) is None
    assert pnl_of_close(option, Decimal(3), None) is None
    stock = ClosingOf(
        execution_id=2,
        symbol="XYZ",
        entry_price=Decimal("100"),
        multiplier=1,
        fee_per_contract=Decimal("0.65"),
    )
    assert pnl_of_close(stock, Decimal(7), Decimal("101.5")) == Decimal("10.5")  # no fee


# -- the chain ---------------------------------------------------------------------------


def test_a_manual_close_sells_to_close_what_is_held_and_records_its_realized_pnl():
    ctx, market, store, broker, entry = entered()
    quote_contract(market, entry.option_symbol, "2.50", "2.60")
    send = Sender()
    (asked,) = request_close(store, store, send, entry.id)
    assert asked.sent
    assert send.sent == [asked.recommendation_id] == ["close-1-1"]
    rec = store.recs["close-1-1"]
    assert (rec.action, rec.source, rec.status) == (
        Action.SELL,
        RecommendationSource.MANUAL_CLOSE,
        RecommendationStatus.DISPATCHED,
    )
    out = run_close(charging(ctx, "0.65"), "close-1-1")
    assert out.status is RecommendationStatus.EXECUTED
    close = store.executions[order_id_of("close-1-1")]
    assert close.client_order_id.startswith("sf-close-")
    assert (close.position_effect, close.action, close.closes_execution_id) == (
        PositionEffect.CLOSE,
        Action.SELL,
        entry.id,
    )
    assert close.filled_qty == entry.filled_qty
    assert close.filled_avg_price == Decimal("2.50")
    expected = (Decimal("2.50") - entry.filled_avg_price) * 100 * entry.filled_qty
    assert close.realized_pnl == expected - Decimal("0.65") * entry.filled_qty
    assert broker.positions() == []
    assert remaining(entry, store.closes_of(entry.id)) == 0


def test_an_adjusted_contract_keeps_its_multiplier_from_entry_to_realized_pnl():
    """Every listed contract delivers 150 shares (adjusted after a split): the entry row
    keeps 150, and its close realizes the price difference x 150 per contract."""
    ctx, market, store, _, _, _ = setup(rec_overrides=CALL)
    ctx = replace(ctx, policy=replace(ctx.policy, adjusted_contracts=True))
    market.contracts = [replace(c, multiplier=150) for c in market.contracts]
    assert run_all(ctx).status is RecommendationStatus.EXECUTED
    entry = store.executions[client_order_id_for("rec-1")]
    assert entry.multiplier == 150
    quote_contract(market, entry.option_symbol, "2.50", "2.60")
    request_close(store, store, Sender(), entry.id)
    assert run_close(ctx, "close-1-1").status is RecommendationStatus.EXECUTED
    close = store.executions[order_id_of("close-1-1")]
    expected = (Decimal("2.50") - entry.filled_avg_price) * 150 * entry.filled_qty
    assert close.realized_pnl == expected != 0


def test_an_option_close_is_a_sell_to_close_limit_on_its_own_client_order_id():
    ctx, _market, store, _broker, entry = entered()
    request_close(store, store, Sender(), entry.id)
    sized = size_close(ctx, quote_close(ctx, "close-1-1"))
    intent = order_intent(ctx, sized)
    assert (intent.symbol, intent.side, intent.position_intent) == (
        entry.option_symbol,
        Action.SELL,
        "sell_to_close",
    )
    assert intent.client_order_id == order_id_of("close-1-1")
    assert intent.limit_price is not None
    assert intent.qty == entry.filled_qty


def test_a_partial_close_leaves_the_rest_for_the_next_close():
    ctx, _market, store, broker, entry = entered()
    held = entry.filled_qty
    send = Sender()
    request_close(store, store, send, entry.option_symbol, qty=1)
    run_close(ctx, "close-1-1")
    assert remaining(entry, store.closes_of(entry.id)) == held - 1
    assert broker.positions()[0].qty == held - 1
    (rest,) = request_close(store, store, send, "XYZ")  # the underlying names it too
    assert rest.recommendation_id == "close-1-2"
    assert rest.sent
    run_close(ctx, "close-1-2")
    second = store.executions[order_id_of("close-1-2")]
    assert second.filled_qty == held - 1
    assert second.closes_execution_id == entry.id
    assert broker.positions() == []
    with pytest.raises(InvalidRecord, match="closed already"):
        request_close(store, store, send, entry.id)
    with pytest.raises(InvalidRecord, match="nothing is held on XYZ"):
        request_close(store, store, send, "XYZ")
    assert send.sent == ["close-1-1", "close-1-2"]


def test_a_close_never_asks_more_than_is_left_nor_more_than_the_venue_holds():
    ctx, _market, store, broker, entry = entered()
    held = entry.filled_qty
    with pytest.raises(InvalidRecord, match=f"more than the {held} left"):
        request_close(store, store, Sender(), entry.id, qty=held + 1)
    assert not store.starting_with("close-")  # nothing stored
    # The venue holds one contract less than the book (an assignment, say).
    broker.submit(OrderIntent("sf-elsewhere", entry.option_symbol, Action.SELL, Decimal(1)))
    request_close(store, store, Sender(), entry.id)
    sized = size_close(ctx, quote_close(ctx, "close-1-1"))
    assert sized.quantity == held - 1
    assert "the venue holds" in sized.notes.sizing.describe


def test_with_nothing_left_the_chain_refuses_before_the_venue():
    ctx, _market, store, broker, entry = entered()
    request_close(store, store, Sender(), entry.id)
    quoted = quote_close(ctx, "close-1-1")
    # Everything was sold in the meantime at the venue.
    broker.submit(OrderIntent("sf-elsewhere", entry.option_symbol, Action.SELL, entry.filled_qty))
    with pytest.raises(DispatchRejected, match="nothing to close: the venue holds 0"):
        size_close(ctx, quoted)


def test_two_exit_decisions_for_one_entry_send_one_close_order():
    ctx, _market, store, broker, entry = entered()
    decision = ExitDecision(
        ExitRule.TAKE_PROFIT, "take profit: bid 2.50 >= 2.40", {"bid": "2.50", "target": "2.40"}
    )
    send = Sender()
    first = request_exit(store, store, send, entry.id, decision)
    second = request_exit(store, store, send, entry.id, decision)
    assert first.sent
    assert not second.sent
    assert second.recommendation_id == first.recommendation_id == "close-1-1"
    rec = store.recs["close-1-1"]
    assert rec.source is RecommendationSource.EXIT
    assert rec.reason == decision.reason
    assert rec.features["exit"]["rule"] == "take_profit"
    assert rec.features["exit"]["figures"] == {"bid": "2.50", "target": "2.40"}
    orders_before = len(broker._orders)
    quoted = hop(quote_close(ctx, "close-1-1"))
    first = hop(submit_order(ctx, hop(size_close(ctx, quoted))))
    again = hop(submit_order(ctx, hop(size_close(ctx, quoted))))  # a redelivery of both
    assert again.order == first.order
    assert again.sized.quantity == entry.filled_qty
    hop(persist_execution(ctx, again))
    hop(persist_execution(ctx, first))
    assert len(broker._orders) == orders_before + 1  # one close order
    assert send.sent == ["close-1-1"]
    assert [c.client_order_id for c in store.closes_of(entry.id)] == [order_id_of("close-1-1")]


def test_two_requests_racing_compute_one_id_and_only_the_writer_sends():
    _ctx, _market, store, _broker, entry = entered()

    class StaleReads:
        """Both requests read the siblings before either wrote: neither sees the other."""

        def __getattr__(self, name):
            return getattr(store, name)

        def starting_with(self, prefix, limit=1_000):
            return []

    send = Sender()
    first = request_close(store, StaleReads(), send, entry.id)[0]
    second = request_close(store, StaleReads(), send, entry.id)[0]
    assert (first.sent, second.sent) == (True, False)
    assert send.sent == ["close-1-1"]


def test_realized_pnl_is_written_when_reconciliation_records_the_fill():
    ctx, market, store, broker, entry = entered()
    quote_contract(market, entry.option_symbol, "1.50", "1.60")
    request_close(store, store, Sender(), entry.id)
    run_close(ctx, "close-1-1")
    cid = order_id_of("close-1-1")
    filled = store.executions[cid]
    # As persisted before the venue reported the fill.
    store.executions[cid] = replace(
        filled,
        status=ExecutionStatus.ACCEPTED,
        filled_qty=None,
        filled_avg_price=None,
        realized_pnl=None,
    )
    stored = record_order(ctx, broker.order_by_client_id(cid))
    expected = (Decimal("1.50") - entry.filled_avg_price) * 100 * entry.filled_qty
    assert stored.realized_pnl == expected < 0
    assert store.executions[cid].realized_pnl == expected


def test_the_entry_chain_refuses_a_close_recommendation():
    from strikeflow.services.dispatch_steps import fetch_chain

    ctx, _market, store, _broker, entry = entered()
    request_close(store, store, Sender(), entry.id)
    with pytest.raises(DispatchRejected, match="is a close"):
        fetch_chain(ctx, "close-1-1")


@pytest.mark.parametrize(
    ("target", "qty", "says"),
    [
        (99, None, "no execution 99"),
        ("SPY 2!", None, "neither an execution id nor a symbol"),
        (1, 0, "qty must be a positive number"),
        (1, "1.5", "whole contracts"),
        (1, "nan", "qty must be a positive number"),
        ("XYZ", "abc", "qty must be a positive number"),
        ("QQQ", None, "nothing is held on QQQ"),
    ],
)
def test_bad_close_arguments_are_refused_before_anything_is_stored(target, qty, says):
    _ctx, _market, store, _broker, _entry = entered()
    send = Sender()
    with pytest.raises(InvalidRecord, match=says):
        request_close(store, store, send, target, qty)
    assert send.sent == []
    assert not store.starting_with("close-")


def test_a_bearish_stock_signal_closes_the_oldest_stock_entry_the_same_way():
    from tests.integration.record_factories import recommendation
    from tests.unit.factories import NOW

    ctx, market, store, _, broker, _ = setup(
        rec_overrides={"instrument_type": InstrumentType.STOCK}
    )
    run_all(ctx)
    entry = store.executions[client_order_id_for("rec-1")]
    market.quote_stock("XYZ", "104")
    bearish = {"instrument_type": InstrumentType.STOCK, "action": Action.SELL}
    store.add(recommendation("rec-2", ticker="XYZ", created_at=NOW, updated_at=NOW, **bearish))
    assert run_all(ctx, "rec-2").status is RecommendationStatus.EXECUTED
    close = store.executions[client_order_id_for("rec-2")]
    assert (close.position_effect, close.closes_execution_id) == (PositionEffect.CLOSE, entry.id)
    assert close.quantity == entry.filled_qty
    assert close.realized_pnl == (Decimal("103.99") - entry.filled_avg_price) * entry.filled_qty
    assert broker.positions() == []


def test_a_close_the_venue_accepted_without_a_row_is_adopted_linked_to_its_entry():
    """The worker dies after the venue accepted the close, before persist_execution:
    recovery adopts the order from the venue, linked to the entry its stored decision
    names, with what it realized. Unlinked, the book would still hold what the venue
    sold."""
    ctx, market, store, _broker, entry = entered()
    ctx = charging(ctx, "0.65")
    quote_contract(market, entry.option_symbol, "2.50", "2.60")
    request_close(store, store, Sender(), entry.id)
    quoted = hop(quote_close(ctx, "close-1-1"))
    hop(submit_order(ctx, hop(size_close(ctx, quoted))))  # accepted; the worker dies
    assert store.closes_of(entry.id) == []

    pending = [r for r in store.recs.values() if not r.status.terminal]
    report = recover(ctx, PendingOf(pending), Sender(), min_age_s=0)
    assert report.adopted == ["close-1-1"]
    (close,) = store.closes_of(entry.id)
    assert (close.position_effect, close.closes_execution_id) == (PositionEffect.CLOSE, entry.id)
    expected = (Decimal("2.50") - entry.filled_avg_price) * 100 * entry.filled_qty
    assert close.realized_pnl == expected - Decimal("0.65") * entry.filled_qty
    assert remaining(entry, store.closes_of(entry.id)) == 0


class PendingOf:
    """recover()'s read of the recommendations not terminal: those given."""

    def __init__(self, recs) -> None:
        self.recs = recs

    def pending(self, limit: int = 1_000):
        return self.recs[:limit]


def test_an_exit_decided_on_a_simulated_clock_and_never_sent_is_redriven_by_recovery():
    """The market runs in simulated time (a minute in 2037) and the sender dies between
    storing the close and sending it: the close stays pending, stamped on the records'
    own clock, so recovery (which ages records by the wall) finds it and sends it."""
    ctx, _market, store, _broker, entry = entered()
    minute = datetime(2037, 11, 16, 20, 11, tzinfo=UTC)
    decision = ExitDecision(ExitRule.TIME_OF_DAY, "time of day", {})

    def dies(_rid):
        raise ConnectionError("the worker died before the chain was sent")

    with pytest.raises(ConnectionError):
        request_exit(store, store, dies, entry.id, decision, now=minute)
    rec = store.recs["close-1-1"]
    assert rec.status is RecommendationStatus.PENDING
    assert rec.created_at == minute  # the decision's clock, as manage_positions reads it
    assert rec.updated_at < minute  # the records' clock: the wall's

    send = Sender()
    report = recover(ctx, PendingOf([rec]), send, min_age_s=0)
    assert report.redriven == ["close-1-1"]
    assert send.sent == ["close-1-1"]
