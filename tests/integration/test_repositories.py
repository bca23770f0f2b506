"""Repositories on real PostgreSQL and SQLite (every test runs on both)."""

from __future__ import annotations

import dataclasses
import multiprocessing
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from strikeflow.db.engine import engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.db.tables import dispatch_executions, recommendations
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.risk import open_exposure
from tests.integration.record_factories import AT, option_execution, recommendation, stock_execution


@pytest.fixture
def recs(db_url):
    return RecommendationRepository(engine_for(db_url))


@pytest.fixture
def execs(db_url, recs):
    recs.insert(recommendation())
    return ExecutionRepository(engine_for(db_url))


def count(db_url, table) -> int:
    with engine_for(db_url).connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_recommendation_round_trips_and_a_second_insert_returns_the_first(recs, db_url):
    first, created = recs.insert(recommendation())
    assert created
    assert first == recommendation()
    again, created_again = recs.insert(recommendation(reason="a retry with other text"))
    assert not created_again
    assert again.reason == "volume surge with momentum"
    assert count(db_url, recommendations) == 1


@pytest.mark.parametrize("make", [stock_execution, option_execution])
def test_an_execution_round_trips_every_field(execs, make):
    stored, created = execs.insert(make())
    assert created
    assert isinstance(stored.id, int)
    assert dataclasses.replace(stored, id=None) == make()
    assert stored.created_at.tzinfo is not None


def test_a_duplicate_client_order_id_returns_the_existing_row(execs, db_url):
    first, _ = execs.insert(option_execution())
    second, created = execs.insert(option_execution(contracts=9, premium_paid=Decimal("9.99")))
    assert not created
    assert second == first
    assert count(db_url, dispatch_executions) == 1


def test_terminal_states_are_final_and_a_repeat_is_harmless(recs):
    recs.insert(recommendation())
    assert [r.id for r in recs.pending()] == ["rec-aapl-1"]
    assert recs.set_status("rec-aapl-1", RecommendationStatus.DISPATCHED)
    assert [r.id for r in recs.pending()] == ["rec-aapl-1"]  # dispatched is not terminal
    assert recs.set_status("rec-aapl-1", RecommendationStatus.FAILED, "BrokerUnavailable: 503")
    assert not recs.set_status("rec-aapl-1", RecommendationStatus.FAILED, "again")
    assert not recs.set_status("rec-aapl-1", RecommendationStatus.EXECUTED)
    stored = recs.get("rec-aapl-1")
    assert (stored.status, stored.status_reason) == ("failed", "BrokerUnavailable: 503")
    assert recs.pending() == []


def test_a_terminal_state_keeps_its_explain_and_a_repeat_cannot_replace_it(recs):
    recs.insert(recommendation())
    assert recs.status_explain("rec-aapl-1") is None
    why = {"risk": {"allowed": False, "breaches": ["max_open_positions"]}, "sizing": {"q": 3}}
    assert recs.set_status(
        "rec-aapl-1", RecommendationStatus.REJECTED, "risk: 20 open", explain=why
    )
    assert not recs.set_status("rec-aapl-1", RecommendationStatus.FAILED, "late", explain={"x": 1})
    assert recs.status_explain("rec-aapl-1") == why
    assert recs.get("rec-aapl-1").status_reason == "risk: 20 open"
    assert recs.status_explain("no-such-id") is None


def test_an_execution_and_its_outcome_are_written_together_once(execs, recs, db_url):
    first, created = execs.insert_with_status(
        stock_execution(), RecommendationStatus.EXECUTED, None
    )
    assert created
    assert recs.get("rec-aapl-1").status is RecommendationStatus.EXECUTED
    again, created = execs.insert_with_status(
        stock_execution(), RecommendationStatus.REJECTED, "a late duplicate"
    )
    assert (again, created) == (first, False)
    assert recs.get("rec-aapl-1").status is RecommendationStatus.EXECUTED  # terminal stays
    assert count(db_url, dispatch_executions) == 1


