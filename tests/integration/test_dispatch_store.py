"""The DispatchStore adapter on real PostgreSQL and SQLite, and the dispatch steps over it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from strikeflow.db.dispatch_store import SqlDispatchStore
from strikeflow.db.engine import engine_for
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.domain.enums import (
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.risk import OpenExposure
from strikeflow.services.dispatch_policy import DispatchContext, client_order_id_for
from strikeflow.services.dispatch_steps import (
    fetch_chain,
    select_contract,
    size_position,
    snapshot_price,
    submit_order,
)
from strikeflow.services.outcomes import persist_execution, record_failure
from strikeflow.services.ports import DispatchStore
from tests.integration.record_factories import AT, option_execution, recommendation, stock_execution
from tests.unit.factories import NOW, contract
from tests.unit.fakes_dispatch import ONE_PRICE, FakeClock, FakeKillSwitch, FakeMarket

SAME_DAY = AT.replace(hour=19)  # 14:00 in New York, the trading day of AT


@pytest.fixture
def store(db_url) -> SqlDispatchStore:
    store = SqlDispatchStore(engine_for(db_url))
    store.recommendations.insert(recommendation())
    return store


def test_it_implements_the_port(store):
    assert isinstance(store, DispatchStore)


def test_status_moves_until_terminal_then_stays(store):
    assert store.set_status("rec-aapl-1", RecommendationStatus.DISPATCHED)
    assert store.set_status("rec-aapl-1", RecommendationStatus.REJECTED, "kill switch on")
    assert not store.set_status("rec-aapl-1", RecommendationStatus.FAILED, "late errback")
    rec = store.get_recommendation("rec-aapl-1")
    assert (rec.status, rec.status_reason) == (RecommendationStatus.REJECTED, "kill switch on")
    assert store.get_recommendation("nope") is None


def test_record_outcome_is_idempotent_on_client_order_id(store):
    executed = RecommendationStatus.EXECUTED
    first, created = store.record_outcome(option_execution(), executed)
    again, created_again = store.record_outcome(option_execution(contracts=5), executed)
    assert created
    assert not created_again
    assert again == first
    assert again.contracts == 3
    assert store.execution_by_client_order_id("sf-call-1") == first
    assert store.get_recommendation("rec-aapl-1").status is executed


def test_the_order_guard_reads_the_status_the_decision_and_any_execution_at_once(store):
    pending, failed = RecommendationStatus.PENDING, RecommendationStatus.FAILED
    assert store.order_guard("nope", "sf-nope") == (None, None, None)
    assert store.order_guard("rec-aapl-1", "sf-call-1") == (pending, None, None)
    decision = {"client_order_id": "sf-call-1", "qty": "3"}
    assert store.record_decision("rec-aapl-1", decision)
    assert not store.record_decision("nope", decision)
    stored, _ = store.executions.insert(option_execution())
    assert store.order_guard("rec-aapl-1", "sf-call-1") == (pending, decision, stored)
    store.set_status("rec-aapl-1", failed, "timed out")
    assert not store.record_decision("rec-aapl-1", {"qty": "9"})  # ended: no new decision
    assert store.order_guard("rec-aapl-1", "sf-call-1") == (failed, decision, stored)
    assert store.order_guard("nope", "sf-call-1") == (None, None, stored)  # each looked up alone


def test_record_fill_updates_the_premium_of_an_option_row(store):
    store.executions.insert(
        option_execution(
            status=ExecutionStatus.ACCEPTED, filled_qty=None, filled_avg_price=None, filled_at=None
        )
    )
    assert [e.client_order_id for e in store.unfinished_executions()] == ["sf-call-1"]
    row = store.record_fill("sf-call-1", ExecutionStatus.FILLED, Decimal(3), Decimal("2.237"), AT)
    assert row.status is ExecutionStatus.FILLED
    assert row.premium_paid == Decimal("2.24")
    assert store.unfinished_executions() == []


def test_the_realized_loss_is_the_net_of_the_day(store):
    assert store.risk_state(SAME_DAY)[1] == 0
    for cid, pnl in (("a", "-300.50"), ("b", "100"), ("c", "-1000")):
        stored, _ = store.executions.insert(stock_execution(cid))
        store.executions.set_realized_pnl(stored.id, Decimal(pnl))
    yesterday, _ = store.executions.insert(stock_execution("d", created_at=AT - timedelta(days=1)))
    store.executions.set_realized_pnl(yesterday.id, Decimal("-5000"))
    assert store.risk_state(SAME_DAY)[1] == Decimal("1200.50")


def test_the_exposure_counts_held_entries_by_ticker(store):
    _held, _ = store.executions.insert(option_execution("call"))  # 3 × 2.15 × 100
    store.executions.insert(stock_execution("stock"))  # 12 × 229.14
    closed, _ = store.executions.insert(stock_execution("closed"))
    store.executions.insert(
        stock_execution(
            "closer",
            position_effect=PositionEffect.CLOSE,
            closes_execution_id=closed.id,
            action="SELL",
        )
    )
    store.executions.insert(  # canceled with nothing filled: nothing held
        stock_execution(
            "canceled", status=ExecutionStatus.CANCELED, filled_qty=None, filled_avg_price=None
        )
    )
    store.executions.insert(option_execution("expired", expiration_date=date(2026, 11, 18)))
    exposure, loss = store.risk_state(SAME_DAY)
    assert exposure.positions == 2
    assert exposure.of("AAPL") == Decimal("645") + Decimal("12") * Decimal("229.14")
    assert loss == 0
    store.executions.set_realized_pnl(closed.id, Decimal("-75.25"))
    assert store.risk_state(SAME_DAY) == (exposure, Decimal("75.25"))  # the same read


def test_the_risk_state_of_an_empty_book(store):
    assert store.risk_state(SAME_DAY) == (OpenExposure(), Decimal(0))


def test_the_steps_persist_a_full_option_row_and_a_terminal_state(db_url):
    """The dispatch steps through the real store: the record fits every column."""
    from strikeflow.broker_adapters.simulated import SimulatedBroker

    engine = engine_for(db_url)
    store = SqlDispatchStore(engine)
    store.recommendations.insert(
        recommendation("rec-xyz", ticker="XYZ", created_at=NOW, updated_at=NOW)
    )
    clock = FakeClock()
    market = FakeMarket(clock, [contract(k, dte=dte) for dte in (0, 1) for k in range(90, 111)])
    market.quote_stock("XYZ", "100")
    broker = SimulatedBroker(market, reason="integration test", now=clock)
    ctx = DispatchContext(market, broker, store, FakeKillSwitch(), ONE_PRICE, clock)
    message = fetch_chain(ctx, "rec-xyz")
    for step in (select_contract, snapshot_price, size_position, submit_order):
        message = step(ctx, message)
    persist_execution(ctx, message)
    persist_execution(ctx, message)
    record_failure(ctx, "rec-xyz", "WorkerLostError", "a late errback")
    row = store.execution_by_client_order_id(client_order_id_for("rec-xyz"))
    assert row.instrument_type is InstrumentType.CALL
    assert row.contracts == 22
    assert row.option_symbol == "XYZ261119C00100000"
    assert row.premium_paid == Decimal("2.10")
    assert row.delta == Decimal("0.5000")
    assert row.implied_volatility == Decimal("0.3000")
    selection = RecommendationRepository(engine).selection("rec-xyz")  # kept once, here
    assert selection["chosen"]["symbol"] == row.option_symbol
    assert "selection" not in row.explain_json
    assert store.get_recommendation("rec-xyz").status is RecommendationStatus.EXECUTED
    exposure, _ = store.risk_state(NOW)
    assert exposure.positions == 1
    assert exposure.of("XYZ") == Decimal("4620.00")


def test_the_selection_report_is_kept_on_the_recommendation_the_latest_one_wins(store):
    """What select_contract keeps (``record_selection``): read back as the same JSON, and a
    re-selection's report replaces the first."""
    assert store.recommendations.selection("rec-aapl-1") is None  # no option judged yet
    first = {"chosen": {"symbol": "AAPL261120C00230000", "strike": "230"}, "candidates": 8}
    store.record_selection("rec-aapl-1", first)
    assert store.recommendations.selection("rec-aapl-1") == first
    again = {"rejected_counts": {"no bid": 8}, "candidates": 8, "rejected": []}
    store.record_selection("rec-aapl-1", again)
    assert store.recommendations.selection("rec-aapl-1") == again
    assert store.recommendations.selection("nope") is None
