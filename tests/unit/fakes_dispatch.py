"""Hand-written fakes of the dispatch ports: in-memory, deterministic, inspectable."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.domain.claims import (
    ClaimRefused,
    CloseClaims,
    CloseOrder,
    DecidedClose,
    close_claims,
)
from strikeflow.domain.enums import (
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    OrderPricing,
    PositionEffect,
    RecommendationStatus,
    Right,
)
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.final_word import CANCEL_KEY, FinalWord, settled
from strikeflow.domain.lifecycle import execution_may_become, recommendation_may_become
from strikeflow.domain.market import ExpiryWindow, MarketClock, OptionQuote, StockQuote, StrikeBand
from strikeflow.domain.models import OptionContract
from strikeflow.domain.orders import (
    BrokerOrder,
    OptionPricing,
    OrderIntent,
    OrderNotReplaceable,
)
from strikeflow.domain.position_book import BookEntry, CloseFill, held_quantity, open_lots
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.risk import OpenExposure
from strikeflow.services.dispatch_policy import DispatchContext, DispatchPolicy
from strikeflow.services.ports import HeldGreeks, ManagedEntry, OrderGuard
from tests.unit.factories import NOW


class FakeClock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class FakeMarket:
    """Stock quotes by ticker (a list is served one per call, the last repeating) and a
    listed chain, filtered like the real port; every chain query is kept in ``queries``.
    The clock says the market is open until ``close_at`` unless ``is_open`` is False,
    then opening at ``next_open``; ``clock_reads`` counts its reads."""

    def __init__(self, clock: FakeClock, contracts: Sequence[OptionContract] = ()) -> None:
        self._now = clock
        self.contracts = list(contracts)
        self.stock: dict[str, list[StockQuote]] = {}
        self.queries: list[tuple[str, ExpiryWindow, StrikeBand | None, Right | None]] = []
        self.snapshot_calls = 0
        self.stock_calls = 0
        self.is_open = True
        self.close_at: datetime | None = None
        self.next_open: datetime | None = None
        self.clock_reads = 0
        self.snapshot_greeks = False  # True: snapshots carry the listed contract's Greeks
        self.snapshot_queries: list[tuple[str, ...]] = []

    def quote_stock(self, ticker: str, *mids: str, ages: Sequence[float] = ()) -> None:
        """Serve ``mids`` in turn (the last one repeats), each ``ages[i]`` s old (1 s)."""
        ages = list(ages) + [1.0] * (len(mids) - len(ages))
        self.stock[ticker] = [
            StockQuote(
                ticker,
                Decimal(m) - Decimal("0.01"),
                Decimal(m) + Decimal("0.01"),
                100,
                100,
                self._now() - timedelta(seconds=age),
            )
            for m, age in zip(mids, ages, strict=True)
        ]

    def stock_quote(self, symbol: str) -> StockQuote:
        self.stock_calls += 1
        return self._next_quote(self.stock[symbol])

    def stock_quotes(self, symbols: Sequence[str]) -> dict[str, StockQuote]:
        """One request: each known symbol's next quote, as ``stock_quote`` serves it."""
        self.stock_calls += 1
        return {s: self._next_quote(self.stock[s]) for s in symbols if self.stock.get(s)}

    @staticmethod
    def _next_quote(queue: list[StockQuote]) -> StockQuote:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def option_chain(
        self,
        underlying: str,
        window: ExpiryWindow,
        strikes: StrikeBand | None = None,
        right: Right | None = None,
    ) -> list[OptionContract]:
        self.queries.append((underlying, window, strikes, right))
        listed = [
            c
            for c in self.contracts
            if c.underlying == underlying
            and window.first <= c.expiration <= window.last
            and (right is None or c.right is right)
        ]
        if strikes is None:
            return listed
        return strikes.pick(
            listed, expiration=attrgetter("expiration"), strike=attrgetter("strike")
        )

    def option_snapshots(self, symbols: Sequence[str]) -> Mapping[str, OptionQuote]:
        self.snapshot_calls += 1
        self.snapshot_queries.append(tuple(symbols))
        found = {c.symbol: c for c in self.contracts if c.symbol in symbols}
        return {
            s: OptionQuote(
                s,
                c.bid,
                c.ask,
                10,
                10,
                c.quote_time,
                implied_vol=c.implied_vol,
                greeks=c.greeks if self.snapshot_greeks else None,
            )
            for s, c in found.items()
        }

    def stock_bars(self, symbols, timeframe, start, end):  # pragma: no cover - unused here
        return {}

    def clock(self) -> MarketClock:
        self.clock_reads += 1
        at = self._now()
        opens = self.next_open or at + timedelta(days=1)
        closes = self.close_at or at + timedelta(hours=1)
        return MarketClock(at, self.is_open, opens, closes if self.is_open else opens)