def test_a_refused_execution_writes_no_status_either(execs, recs, db_url):
    bad = dataclasses.replace(stock_execution(), closes_execution_id=999_999)  # no such row
    with pytest.raises(InvalidRecord, match="closes_execution_id"):
        execs.insert_with_status(bad, RecommendationStatus.EXECUTED)
    assert recs.get("rec-aapl-1").status is RecommendationStatus.PENDING
    assert count(db_url, dispatch_executions) == 0


def test_held_entries_carry_their_order_cost_without_the_whole_explain(execs):
    entry = stock_execution(status=ExecutionStatus.ACCEPTED, filled_qty=None)
    big = {**entry.explain_json, "order_cost": "1234.50", "selection": {"rejected": [1] * 500}}
    execs.insert(dataclasses.replace(entry, explain_json=big))
    (open_entry,), realized = execs.risk_reads(AT.date())
    assert open_entry.explain_json == {"order_cost": "1234.50"}
    assert open_entry.client_order_id == entry.client_order_id
    assert realized == Decimal(0)


def test_fills_and_realized_pnl_are_recorded(execs):
    entry, _ = execs.insert(option_execution(status=ExecutionStatus.ACCEPTED, filled_qty=None))
    assert [e.client_order_id for e in execs.unfinished()] == ["sf-call-1"]
    filled = execs.record_fill(
        "sf-call-1", ExecutionStatus.FILLED, Decimal("3"), Decimal("2.20"), AT, "order-1"
    )
    assert (filled.status, filled.filled_qty, filled.notional) == ("filled", 3, Decimal("6.60"))
    assert execs.record_fill("sf-call-1", ExecutionStatus.FILLED) == dataclasses.replace(
        filled, updated_at=execs.by_client_order_id("sf-call-1").updated_at
    )
    execs.set_realized_pnl(entry.id, Decimal("-45.00"))
    assert execs.by_client_order_id("sf-call-1").realized_pnl == Decimal("-45.00")
    assert execs.unfinished() == []


def test_held_entries_and_the_day_s_realized_pnl(execs):
    held, _ = execs.insert(option_execution("sf-held"))
    execs.insert(stock_execution("sf-pending", status=ExecutionStatus.SUBMITTED))
    execs.insert(  # refused: nothing filled, nothing held
        stock_execution(
            "sf-refused", status=ExecutionStatus.REJECTED, filled_qty=None, filled_avg_price=None
        )
    )
    closed, _ = execs.insert(option_execution("sf-closed"))
    execs.insert(
        option_execution(
            "sf-exit",
            action=Action.SELL,
            position_effect=PositionEffect.CLOSE,
            closes_execution_id=closed.id,
            realized_pnl=Decimal("-12.50"),
        )
    )
    execs.insert(
        option_execution(
            "sf-exit-pending",
            action=Action.SELL,
            position_effect=PositionEffect.CLOSE,
            closes_execution_id=held.id,
            status=ExecutionStatus.ACCEPTED,
            filled_qty=None,
        )
    )
    entries, realized = execs.risk_reads(AT.date())
    # sf-closed is out (its exit filled); sf-held stays: an exit not yet filled closes nothing
    assert [e.client_order_id for e in entries] == ["sf-held", "sf-pending"]
    assert realized == Decimal("-12.50")
    assert execs.risk_reads(AT.date() + timedelta(days=1))[1] == Decimal(0)


def test_a_partly_closed_entry_is_held_for_what_is_left_with_its_own_multiplier(execs):
    """5 adjusted contracts (150 shares each), 2 closed: risk reads the entry with its
    closed quantity, so it counts 3 x 150 shares in the net Greeks and its cost; an
    entry whose closes filled all it holds is left out."""
    held, _ = execs.insert(option_execution("sf-held", contracts=5, multiplier=150))
    gone, _ = execs.insert(option_execution("sf-gone", contracts=2))

    def close(cid: str, entry, qty: int) -> None:
        execs.insert(
            option_execution(
                cid,
                action=Action.SELL,
                position_effect=PositionEffect.CLOSE,
                closes_execution_id=entry.id,
                contracts=qty,
                filled_avg_price=Decimal("3.00"),
            )
        )

    close("sf-part", held, 2)
    close("sf-rest-1", gone, 1)
    close("sf-rest-2", gone, 1)
    (entry,), _ = execs.risk_reads(AT.date())
    assert (entry.client_order_id, entry.closed_qty, entry.multiplier) == ("sf-held", 2, 150)
    exposure = open_exposure([entry], AT)
    assert exposure.net_delta == Decimal("0.4812") * 3 * 150
    assert exposure.by_ticker == {"AAPL": Decimal("2.15") * 3 * 150}
    assert execs.by_client_order_id("sf-held").multiplier == 150
    assert execs.by_client_order_id("sf-gone").multiplier is None


