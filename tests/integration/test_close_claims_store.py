"""A close's decision is a claim on its entry, admitted atomically, on real PostgreSQL and
SQLite: one entry of 100 shares, closes deciding against it one after the other and at
the same moment from several threads; what is admitted never exceeds what it holds."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from strikeflow.db.dispatch_store import SqlDispatchStore
from strikeflow.db.engine import engine_for
from strikeflow.domain.claims import ClaimRefused
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationStatus,
)
from tests.integration.record_factories import recommendation, stock_execution

HOLDS = Decimal(100)
SELL = {"action": Action.SELL, "instrument_type": InstrumentType.STOCK}


@pytest.fixture
def store(db_url) -> SqlDispatchStore:
    return SqlDispatchStore(engine_for(db_url))


@pytest.fixture
def entry(store) -> int:
    """An entry holding 100 AAPL shares; its execution id."""
    store.recommendations.insert(recommendation("rec-buy", **{**SELL, "action": Action.BUY}))
    row, _ = store.executions.insert(
        stock_execution("sf-buy", "rec-buy", quantity=HOLDS, filled_qty=HOLDS)
    )
    return row.id


def sell(store, rid: str) -> str:
    store.recommendations.insert(recommendation(rid, **SELL))
    return rid


def close_of(entry: int, qty: str) -> dict[str, str]:
    return {"client_order_id": "", "qty": qty, "closes": str(entry)}


def close_order(store, entry: int, rid: str, qty: str, status=ExecutionStatus.ACCEPTED):
    """The close ``rid`` recorded at the venue: open, nothing filled yet."""
    store.executions.insert(
        stock_execution(
            f"sf-{rid}",
            rid,
            action=Action.SELL,
            position_effect=PositionEffect.CLOSE,
            closes_execution_id=entry,
            status=status,
            quantity=Decimal(qty),
            filled_qty=None,
            filled_avg_price=None,
            filled_at=None,
            broker_order_id=None,
        )
    )


def test_two_decisions_of_60_for_one_entry_of_100_the_second_is_refused(store, entry):
    assert store.record_decision(sell(store, "sell-1"), close_of(entry, "60")) is True
    refused = store.record_decision(sell(store, "sell-2"), close_of(entry, "60"))
    assert isinstance(refused, ClaimRefused)
    assert refused.describe() == (
        f"execution {entry}: 60 of 100 already being closed; this close asks 60"
    )
    assert store.order_guard("sell-2", "sf-sell-2").decision is None  # nothing written
    assert store.close_claims(entry).unclaimed == 40


def test_after_an_open_close_order_of_60_only_40_is_admitted(store, entry):
    close_order(store, entry, sell(store, "sell-1"), "60")
    claims = store.close_claims(entry)
    assert (claims.holds, claims.open_orders, claims.unclaimed) == (HOLDS, 60, 40)
    refused = store.record_decision(sell(store, "sell-2"), close_of(entry, "41"))
    assert isinstance(refused, ClaimRefused)
    assert store.record_decision("sell-2", close_of(entry, "40")) is True
    assert store.close_claims(entry).unclaimed == 0


def test_a_redelivery_of_the_same_decision_is_admitted(store, entry):
    rid = sell(store, "sell-1")
    assert store.record_decision(rid, close_of(entry, "100")) is True
    assert store.record_decision(rid, close_of(entry, "100")) is True
    close_order(store, entry, rid, "100")  # placed and persisted: its row, not its decision
    assert store.record_decision(rid, close_of(entry, "100")) is True
    claims = store.close_claims(entry)
    assert (claims.open_orders, claims.decided, claims.claimants) == (100, 0, ("sell-1",))
    assert store.close_claims(entry, excluding=rid).unclaimed == HOLDS


def test_a_persisted_close_counts_once_and_an_ended_one_for_its_fills(store, entry):
    assert store.record_decision(sell(store, "sell-1"), close_of(entry, "60")) is True
    close_order(store, entry, "sell-1", "60")
    assert store.close_claims(entry).claimed == 60
    store.record_fill("sf-sell-1", ExecutionStatus.CANCELED, Decimal(10))
    assert store.record_decision(sell(store, "sell-2"), close_of(entry, "90")) is True
    assert store.close_claims(entry).claimed == 100


def test_decisions_of_ended_recommendations_and_entries_claim_nothing(store, entry):
    assert store.record_decision(sell(store, "sell-1"), close_of(entry, "60")) is True
    store.set_status("sell-1", RecommendationStatus.REJECTED, "kill switch on")
    entry_decision = {"client_order_id": "", "qty": "500", "closes": ""}
    assert store.record_decision(sell(store, "buy-more"), entry_decision) is True
    assert store.close_claims(entry).claimed == 0
    assert store.record_decision(sell(store, "sell-2"), close_of(entry, "100")) is True
    assert store.record_decision("sell-1", close_of(entry, "1")) is False  # not in flight


def race(store, target: int, rids: list[str], qty: Decimal) -> dict[str, object]:
    """Each of ``rids`` decides a close of ``qty`` of ``target`` in its own thread, all
    released at once; what each got back."""
    start = threading.Barrier(len(rids))
    results: dict[str, object] = {}

    def claim(rid: str) -> None:
        start.wait(timeout=30)
        results[rid] = store.record_decision(rid, close_of(target, str(qty)))

    workers = [threading.Thread(target=claim, args=(rid,)) for rid in rids]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return results


def test_concurrent_claims_never_admit_more_than_the_entry_holds(store, entry):
    threads, qty = 8, Decimal(30)
    for n in range(3):
        base, _ = store.executions.insert(
            stock_execution(f"sf-buy-{n}", "rec-buy", quantity=HOLDS, filled_qty=HOLDS)
        )
        rids = [sell(store, f"sell-{n}-{i}") for i in range(threads)]
        results = race(store, base.id, rids, qty)
        assert len(results) == threads, results
        admitted = [rid for rid, kept in results.items() if kept is True]
        refused = [kept for kept in results.values() if isinstance(kept, ClaimRefused)]
        assert len(admitted) * qty <= HOLDS, results
        assert len(admitted) == 3, results  # as many as fit: a claim is refused, not lost
        assert len(refused) == threads - 3, results
        assert store.close_claims(base.id).claimed == len(admitted) * qty