class FakeStore:
    """Recommendations and executions in dicts, with the repositories' idempotency rules."""

    def __init__(self) -> None:
        self.recs: dict[str, Recommendation] = {}
        self.executions: dict[str, Execution] = {}
        self.exposure = OpenExposure()
        self.realized_loss = Decimal(0)
        self.status_writes = 0
        self.explains: dict[str, dict] = {}
        self.selections: dict[str, dict] = {}
        self.decisions: dict[str, dict[str, str]] = {}

    def add(self, rec: Recommendation) -> Recommendation:
        self.recs[rec.id] = rec
        return rec

    def get_recommendation(self, recommendation_id: str) -> Recommendation | None:
        return self.recs.get(recommendation_id)

    def set_status(
        self,
        recommendation_id: str,
        status: RecommendationStatus,
        reason: str | None = None,
        explain: Mapping[str, Any] | None = None,
    ) -> bool:
        rec = self.recs.get(recommendation_id)
        if rec is None or rec.status.terminal or not recommendation_may_become(rec.status, status):
            return False
        self.recs[recommendation_id] = replace(rec, status=status, status_reason=reason)
        if explain is not None:
            self.explains[recommendation_id] = json.loads(json.dumps(dict(explain)))  # as JSON
        self.status_writes += 1
        return True

    def upsert_execution(self, execution: Execution) -> tuple[Execution, bool]:
        known = self.executions.get(execution.client_order_id)
        if known is not None:
            return known, False
        stored = replace(execution, id=len(self.executions) + 1)
        self.executions[execution.client_order_id] = stored
        return stored, True

    def record_selection(self, recommendation_id: str, report: Mapping[str, Any]) -> None:
        self.selections[recommendation_id] = json.loads(json.dumps(dict(report)))  # as JSON

    def record_outcome(
        self, execution: Execution, status: RecommendationStatus, reason: str | None = None
    ) -> tuple[Execution, bool]:
        stored = self.upsert_execution(execution)
        self.set_status(execution.recommendation_id, status, reason)
        return stored

    def execution_by_client_order_id(self, client_order_id: str) -> Execution | None:
        return self.executions.get(client_order_id)

    def record_decision(
        self, recommendation_id: str, decision: Mapping[str, str]
    ) -> bool | ClaimRefused:
        """The repositories' rule: a close is kept only if it fits in what its entry
        holds beside what the other closes of it claim."""
        rec = self.recs.get(recommendation_id)
        if rec is None or rec.status.terminal:
            return False
        closes = decision.get("closes", "")
        if closes:
            claims = self.claims_of(int(closes), recommendation_id)
            asked = Decimal(decision.get("qty") or 0)
            refused = None if claims is None else claims.refusal(asked)
            if refused is not None:
                return refused
        self.decisions[recommendation_id] = dict(decision)
        return True

    def close_claims(self, entry_execution_id: int, excluding: str = "") -> CloseClaims | None:
        return self.claims_of(entry_execution_id, excluding)

    def claims_of(self, entry_execution_id: int, excluding: str) -> CloseClaims | None:
        """What ``record_decision`` reads (a test may make ``close_claims`` stale)."""
        entry = self.execution_by_id(entry_execution_id)
        if entry is None:
            return None
        recorded = {e.recommendation_id for e in self.executions.values()}
        orders = [
            CloseOrder(c.recommendation_id, c.status.value, c.quantity, c.filled_qty)
            for c in self.closes_of(entry_execution_id)
            if c.recommendation_id != excluding
        ]
        decided = [
            DecidedClose(rid, Decimal(d.get("qty") or 0))
            for rid, d in self.decisions.items()
            if rid != excluding
            and d.get("closes") == str(entry_execution_id)
            and rid in self.recs
            and not self.recs[rid].status.terminal
            and rid not in recorded
        ]
        quantity = entry.quantity if entry.quantity is not None else Decimal(0)
        return close_claims(
            entry_execution_id, entry.status.value, quantity, entry.filled_qty, orders, decided
        )

    def order_guard(self, recommendation_id: str, client_order_id: str) -> OrderGuard:
        rec = self.recs.get(recommendation_id)
        return OrderGuard(
            None if rec is None else rec.status,
            self.decisions.get(recommendation_id),
            self.executions.get(client_order_id),
        )

    def unfinished_executions(self, limit: int = 500) -> list[Execution]:
        open_ = {ExecutionStatus.SUBMITTED, ExecutionStatus.ACCEPTED}
        open_.add(ExecutionStatus.PARTIALLY_FILLED)
        return [e for e in self.executions.values() if e.status in open_][:limit]

    def record_fill(
        self,
        client_order_id: str,
        status: ExecutionStatus,
        filled_qty: Decimal | None = None,
        filled_avg_price: Decimal | None = None,
        filled_at: datetime | None = None,
        broker_order_id: str | None = None,
    ) -> Execution:
        e = self.executions[client_order_id]
        if not execution_may_become(e.status, e.filled_qty, status, filled_qty):
            return e  # behind what is stored: the stored row, unchanged
        e = replace(
            e,
            status=status,
            filled_qty=filled_qty if filled_qty is not None else e.filled_qty,
            filled_avg_price=filled_avg_price or e.filled_avg_price,
            filled_at=filled_at or e.filled_at,
            broker_order_id=broker_order_id or e.broker_order_id,
        )
        self.executions[client_order_id] = e
        return e

    def settle_recommendation(self, recommendation_id: str, word: FinalWord) -> bool:
        rec = self.recs.get(recommendation_id)
        change = None if rec is None else settled(rec.status, rec.status_reason, word)
        if change is None:
            return False
        status, reason = change
        self.recs[recommendation_id] = replace(rec, status=status, status_reason=reason)
        self.status_writes += 1
        return True

    def note_cancel(self, client_order_id: str, cause: str, at: datetime) -> bool:
        e = self.executions[client_order_id]
        if CANCEL_KEY in e.explain_json:
            return False
        explain = {**e.explain_json, CANCEL_KEY: {"cause": cause, "requested_at": at.isoformat()}}
        self.executions[client_order_id] = replace(e, explain_json=explain)
        return True

    def risk_state(self, now: datetime) -> tuple[OpenExposure, Decimal]:
        return self.exposure, self.realized_loss

    # -- what closes read and write (services.closing_ports) ---------------------------

    def insert(self, rec: Recommendation) -> tuple[Recommendation, bool]:
        known = self.recs.get(rec.id)
        if known is not None:
            return known, False
        self.recs[rec.id] = rec
        return rec, True

    def get(self, rec_id: str) -> Recommendation | None:
        return self.recs.get(rec_id)

    def starting_with(self, prefix: str, limit: int = 1_000) -> list[Recommendation]:
        return sorted((r for r in self.recs.values() if r.id.startswith(prefix)), key=_by_id)[
            :limit
        ]

    def execution_by_id(self, execution_id: int) -> Execution | None:
        return next((e for e in self.executions.values() if e.id == execution_id), None)

    def closes_of(self, entry_execution_id: int) -> list[Execution]:
        return sorted(
            (
                e
                for e in self.executions.values()
                if e.closes_execution_id == entry_execution_id
                and e.position_effect is PositionEffect.CLOSE
            ),
            key=_by_execution_id,
        )

    def open_entries(self, symbol: str) -> list[Execution]:
        return sorted(
            (
                e
                for e in self.executions.values()
                if e.position_effect is PositionEffect.OPEN
                and symbol in (e.ticker, e.option_symbol)
                and (e.filled_qty or e.status is ExecutionStatus.FILLED)
            ),
            key=_by_execution_id,
        )

    def set_realized_pnl(self, execution_id: int, pnl: Decimal) -> None:
        e = self.execution_by_id(execution_id)
        assert e is not None, f"no execution {execution_id}"
        self.executions[e.client_order_id] = replace(e, realized_pnl=pnl)