def test_recent_filters_with_bound_parameters(execs, db_url):
    execs.insert(stock_execution())
    execs.insert(option_execution(created_at=AT + timedelta(minutes=5)))
    assert [e.client_order_id for e in execs.recent()] == ["sf-call-1", "sf-stock-1"]
    assert [e.client_order_id for e in execs.recent(instrument_type="STOCK")] == ["sf-stock-1"]
    assert execs.recent(since=AT + timedelta(minutes=1))[0].client_order_id == "sf-call-1"
    assert execs.recent(ticker="'; DROP TABLE dispatch_executions;--") == []
    assert count(db_url, dispatch_executions) == 2


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: stock_execution(filled_avg_price=Decimal("NaN")), "filled_avg_price"),
        (lambda: stock_execution(notional=Decimal("Infinity")), "notional"),
        (lambda: stock_execution(quantity=Decimal("-5")), "quantity"),
        (lambda: stock_execution(instrument_type="FUTURE"), "instrument_type"),
        (lambda: option_execution(strike_price=None), "strike_price"),
        (lambda: option_execution(contracts=0), "contracts"),
        (lambda: option_execution(delta=Decimal("1e7")), "delta"),
        (lambda: stock_execution(client_order_id="x" * 49), "client_order_id"),
        (lambda: stock_execution(ticker="'; DROP TABLE dispatch_executions;--"), "ticker"),
        (lambda: recommendation(confidence=1.5), "confidence"),
        (lambda: recommendation(reason="r" * 5_000), "reason"),
        (lambda: recommendation(created_at=AT.replace(tzinfo=None)), "created_at"),
    ],
)
def test_bad_values_are_refused_naming_the_field(build, field):
    with pytest.raises(InvalidRecord) as refused:
        build()
    assert refused.value.field == field
    assert str(refused.value).startswith(field)


def test_the_database_backstop_names_the_field_and_writes_nothing(execs, db_url):
    orphan = stock_execution(rec_id="no-such-recommendation")
    with pytest.raises(InvalidRecord, match="recommendation_id"):
        execs.insert(orphan)
    assert count(db_url, dispatch_executions) == 0
    with engine_for(db_url).connect() as conn:  # the table survived the injection attempt
        assert conn.execute(text("SELECT COUNT(*) FROM dispatch_executions")).scalar_one() == 0


def _insert_in_child(args):
    """Runs in a process of its own: its own engine, then the same insert as its siblings."""
    url, kind, barrier = args
    barrier.wait(timeout=30)
    engine = engine_for(url)
    if kind == "recommendation":
        return RecommendationRepository(engine).insert(recommendation("rec-race"))[1]
    return ExecutionRepository(engine).insert(stock_execution("sf-race", "rec-race"))[1]


def racing_processes() -> multiprocessing.context.BaseContext:
    """Fresh processes that share no engine with this one, forked from a server that has
    imported this module once (rather than each importing it again, as spawn does)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


@pytest.mark.parametrize("kind", ["recommendation", "execution"])
def test_eight_processes_racing_on_one_key_write_one_row(db_url, recs, kind):
    if kind == "execution":
        recs.insert(recommendation("rec-race"))
    ctx = racing_processes()
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            created = pool.map(_insert_in_child, [(db_url, kind, barrier)] * 8)
    assert sorted(created) == [False] * 7 + [True]
    table = recommendations if kind == "recommendation" else dispatch_executions
    assert count(db_url, table) == 1


def test_option_rows_keep_their_instrument_type(execs):
    stored, _ = execs.insert(option_execution(instrument_type=InstrumentType.PUT))
    assert stored.instrument_type is InstrumentType.PUT
