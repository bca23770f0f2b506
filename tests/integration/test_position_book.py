"""The position book against the served emulator and a real database: a buy that
filled is listed by ``strikeflow positions`` with the venue's mark, ``--check`` agrees
with the venue until the venue changes behind the book's back, and the beat task
records the difference it then finds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from sqlalchemy import inspect, text

from strikeflow import bootstrap
from strikeflow.config import Settings
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import downgrade, upgrade
from strikeflow.db.position_queries import PositionQueries
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.domain.enums import Action, ExecutionStatus, PositionEffect
from strikeflow.tasks.positions import check_positions
from tests.integration.emulator import KEY, SECRET, EmulatorHandle, poll
from tests.integration.record_factories import option_execution, recommendation, stock_execution

SHARES = 10


@pytest.fixture
def book_url(db_url) -> Iterator[str]:
    yield db_url
    with engine_for(db_url).begin() as conn:
        conn.execute(text("DELETE FROM position_differences"))
    dispose_all()


def buy_and_fill(trading: TradingClient, emulator: EmulatorHandle, cid: str, symbol: str, qty):
    trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
            client_order_id=cid,
        )
    )  # fmt: skip
    emulator.advance(seconds=2)
    return poll(
        lambda: trading.get_order_by_client_id(cid), lambda o: o.status == "filled", deadline_s=10
    )


def record_fill(url: str, order, rec_id: str = "pb-rec-1") -> None:
    """What persist_execution writes for a filled stock buy."""
    RecommendationRepository(engine_for(url)).insert(recommendation(rec_id, ticker=order.symbol))
    ExecutionRepository(engine_for(url)).insert(
        stock_execution(
            order.client_order_id,
            rec_id,
            ticker=order.symbol,
            quantity=Decimal(order.qty),
            filled_qty=Decimal(order.filled_qty),
            filled_avg_price=Decimal(order.filled_avg_price),
            broker_order_id=str(order.id),
        )
    )


def positions(url: str, venue_url: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    env |= {"STRIKEFLOW_REDIS_URL": "memory://"}
    if venue_url is not None:
        env |= {
            "STRIKEFLOW_ALPACA_API_KEY": KEY,
            "STRIKEFLOW_ALPACA_SECRET_KEY": SECRET,
            "STRIKEFLOW_ALPACA_BASE_URL": venue_url,
        }
    command = [sys.executable, "-m", "strikeflow", "positions", "--db", url, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_positions_marks_checks_and_the_task_records(book_url, emulator, trading):
    order = buy_and_fill(trading, emulator, "sf-pb-aapl-1", "AAPL", SHARES)
    record_fill(book_url, order)

    shown = positions(book_url, emulator.url, "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert set(document) == {"as_of", "venue", "positions", "active_options_positions"}
    assert document["venue"] == {"marked": True, "note": None}
    (aapl,) = document["positions"]
    fill = Decimal(order.filled_avg_price)
    assert (aapl["symbol"], Decimal(aapl["open_qty"])) == ("AAPL", SHARES)
    assert Decimal(aapl["cost"]) == fill * SHARES
    venue_price = Decimal(trading.get_open_position("AAPL").current_price)
    assert Decimal(aapl["mark"]) == venue_price
    assert Decimal(aapl["unrealized_pnl"]) == (venue_price - fill) * SHARES

    table = positions(book_url, emulator.url)
    assert table.returncode == 0, table.stderr
    assert "AAPL" in table.stdout
    assert "unrealized P&L" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 120

    agreed = positions(book_url, emulator.url, "--check")
    assert agreed.returncode == 0, agreed.stdout + agreed.stderr
    assert "no differences from the venue" in agreed.stdout

    emulator.session.delete(f"{emulator.url}/v2/positions/AAPL").raise_for_status()
    emulator.advance(seconds=2)
    poll(trading.get_all_positions, lambda held: not held, deadline_s=10)

    differs = positions(book_url, emulator.url, "--check")
    assert differs.returncode == 1, differs.stdout + differs.stderr
    assert "AAPL" in differs.stdout
    assert "the venue holds none of it" in differs.stdout
    assert "Traceback" not in differs.stderr

    settings = Settings(
        database_url=book_url,
        redis_url="memory://",
        alpaca_api_key=KEY,
        alpaca_secret_key=SECRET,
        alpaca_base_url=emulator.url,
        clock="market",
    )
    bootstrap.install_runtime(bootstrap.build_runtime(settings))
    try:
        ran = check_positions()
    finally:
        bootstrap.reset_runtime()
    assert ran["differences"] == [
        {"symbol": "AAPL", "ours": f"{SHARES}", "venue": "0", "kind": "ours_only"}
    ]
    ((_, recorded),) = PositionQueries(engine_for(book_url)).recent_differences()
    assert (recorded.symbol, recorded.ours, recorded.venue) == ("AAPL", SHARES, 0)


def test_without_the_venue_the_book_shows_with_no_marks(book_url, emulator, trading):
    order = buy_and_fill(trading, emulator, "sf-pb-aapl-2", "AAPL", SHARES)
    record_fill(book_url, order)
    shown = positions(book_url, None)
    assert shown.returncode == 0, shown.stderr
    assert "AAPL" in shown.stdout
    assert "—" in shown.stdout
    assert "no marks" in shown.stdout + shown.stderr
    check = positions(book_url, None, "--check")
    assert check.returncode == 1
    assert check.stderr.count("\n") == 1
    assert "Traceback" not in check.stderr
    assert "STRIKEFLOW_ALPACA_API_KEY" in check.stderr


def test_book_rows_take_partial_closes_and_skip_what_never_filled(book_url):
    """Entries holding a fill and the closes naming them, on both dialects."""
    RecommendationRepository(engine_for(book_url)).insert(recommendation("pb-rec-2"))
    executions = ExecutionRepository(engine_for(book_url))
    entry, _ = executions.insert(option_execution("sf-pb-call-1", "pb-rec-2", contracts=3))
    executions.insert(
        option_execution(
            "sf-pb-call-2",
            "pb-rec-2",
            contracts=2,
            status=ExecutionStatus.CANCELED,
            filled_qty=None,
        )
    )
    close = option_execution(
        "sf-pb-close-1",
        "pb-rec-2",
        contracts=1,
        position_effect=PositionEffect.CLOSE,
        closes_execution_id=entry.id,
        realized_pnl=Decimal("35"),
    )
    executions.insert(replace(close, action=Action.SELL))
    records = PositionQueries(engine_for(book_url))
    entries, closes = records.book_rows()
    assert [(e.execution_id, e.filled_qty, e.fill_price) for e in entries] == [
        (entry.id, 3, Decimal("2.15"))
    ]
    assert [(c.closes_execution_id, c.filled_qty) for c in closes] == [(entry.id, 1)]


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_the_migration_adds_the_table_and_takes_only_it_back(create_database, dialect):
    url = create_database(dialect)
    upgrade(url, "0007")
    assert "position_differences" in inspect(engine_for(url)).get_table_names()
    downgrade(url, "0006")
    dispose_all()
    tables = set(inspect(engine_for(url)).get_table_names())
    assert "position_differences" not in tables
    assert {"recommendations", "dispatch_executions"} <= tables
    dispose_all()
