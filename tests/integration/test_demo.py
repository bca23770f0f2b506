"""``strikeflow demo`` as a user runs it: a subprocess in an empty directory, nothing but
Python (SQLite, memory://, the emulator and the worker in its process), then its SQLite
file read back; and the same command on Redis (db numbers of this test process) and a
PostgreSQL database of its own.

The demo's day is seeded (see strikeflow.cli.demo: DEMO_SEED, DEMO_DAY): these tests check
what any such day must show (real fills with every option column, calls and puts, day
and swing, stock), not a transcript.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.integration.conftest import worker_dbs

DBS = worker_dbs()
BROKER_DB, STATE_DB = DBS.broker, DBS.backend
REDIS_HOST, REDIS_PORT = DBS.host, DBS.port
DEMO_TIMEOUT_S = 240
OCC = re.compile(r"\b[A-Z]{1,6}\d{6}[CP]\d{8}\b")
OPTION_COLUMNS = (
    "option_symbol", "strike_price", "expiration_date", "contracts", "premium_paid",
    "delta", "theta", "implied_volatility",
)  # fmt: skip


def run_cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m strikeflow ...`` with none of the caller's STRIKEFLOW_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "strikeflow", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )


def executions(url: str) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM dispatch_executions ORDER BY id"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def assert_a_day_of_real_trades(rows: list[dict]) -> None:
    filled = [r for r in rows if r["status"] == "filled"]
    for close in (r for r in filled if r["position_effect"] == "CLOSE"):
        assert close["closes_execution_id"] is not None, close
        assert close["filled_avg_price"] > 0
        assert close["realized_pnl"] is not None, close
    filled = [r for r in filled if r["position_effect"] == "OPEN"]  # the entries
    options = [r for r in filled if r["instrument_type"] in ("CALL", "PUT")]
    for row in options:
        missing = [c for c in OPTION_COLUMNS if row[c] is None]
        assert not missing, f"{row['option_symbol']}: no {missing}"
        assert OCC.fullmatch(row["option_symbol"])
        assert row["option_symbol"].startswith(row["ticker"])
        assert (row["delta"] > 0) == (row["instrument_type"] == "CALL")
        assert row["theta"] < 0
        assert 0 < row["implied_volatility"] < 3
        assert row["filled_avg_price"] > 0
    kinds = {(r["instrument_type"], r["strategy_type"]) for r in options}
    assert {("CALL", "day_trade"), ("PUT", "day_trade")} <= kinds, kinds
    assert any(strategy == "swing_trade" for _, strategy in kinds), kinds
    stock = [r for r in filled if r["instrument_type"] == "STOCK"]
    assert stock, "no stock trade filled"
    assert all(r["filled_qty"] > 0 and r["filled_avg_price"] > 0 for r in stock)
    assert {r["execution_mode"] for r in filled} == {"PAPER"}  # the venue filled them


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    home = tmp_path_factory.mktemp("demo-home")
    return run_cli(home, "demo"), home


def test_the_demo_exits_0_and_prints_the_day(embedded):
    done, _ = embedded
    assert done.returncode == 0, done.stderr[-3_000:] + done.stdout[-3_000:]
    out = done.stdout
    assert "in process" in out
    assert re.search(r"15:5\d New York", out)  # the progress bar reached the close
    assert re.search(r"executions \(\d+\)", out)
    assert len(set(OCC.findall(out))) >= 3
    assert "fallbacks and rejections" in out
    for view in ("active_options_positions", "options_performance_by_strategy"):
        assert view in out
    assert "daily_options_summary" in out
    assert "strikeflow positions --db strikeflow-demo.db --as-of 2027-04-15" in out


def test_the_sqlite_file_holds_filled_options_and_stock(embedded):
    done, home = embedded
    assert done.returncode == 0
    assert (home / "strikeflow-demo.db").is_file()
    assert_a_day_of_real_trades(executions(f"sqlite:///{home / 'strikeflow-demo.db'}"))


def test_every_recommendation_of_the_day_ended_in_a_terminal_state(embedded):
    _, home = embedded
    engine = create_engine(f"sqlite:///{home / 'strikeflow-demo.db'}")
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(text("SELECT status, COUNT(*) FROM recommendations GROUP BY 1")).all()
        )
    engine.dispose()
    assert statuses.get("executed", 0) >= 4
    assert set(statuses) <= {"executed", "fell_back", "rejected", "failed"}, statuses


def test_the_day_closes_trades_by_its_exit_rules(embedded):
    """manage_positions ran through the day: a take profit, a stop loss and a time exit
    each closed a position, and the performance view counts the closed trades."""
    done, home = embedded
    assert done.returncode == 0
    engine = create_engine(f"sqlite:///{home / 'strikeflow-demo.db'}")
    try:
        with engine.connect() as conn:
            features = conn.execute(
                text(
                    "SELECT r.features FROM dispatch_executions d"
                    " JOIN recommendations r ON r.id = d.recommendation_id"
                    " WHERE d.position_effect = 'CLOSE' AND r.source = 'exit'"
                    " AND d.filled_qty > 0 AND d.realized_pnl IS NOT NULL"
                )
            ).scalars()
            rules = [(json.loads(f) if isinstance(f, str) else f)["exit"]["rule"] for f in features]
            performance = conn.execute(
                text("SELECT trades, wins, losses FROM options_performance_by_strategy")
            ).all()
    finally:
        engine.dispose()
    assert {"take_profit", "stop_loss", "time_of_day"} <= set(rules), rules
    assert performance, "no closed option trade in options_performance_by_strategy"
    assert sum(row.trades for row in performance) >= 2
    assert sum(row.wins for row in performance) >= 1
    out = done.stdout
    assert re.search(r"exits \(\d+ closes filled\)", out)
    for rule in ("take_profit", "stop_loss", "time_of_day"):
        assert rule in out
    assert "manage_positions sent" in out


def test_strikeflow_report_reads_the_file_afterwards(embedded):
    _, home = embedded
    env = {"STRIKEFLOW_DATABASE_URL": "sqlite:///strikeflow-demo.db"}
    report = run_cli(home, "report", "--json", env=env)
    assert report.returncode == 0, report.stderr
    assert '"daily_options_summary"' in report.stdout
    executed = run_cli(home, "executions", "--json", env=env)
    assert executed.returncode == 0, executed.stderr
    assert len(set(OCC.findall(executed.stdout))) >= 3


def test_the_positions_are_judged_by_the_demo_day_not_the_real_date(embedded):
    _, home = embedded
    env = {"STRIKEFLOW_DATABASE_URL": "sqlite:///strikeflow-demo.db"}
    shown = run_cli(home, "positions", "--json", "--as-of", "2027-04-15", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["active_options_positions"]
    assert rows, "the demo day ends with open option positions"
    windows = {"day_trade": range(2), "swing_trade": range(7, 31)}  # DTE, as selected
    for row in rows:
        assert row["days_to_expiry"] in windows[row["strategy_type"]], row
    refused = run_cli(home, "positions", "--as-of", "15/04/2027", env=env)
    assert refused.returncode == 2
    assert "not a date (YYYY-MM-DD): '15/04/2027'" in refused.stderr


def test_a_closed_day_is_a_usage_error(tmp_path):
    done = run_cli(tmp_path, "demo", "--date", "2027-04-17")  # a Saturday
    assert done.returncode == 2
    assert "not a trading day" in done.stderr
    assert not (tmp_path / "strikeflow-demo.db").exists()


@pytest.fixture
def own_redis() -> Iterator[dict[str, str]]:
    """This module's Redis db numbers, empty before and after."""
    clients = [redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=n) for n in (BROKER_DB, STATE_DB)]
    for client in clients:
        client.flushdb()
    yield {
        "STRIKEFLOW_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}",
        "STRIKEFLOW_RESULT_BACKEND": f"redis://{REDIS_HOST}:{REDIS_PORT}/{STATE_DB}",
        "STRIKEFLOW_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{STATE_DB}",
    }
    for client in clients:
        client.flushdb()
        client.close()


