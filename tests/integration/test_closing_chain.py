"""The closing chain end to end: an entry bought through the pipeline, then closed through
``strikeflow.close`` (the task) and ``strikeflow close`` (the command, a subprocess), on
real worker subprocesses, real PostgreSQL and real alpaca-py against the emulator.

Every close must end as a CLOSE row linked to its entry, with its realized P&L written
once its fill is known, the venue holding what the book says, and the performance view
counting the trade. Everything waits by polling with a deadline; nothing sleeps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.reports import ReportQueries
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig
from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    PositionEffect,
    RecommendationSource,
    RecommendationStatus,
)
from strikeflow.domain.records import Execution
from strikeflow.services.closing_ids import order_id_of
from tests.integration.emulator import KEY, SECRET
from tests.integration.test_pipeline import (
    DBS,
    DEADLINE_S,
    ORDERS,
    PIPELINE,
    Pipeline,
    emulator_options,
)
from tests.one_price import ONE_PRICE_ENV

FEE = Decimal("0.65")


MARKET_CLOCK_TTL_S = 1.1  # broker_adapters.market_time.MarketTime: ttl_s=1.0, and a margin


@pytest.fixture(scope="module")
def closing_pipeline(create_database, tmp_path_factory) -> Iterator[Pipeline]:
    url = create_database("postgresql")
    upgrade(url, "heads")
    DBS.flush()
    emulator = InProcessEmulator(emulator_options())
    emulator.start()
    config = FleetConfig(
        database_url=url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("closing-logs"),
        api_key=KEY,
        secret_key=SECRET,
        env={
            **ONE_PRICE_ENV,
            "STRIKEFLOW_RETRY_DEADLINE_S": "2",
            "STRIKEFLOW_CLOSE_FEE_PER_CONTRACT": str(FEE),
        },
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([PIPELINE, ORDERS])
        yield Pipeline(fleet, emulator, url)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


@pytest.fixture
def pipeline(closing_pipeline) -> Pipeline:
    closing_pipeline.reset()
    # The tests here move the venue's clock on by hours; a worker reads it at most once a
    # second (MarketTime's ttl) and carries a reading on by wall time in between. A reading
    # of the emulator before the reset must expire, or the next entry's quote (stamped at
    # the reset's 10:45) looks hours old to a worker that still thinks it is afternoon.
    time.sleep(MARKET_CLOCK_TTL_S)
    return closing_pipeline


def entered(pipeline: Pipeline, ticker: str = "SPY") -> Execution:
    """A day-trade CALL on ``ticker`` bought and filled."""
    rid = pipeline.recommend(ticker, "BUY", "CALL", "day_trade")
    pipeline.dispatch(rid)
    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    return pipeline.fill(rid)


def close_filled(pipeline: Pipeline, rid: str) -> Execution:
    """The close's row once reconcile_orders has recorded its fill (time advancing)."""

    def advance_and_reconcile() -> Execution | None:
        pipeline.venue.advance(seconds=300)
        pipeline.fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
        return pipeline.executions.by_client_order_id(order_id_of(rid))

    return pipeline._poll(
        advance_and_reconcile, lambda e: e is not None and e.status is ExecutionStatus.FILLED
    )


def venue_holds(pipeline: Pipeline, symbol: str) -> Decimal:
    reply = pipeline.venue.session.get(f"{pipeline.emulator.url}/v2/positions", timeout=10)
    reply.raise_for_status()
    return sum((Decimal(p["qty"]) for p in reply.json() if p["symbol"] == symbol), Decimal(0))


def expected_pnl(entry: Execution, close: Execution) -> Decimal:
    gross = (close.filled_avg_price - entry.filled_avg_price) * 100 * close.filled_qty
    return gross - FEE * close.filled_qty


def daily_closes(pipeline: Pipeline) -> list[tuple[int, Decimal]]:
    """The daily summary's closes and realized P&L, read from the view itself."""
    query = text("SELECT closes, realized_pnl FROM daily_options_summary")
    with engine_for(pipeline.url).connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def close_command(pipeline: Pipeline, *argv: str) -> tuple[int, str, str]:
    """``strikeflow close *argv`` in a subprocess with the fleet's settings."""
    done = subprocess.run(
        [sys.executable, "-m", "strikeflow", "close", *argv],
        env=pipeline.fleet.env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S * 2,
    )
    return done.returncode, done.stdout, done.stderr