class FakeBook:
    """``services.ports.ManagedBook`` over a FakeStore's executions (the position book
    as ``db.position_queries`` builds it), high-water marks and Greeks kept in dicts;
    ``spots`` holds the underlying's price at entry by execution id."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.high_water: dict[int, Decimal] = {}
        self.greeks: dict[int, HeldGreeks] = {}
        self.spots: dict[int, Decimal] = {}
        self.reads = 0

    def held_entries(self, as_of: date) -> list[ManagedEntry]:
        self.reads += 1
        rows = sorted(self.store.executions.values(), key=_by_execution_id)
        entries = [_book_entry(e) for e in rows if e.position_effect is PositionEffect.OPEN]
        closes = [
            CloseFill(e.closes_execution_id, _held(e))
            for e in rows
            if e.position_effect is PositionEffect.CLOSE and e.closes_execution_id is not None
        ]
        lots = open_lots([e for e in entries if e.filled_qty > 0], closes, as_of)
        return [
            ManagedEntry(
                lot,
                self.high_water.get(lot.entry.execution_id),
                self.spots.get(lot.entry.execution_id),
            )
            for lot in lots
        ]

    def raise_high_water(self, marks: Mapping[int, Decimal]) -> None:
        for entry_id, mark in marks.items():
            if entry_id not in self.high_water or self.high_water[entry_id] < mark:
                self.high_water[entry_id] = mark

    def refresh_greeks(self, greeks: Mapping[int, HeldGreeks]) -> None:
        self.greeks.update(greeks)


def _held(e: Execution) -> Decimal:
    return held_quantity(e.status.value, e.quantity or Decimal(0), e.filled_qty)


def _book_entry(e: Execution) -> BookEntry:
    assert e.id is not None
    return BookEntry(
        execution_id=e.id,
        recommendation_id=e.recommendation_id,
        symbol=e.option_symbol or e.ticker,
        underlying=e.ticker,
        instrument=e.instrument_type,
        action=e.action,
        filled_qty=_held(e),
        fill_price=e.filled_avg_price if e.filled_avg_price is not None else e.premium_paid,
        expiration=e.expiration_date,
        strategy=None if e.strategy_type is None else e.strategy_type.value,
        filled_at=e.filled_at,
    )


def _by_id(rec: Recommendation) -> str:
    return rec.id


def _by_execution_id(execution: Execution) -> int:
    return execution.id or 0


class FakeKillSwitch:
    def __init__(self, on: bool = False) -> None:
        self.on = on

    def is_on(self) -> bool:
        return self.on


class OrderBook:
    """A Broker that only answers lookups, from ``orders`` by client_order_id."""

    def __init__(self) -> None:
        self.orders: dict[str, BrokerOrder] = {}

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        return self.orders.get(client_order_id)


class CancellingBook(OrderBook):
    """An OrderBook that cancels (``OrderCancelling``), as the venue does: at once, or
    with ``pending`` as ``pending_cancel`` until ``finish_cancels``; a closed order is
    refused with a 422. Every cancel asked is kept in ``cancels`` (order ids);
    ``unreachable`` makes every call a BrokerUnavailable."""

    def __init__(self, pending: bool = False) -> None:
        super().__init__()
        self.pending = pending
        self.cancels: list[str] = []
        self.unreachable = False

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        if self.unreachable:
            raise BrokerUnavailable("get order", "connection reset", None)
        return super().order_by_client_id(client_order_id)

    def cancel_order(self, order_id: str) -> BrokerOrder:
        if self.unreachable:
            raise BrokerUnavailable("cancel order", "connection reset", None)
        self.cancels.append(order_id)
        order = next(o for o in self.orders.values() if o.id == order_id)
        if not order.is_open:
            raise OrderRejected("cancel order", 422, 42210000, f"order is {order.broker_status}")
        if self.pending:
            ended = replace(order, broker_status="pending_cancel")
        else:
            ended = replace(order, status=ExecutionStatus.CANCELED, broker_status="canceled")
        self.orders[order.client_order_id] = ended
        return ended

    def finish_cancels(self) -> None:
        for coid, order in list(self.orders.items()):
            if order.broker_status == "pending_cancel":
                done = replace(order, status=ExecutionStatus.CANCELED, broker_status="canceled")
                self.orders[coid] = done


class ScriptedBroker:
    """A Broker that fails its first ``failures`` submits (unavailable or rejected), then
    delegates to a SimulatedBroker; counts what reached it."""

    def __init__(self, inner: SimulatedBroker, failures: int = 0, reject: bool = False) -> None:
        self.inner, self.failures, self.reject = inner, failures, reject
        self.submits = 0

    def submit(self, intent: OrderIntent) -> BrokerOrder:
        self.submits += 1
        if self.reject:
            raise OrderRejected("submit order", 403, 40310000, "insufficient buying power")
        if self.failures:
            self.failures -= 1
            raise BrokerUnavailable("submit order", "connection reset", None)
        return self.inner.submit(intent)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


# One price per option order, at the far side (marketable_limit): the fakes' steps run
# one after another with nothing between them to work an order; a worked order's steps
# have their own tests (test_working_orders.py).
ONE_PRICE = DispatchPolicy(pricing=OptionPricing(OrderPricing.MARKETABLE_LIMIT))


def make_context(
    contracts: Sequence[OptionContract] = (),
    policy: DispatchPolicy | None = None,
    cash: Decimal = Decimal(100_000),
    clock: FakeClock | None = None,
) -> tuple[DispatchContext, FakeMarket, FakeStore, FakeKillSwitch, SimulatedBroker]:
    clock = clock or FakeClock()
    market = FakeMarket(clock, contracts)
    store, switch = FakeStore(), FakeKillSwitch()
    broker = SimulatedBroker(market, cash=cash, reason="unit test", now=clock)
    ctx = DispatchContext(market, broker, store, switch, policy or ONE_PRICE, clock)
    return ctx, market, store, switch, broker


class WorkingFakeStore(FakeStore):
    """A FakeStore that records worked orders too (``WorkingStore``), as the SQL one:
    a step with ``replaces`` is written only forward."""

    def __init__(self) -> None:
        super().__init__()
        self.replaces: dict[str, int] = {}
        self.figures: dict[str, dict] = {}

    def record_work_step(
        self,
        client_order_id: str,
        step: Mapping[str, Any],
        broker_order_id: str | None = None,
        limit_price: Decimal | None = None,
        replaces: int | None = None,
    ) -> bool:
        e = self.executions[client_order_id]
        work = dict(e.explain_json.get("work") or {})
        changes: dict[str, Any] = {}
        if replaces is not None:
            if replaces <= self.replaces.get(client_order_id, 0):
                return False
            self.replaces[client_order_id] = replaces
            work |= {"replaces": replaces, "client_order_id": step.get("client_order_id")}
            changes["broker_order_id"] = broker_order_id or e.broker_order_id
            if limit_price is not None and not e.filled_qty:
                changes["premium_paid"] = limit_price
        work["steps"] = [*work.get("steps", ()), json.loads(json.dumps(dict(step)))]
        explain = {**e.explain_json, "work": work}
        self.executions[client_order_id] = replace(e, explain_json=explain, **changes)
        return True

    def record_work_figures(self, client_order_id: str, figures: Mapping[str, Any]) -> None:
        self.figures[client_order_id] = dict(figures)


class WorkingVenue(CancellingBook):
    """A venue whose orders rest until a test fills them (``fill``), and that replaces
    an open order as Alpaca does (``OrderReplacing``): a new id under the new
    client_order_id, carrying what filled, the old one ``replaced``; a closed order is
    refused with a 422 (``OrderNotReplaceable``), a used client_order_id as a duplicate.
    Accounts come from ``inner``; every replace asked is kept in ``replace_calls``."""

    def __init__(self, inner: SimulatedBroker) -> None:
        super().__init__()
        self.inner = inner
        self.replace_calls: list[tuple[str, Decimal, Decimal, str]] = []
        self.count = 0

    def account(self):
        return self.inner.account()

    def positions(self):
        return []

    def _next_id(self) -> str:
        self.count += 1
        return f"venue-{self.count}"

    def submit(self, intent: OrderIntent) -> BrokerOrder:
        known = self.orders.get(intent.client_order_id)
        if known is not None:
            return known
        order = intent.as_order(
            id=self._next_id(),
            status=ExecutionStatus.ACCEPTED,
            broker_status="new",
            broker=BrokerName.ALPACA,
            execution_mode=ExecutionMode.PAPER,
            submitted_at=NOW,
        )
        self.orders[intent.client_order_id] = order
        return order

    def replace_order(
        self, order_id: str, qty: Decimal, limit_price: Decimal, client_order_id: str
    ) -> BrokerOrder:
        self.replace_calls.append((order_id, qty, limit_price, client_order_id))
        if client_order_id in self.orders:
            raise OrderRejected("replace", 422, 40010001, "client_order_id must be unique")
        old = next(o for o in self.orders.values() if o.id == order_id)
        if not old.is_open or old.broker_status == "pending_cancel":
            message = f'order is already in "{old.broker_status}" state'
            raise OrderNotReplaceable("replace", 422, 42210000, message)
        new = replace(
            old,
            id=self._next_id(),
            client_order_id=client_order_id,
            qty=qty,
            limit_price=limit_price,
            broker_status="new",
            replaces=old.id,
            replaced_by=None,
        )
        self.orders[old.client_order_id] = replace(
            old, status=ExecutionStatus.REPLACED, broker_status="replaced", replaced_by=new.id
        )
        self.orders[client_order_id] = new
        return new

    def fill(self, client_order_id: str, filled: Decimal, price: Decimal) -> BrokerOrder:
        """``filled`` in all (not more) at ``price`` on average."""
        order = self.orders[client_order_id]
        whole = filled >= order.qty
        status = ExecutionStatus.FILLED if whole else ExecutionStatus.PARTIALLY_FILLED
        order = replace(
            order,
            status=status,
            broker_status=status.value,
            filled_qty=filled,
            filled_avg_price=price,
            filled_at=NOW,
        )
        self.orders[client_order_id] = order
        return order

    def resting(self) -> list[BrokerOrder]:
        return [o for o in self.orders.values() if o.is_open]
