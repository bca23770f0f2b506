"""Hand-written fakes of the dispatch ports: in-memory, deterministic, inspectable."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus, Right
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.market import ExpiryWindow, MarketClock, OptionQuote, StockQuote, StrikeBand
from strikeflow.domain.models import OptionContract
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.risk import OpenExposure
from strikeflow.services.dispatch_policy import DispatchContext, DispatchPolicy
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
        queue = self.stock[symbol]
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
        found = {c.symbol: c for c in self.contracts if c.symbol in symbols}
        return {
            s: OptionQuote(s, c.bid, c.ask, 10, 10, c.quote_time, implied_vol=c.implied_vol)
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
        if rec is None or rec.status.terminal:
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

    def order_guard(
        self, recommendation_id: str, client_order_id: str
    ) -> tuple[RecommendationStatus | None, Execution | None]:
        rec = self.recs.get(recommendation_id)
        return (None if rec is None else rec.status), self.executions.get(client_order_id)

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

    def risk_state(self, now: datetime) -> tuple[OpenExposure, Decimal]:
        return self.exposure, self.realized_loss


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
    ctx = DispatchContext(market, broker, store, switch, policy or DispatchPolicy(), clock)
    return ctx, market, store, switch, broker