def test_an_entry_closed_by_the_task_is_a_linked_close_row_with_its_realized_pnl(pipeline):
    entry = entered(pipeline)
    answer = pipeline.fleet.app.send_task(
        "strikeflow.close", kwargs={"execution_id": entry.id}
    ).get(timeout=DEADLINE_S)
    [asked] = answer["closes"]
    rid = asked["recommendation_id"]
    assert (rid, asked["sent"]) == (f"close-{entry.id}-1", True)

    rec = pipeline.terminal(rid)
    assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
    assert (rec.action, rec.source) == (Action.SELL, RecommendationSource.MANUAL_CLOSE)
    close = close_filled(pipeline, rid)
    assert close.position_effect is PositionEffect.CLOSE
    assert close.closes_execution_id == entry.id
    assert (close.action, close.option_symbol) == (Action.SELL, entry.option_symbol)
    assert close.filled_qty == entry.filled_qty
    assert close.realized_pnl == expected_pnl(entry, close)
    assert venue_holds(pipeline, entry.option_symbol) == 0
    assert len([o for o in pipeline.venue.audit() if o["client_order_id"] == order_id_of(rid)]) == 1
    reply = pipeline.venue.session.get(
        f"{pipeline.emulator.url}/v2/orders:by_client_order_id",
        params={"client_order_id": order_id_of(rid)},
        timeout=10,
    )
    order = reply.json()
    assert (order["side"], order["position_intent"]) == ("sell", "sell_to_close"), order

    reports = ReportQueries(engine_for(pipeline.url))
    assert reports.view("active_options_positions") == []
    [performance] = reports.view("options_performance_by_strategy")
    assert (performance["strategy_type"], performance["trades"]) == ("day_trade", 1)
    assert performance["wins"] + performance["losses"] <= 1
    assert Decimal(str(performance["win_rate"])) == performance["wins"]
    assert Decimal(str(performance["total_realized_pnl"])) == close.realized_pnl
    [(closes, realized)] = daily_closes(pipeline)
    assert (closes, Decimal(str(realized))) == (1, close.realized_pnl)


def test_a_partial_close_then_the_rest_by_the_command(pipeline):
    entry = entered(pipeline)
    held = entry.filled_qty
    if held < 2:
        pytest.skip(f"the sizing bought {held} contract: nothing to close in part")

    code, out, err = close_command(pipeline, str(entry.id), "--qty", "1", "--wait", "--json")
    assert code == 0, err
    [first] = json.loads(out)["closes"]
    assert (first["recommendation_id"], first["status"]) == (f"close-{entry.id}-1", "executed")
    part = close_filled(pipeline, first["recommendation_id"])
    assert (part.filled_qty, part.closes_execution_id) == (1, entry.id)
    assert venue_holds(pipeline, entry.option_symbol) == held - 1
    [position] = ReportQueries(engine_for(pipeline.url)).view("active_options_positions")
    assert position["contracts"] == held - 1

    code, out, err = close_command(pipeline, "SPY", "--wait", "--json")  # the rest, by symbol
    assert code == 0, err
    [rest] = json.loads(out)["closes"]
    assert rest["recommendation_id"] == f"close-{entry.id}-2"
    second = close_filled(pipeline, rest["recommendation_id"])
    assert second.filled_qty == held - 1
    assert second.closes_execution_id == entry.id
    assert second.realized_pnl == expected_pnl(entry, second)
    assert venue_holds(pipeline, entry.option_symbol) == 0

    code, out, err = close_command(pipeline, str(entry.id))  # nothing is left
    assert (code, out) == (2, "")
    assert err == f"strikeflow close: target execution {entry.id} is closed already\n"
    [performance] = ReportQueries(engine_for(pipeline.url)).view("options_performance_by_strategy")
    assert performance["trades"] == 2
    total = Decimal(str(performance["total_realized_pnl"]))
    assert total == part.realized_pnl + second.realized_pnl
