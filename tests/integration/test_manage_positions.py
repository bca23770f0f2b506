"""manage_positions end to end: entries bought through the pipeline on real worker
subprocesses, real PostgreSQL and real alpaca-py against the emulator; then the
emulator's clock moves a minute at a time and ``strikeflow.manage_positions`` runs each
minute, until a take profit fires and its close is sent, filled and recorded with a
positive realized P&L. Also the book's SQL on both dialects: the high-water mark only
rises, the Greeks are refreshed, the spot at selection is read back.

The fleet's rules file keeps one exit rule for a day trade in options, a take profit
at +2 %, so that the only exit the walk of the seeded market can fire is the one under
test. Everything waits by polling with a deadline; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.position_queries import PositionQueries
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig
from strikeflow.domain.enums import Action, RecommendationSource, RecommendationStatus
from strikeflow.services.ports import HeldGreeks
from strikeflow.tasks.scan import parse_instant
from tests.integration.emulator import KEY, SECRET
from tests.integration.record_factories import option_execution, recommendation
from tests.integration.test_closing_chain import close_filled, entered, venue_holds
from tests.integration.test_pipeline import (
    DBS,
    DEADLINE_S,
    ORDERS,
    PIPELINE,
    Pipeline,
    emulator_options,
)

MANAGE = "strikeflow.manage_positions"
QUEUE = "dispatch"  # where the routing sends it (workers.config)
RULES = """
[exits.day_trade.option]
take_profit_pct = 2
stop_loss_pct = "off"
trailing_stop_pct = "off"
time_exit = "off"
underlying_stop_pct = "off"
"""
MAX_MINUTES = 240


@pytest.fixture(scope="module")
def managed(create_database, tmp_path_factory) -> Iterator[Pipeline]:
    url = create_database("postgresql")
    upgrade(url, "heads")
    DBS.flush()
    rules = tmp_path_factory.mktemp("manage-rules") / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    emulator = InProcessEmulator(emulator_options())
    emulator.start()
    config = FleetConfig(
        database_url=url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("manage-logs"),
        api_key=KEY,
        secret_key=SECRET,
        env={"STRIKEFLOW_RETRY_DEADLINE_S": "2", "STRIKEFLOW_RULES_FILE": str(rules)},
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([PIPELINE, ORDERS])
        pipeline = Pipeline(fleet, emulator, url)
        pipeline.reset()
        yield pipeline
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


def manage(pipeline: Pipeline, at: datetime) -> dict:
    sent = pipeline.fleet.app.send_task(MANAGE, kwargs={"at": at.isoformat()}, queue=QUEUE)
    return sent.get(timeout=DEADLINE_S)


def test_a_take_profit_is_decided_sent_and_closed_with_a_gain(managed):
    pipeline = managed
    entries = [entered(pipeline, "SPY")]  # a day-trade CALL
    rid = pipeline.recommend("SPY", "SELL", "PUT", "day_trade")  # and a PUT: one rises
    pipeline.dispatch(rid)
    assert pipeline.terminal(rid).status is RecommendationStatus.EXECUTED
    entries.append(pipeline.fill(rid))
    by_id = {e.id: e for e in entries}

    exits: list[dict] = []
    for _ in range(MAX_MINUTES):
        moved = pipeline.venue.advance(seconds=60)
        assert moved["is_open"], "the session closed before a take profit fired"
        at = parse_instant(moved["timestamp"])
        outcome = manage(pipeline, at)
        assert outcome["skipped"] is None, outcome
        again = manage(pipeline, at)  # the same minute: decided once
        assert again["skipped"].startswith("minute already managed"), again
        exits = [e for e in outcome["exits"] if e["sent"]]
        if exits:
            break
    assert exits, f"no take profit in {MAX_MINUTES} minutes"
    [fired] = exits[:1]
    assert fired["rule"] == "take_profit"
    entry = by_id[fired["execution_id"]]
    assert fired["recommendation_id"] == f"close-{entry.id}-1"

    rec = pipeline.terminal(fired["recommendation_id"])
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    assert (rec.action, rec.source) == (Action.SELL, RecommendationSource.EXIT)
    assert rec.features["exit"]["rule"] == "take_profit"
    close = close_filled(pipeline, fired["recommendation_id"])
    assert close.closes_execution_id == entry.id
    assert close.realized_pnl is not None
    assert close.realized_pnl > 0
    assert venue_holds(pipeline, entry.option_symbol) == 0
    with engine_for(pipeline.url).connect() as conn:
        mark = conn.execute(
            text("SELECT high_water_mark FROM dispatch_executions WHERE id = :id"),
            {"id": entry.id},
        ).scalar_one()
    assert mark is not None
    assert mark > entry.filled_avg_price


@pytest.fixture
def book(db_url) -> PositionQueries:
    return PositionQueries(engine_for(db_url))


def held_call(db_url: str, n: int = 1) -> int:
    recommendations = RecommendationRepository(engine_for(db_url))
    recommendations.insert(recommendation(f"mp-rec-{n}"))
    recommendations.record_selection(f"mp-rec-{n}", {"spot": 512.25})
    stored, _ = ExecutionRepository(engine_for(db_url)).insert(
        option_execution(f"sf-mp-{n}", f"mp-rec-{n}")
    )
    return stored.id


def greeks_of(db_url: str, entry_id: int):
    with engine_for(db_url).connect() as conn:
        return conn.execute(
            text("SELECT delta, theta, implied_volatility FROM dispatch_executions WHERE id = :i"),
            {"i": entry_id},
        ).one()


def test_the_book_keeps_the_highest_mark_and_the_latest_greeks(db_url, book):
    entry_id = held_call(db_url)
    [held] = book.held_entries(date(2000, 1, 1))
    assert held.lot.entry.execution_id == entry_id
    assert (held.high_water, held.entry_spot) == (None, Decimal("512.25"))

    book.raise_high_water({entry_id: Decimal("3.10")})
    book.raise_high_water({entry_id: Decimal("2.90")})  # lower: kept as it was
    other_id = held_call(db_url, 2)
    book.refresh_greeks(
        {
            entry_id: HeldGreeks(Decimal("0.61234"), None, Decimal("0.25")),
            other_id: HeldGreeks(Decimal("0.4"), Decimal("-0.07"), Decimal("0.31")),
        }
    )
    held = book.held_entries(date(2000, 1, 1))
    assert {h.lot.entry.execution_id: h.high_water for h in held}[entry_id] == Decimal("3.10")
    row = greeks_of(db_url, entry_id)
    assert Decimal(str(row.delta)) == Decimal("0.6123")
    assert row.theta is not None  # None kept the stored figure
    assert Decimal(str(row.implied_volatility)) == Decimal("0.25")
    # Another entry with every figure, written in its own batch of the same call.
    other = greeks_of(db_url, other_id)
    assert (Decimal(str(other.delta)), Decimal(str(other.theta))) == (
        Decimal("0.4"),
        Decimal("-0.07"),
    )
    assert Decimal(str(other.implied_volatility)) == Decimal("0.31")
