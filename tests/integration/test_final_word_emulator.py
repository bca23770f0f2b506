"""The venue's final word through the served emulator (real HTTP, real alpaca-py), on
PostgreSQL and SQLite: what reconcile_orders and cancel_stale_entries record once an
order ends, and what is then held.

Orders are placed and adopted as recovery adopts a venue's order (``adopted_execution``
and ``record_outcome``: the same row persist_execution writes), then the emulator's clock
is moved and the services run in this process, as the beat tasks would run them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret, Timeouts
from strikeflow.broker_adapters.alpaca.errors import translated
from strikeflow.db.dispatch_store import SqlDispatchStore
from strikeflow.db.engine import engine_for
from strikeflow.db.reports import ReportQueries
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    OrderType,
    RecommendationStatus,
    Right,
)
from strikeflow.domain.market import ExpiryWindow
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.services.adoption import adopted_execution
from strikeflow.services.dispatch_policy import DispatchContext, DispatchPolicy, client_order_id_for
from strikeflow.services.outcomes import reconcile_orders, status_of_execution
from strikeflow.services.stale_entries import cancel_stale_entries
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle
from tests.integration.record_factories import recommendation

EXECUTED, UNFILLED = RecommendationStatus.EXECUTED, RecommendationStatus.UNFILLED
PAST_THE_CLOSE_S = 6 * 3600  # 10:45 → 16:45 New York: every day order has ended


class CancellingAdapter(AlpacaAdapter):
    """The adapter with ``cancel_order`` (``OrderCancelling``), as AlpacaBroker
    implements it: DELETE the order, then read it back. ``cancels`` keeps each id sent."""

    def __init__(self, config: AlpacaConfig) -> None:
        super().__init__(config)
        self.cancels: list[str] = []

    def cancel_order(self, order_id: str) -> BrokerOrder:
        self.cancels.append(order_id)
        with translated("cancel", self._config.secrets):
            self._clients.trading.cancel_order_by_id(order_id)
        with translated("order lookup", self._config.secrets):
            order = self._clients.trading.get_order_by_id(order_id)
            return parsing.broker_order(order, self.execution_mode)


class Kill:
    def is_on(self) -> bool:
        return False


@pytest.fixture
def venue(request) -> Iterator[tuple[CancellingAdapter, EmulatorHandle]]:
    """Every fill partial (at least one unit left each time), fills tried 1 s after
    submission and at each move of the clock; a limit inside the spread fills only when
    the quote crosses it (the inside-spread model off), so the one the ask rose past rests."""
    options = EmulatorOptions(
        seed=42, start=START, api_key=KEY, secret_key=SECRET, partial_fill_rate=1.0,
        inside_fill_rate=0.0,
    )  # fmt: skip
    with running_emulator(options) as url:
        config = AlpacaConfig(Secret(KEY), Secret(SECRET), base_url=url, timeouts=Timeouts(2, 5))
        adapter = CancellingAdapter(config)
        yield adapter, EmulatorHandle(url)
        adapter.close()


@pytest.fixture
def ctx(venue, db_url) -> DispatchContext:
    adapter, _handle = venue
    store = SqlDispatchStore(engine_for(db_url))
    return DispatchContext(
        adapter, adapter, store, Kill(), DispatchPolicy(), lambda: adapter.clock().timestamp
    )


def put(adapter: AlpacaAdapter):
    """A SPY put a week or two out, with a bid. In this seeded session (seed 42) SPY
    falls through the afternoon: the put's ask rises from the moment the test starts, so
    a buy limited at that ask fills once (in part) and then no more."""
    today = START.date()
    chain = adapter.option_chain(
        "SPY", ExpiryWindow(today + timedelta(days=7), today + timedelta(days=14)), right=Right.PUT
    )
    return min(
        (c for c in chain if c.bid > 0 and c.greeks is not None),
        key=lambda c: abs(c.greeks.delta - 0.5),
    )


def place(ctx: DispatchContext, rid: str, symbol: str, qty: int, limit: Decimal) -> str:
    """A recommendation whose entry the venue accepted, recorded and settled ``executed``."""
    store = ctx.store
    rec = replace(
        recommendation(rid, ticker="SPY", created_at=ctx.now(), updated_at=ctx.now()),
        status=RecommendationStatus.DISPATCHED,
    )
    store.recommendations.insert(rec)
    coid = client_order_id_for(rid)
    intent = OrderIntent(coid, symbol, Action.BUY, Decimal(qty), OrderType.LIMIT, limit)
    order = ctx.broker.submit(intent)
    row = adopted_execution(rec, order, ctx.now())
    store.record_outcome(row, status_of_execution(row, rec.instrument_type), None)
    assert store.get_recommendation(rid).status is EXECUTED
    return coid


def state(ctx: DispatchContext, rid: str) -> tuple[RecommendationStatus, str | None]:
    rec = ctx.store.get_recommendation(rid)
    return rec.status, rec.status_reason


def test_a_partial_fill_then_expiry_is_executed_and_an_unfilled_limit_is_unfilled(
    ctx, venue, db_url
):
    adapter, handle = venue
    contract = put(adapter)
    part = place(ctx, "r-part", contract.symbol, 40, contract.ask)
    none = place(ctx, "r-none", contract.symbol, 5, Decimal("0.01"))
    handle.advance(seconds=2)  # the first try: part of r-part fills
    reconcile_orders(ctx)
    first = ctx.store.execution_by_client_order_id(part)
    assert first.status is ExecutionStatus.PARTIALLY_FILLED
    assert 0 < first.filled_qty < 40
    assert state(ctx, "r-part") == (EXECUTED, None)  # not final: nothing said yet

    handle.advance(seconds=PAST_THE_CLOSE_S)
    reconcile_orders(ctx)
    ended = ctx.store.execution_by_client_order_id(part)
    filled = int(ended.filled_qty)
    assert ended.status is ExecutionStatus.CANCELED  # Alpaca's "expired"
    assert first.filled_qty <= filled < 40
    assert state(ctx, "r-part") == (EXECUTED, f"{filled} of 40 filled; the rest expired")
    assert state(ctx, "r-none") == (UNFILLED, "order expired at the close with 0 of 5 filled")
    assert ctx.store.execution_by_client_order_id(none).filled_qty == 0

    reports = ReportQueries(engine_for(db_url))
    held = reports.view("active_options_positions", as_of=START.date())
    assert [(r["option_symbol"], r["contracts"]) for r in held] == [(contract.symbol, filled)]
    exposure, _loss = ctx.store.risk_state(START)
    assert exposure.positions == 1
    assert exposure.of("SPY") == ended.filled_qty * ended.filled_avg_price * 100
    assert reconcile_orders(ctx) == 0  # final: nothing asked or written again


def test_a_stale_entry_is_canceled_once_and_its_recommendation_says_why(ctx, venue):
    adapter, handle = venue
    contract = put(adapter)
    coid = place(ctx, "r-stale", contract.symbol, 5, Decimal("0.01"))
    handle.advance(seconds=2)  # tried once: now "new", working
    assert cancel_stale_entries(ctx, 300).canceled == []  # too young
    handle.advance(seconds=300)
    first = cancel_stale_entries(ctx, 300)
    assert first.canceled == [coid]
    # Asked again at once: the cancel already done (the venue ended it before the
    # read-back) or still pending, never sent twice.
    assert cancel_stale_entries(ctx, 300).canceled == []
    handle.advance(seconds=1)  # a pending cancel ends at the venue's next step
    reconcile_orders(ctx)
    status, reason = state(ctx, "r-stale")
    assert status is UNFILLED
    assert reason.startswith("canceled after resting 5 min ")
    assert reason.endswith(" unfilled (0 of 5 filled)")
    assert cancel_stale_entries(ctx, 300).to_json()["canceled"] == []
    [placed] = handle.audit()
    assert adapter.cancels == [placed["id"]]  # one DELETE in four runs