def test_the_same_command_runs_on_redis_and_postgresql(own_redis, create_database, tmp_path):
    url = create_database("postgresql")
    env = {**own_redis, "STRIKEFLOW_DATABASE_URL": url}
    done = run_cli(tmp_path, "demo", env=env)
    assert done.returncode == 0, done.stderr[-3_000:] + done.stdout[-3_000:]
    assert "Redis and postgresql" in done.stdout
    assert not (tmp_path / "strikeflow-demo.db").exists()  # nothing embedded was used
    day = executions(url)
    assert_a_day_of_real_trades(day)

    again = run_cli(tmp_path, "demo", env=env)  # the rows are there: refused, untouched
    assert again.returncode == 2
    assert "--reset" in again.stderr
    assert executions(url) == day


def test_a_database_with_rows_is_refused_unless_reset(create_database):
    from strikeflow.cli.demo_stack import DemoRefused, fresh_database
    from strikeflow.db.engine import engine_for
    from strikeflow.db.repositories import RecommendationRepository
    from strikeflow.services.manual_signal import manual_recommendation

    url = create_database("postgresql")
    fresh_database(url, reset=False)  # empty: migrated, nothing to refuse
    store = RecommendationRepository(engine_for(url))
    store.insert(manual_recommendation("SPY", "BUY", recommendation_id="someone-elses"))
    with pytest.raises(DemoRefused, match="1 rows in recommendations"):
        fresh_database(url, reset=False)
    assert store.get("someone-elses") is not None  # refused before touching anything
    fresh_database(url, reset=True)
    assert store.get("someone-elses") is None


def test_only_the_demo_days_claims_and_the_watchlists_cooldowns_are_cleared(own_redis):
    from datetime import datetime

    from strikeflow.app_state.in_redis import COOLDOWN_PREFIX
    from strikeflow.cli.demo_stack import clear_scan_state
    from strikeflow.domain.expiry import NEW_YORK
    from strikeflow.services.scan import cooldown_key, lock_key

    minutes = [
        datetime(2027, 4, 15, 9, 35, tzinfo=NEW_YORK),
        datetime(2027, 4, 15, 9, 40, tzinfo=NEW_YORK),
    ]
    watchlist = ("SPY", "AAPL")
    client = redis.Redis.from_url(own_redis["STRIKEFLOW_REDIS_URL"])
    ours = [lock_key(watchlist, m) for m in minutes] + [
        COOLDOWN_PREFIX + cooldown_key("SPY", "BUY")
    ]
    others = [
        lock_key(("QQQ",), minutes[0]),  # another watchlist's claim
        lock_key(watchlist, datetime(2027, 4, 16, 9, 35, tzinfo=NEW_YORK)),  # another day
        COOLDOWN_PREFIX + cooldown_key("QQQ", "BUY"),
        "strikeflow:killswitch",
    ]
    for key in ours + others:
        client.set(key, b"1")
    clear_scan_state(own_redis["STRIKEFLOW_REDIS_URL"], watchlist, minutes)
    assert [client.exists(k) for k in ours] == [0] * len(ours)
    assert [client.exists(k) for k in others] == [1] * len(others)
    client.close()
