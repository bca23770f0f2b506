"""``strikeflow backtest`` as a user runs it: days through the whole pipeline on the
embedded defaults, the same trades from the same seed, its files, and bad input."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import worker_dbs

START, DAYS, STEP, SEED = "2027-04-12", "2", "30", "7"


def backtest(
    out: Path, *extra: str, timeout_s: float = 300, settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    env.update(settings or {})
    return subprocess.run(
        [sys.executable, "-m", "strikeflow", "backtest", "--out", str(out), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=out.parent,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("backtest")
    runs = []
    for name in ("first", "second"):
        out = base / name
        done = backtest(out, "--start", START, "--days", DAYS, "--step", STEP, "--seed", SEED)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        runs.append(out)
    return runs[0], runs[1]


def trades(out: Path) -> list[dict[str, str]]:
    with (out / "trades.csv").open(encoding="utf-8") as rows:
        return list(csv.DictReader(rows))


def test_the_same_seed_gives_the_same_trades(two_runs):
    first, second = two_runs
    assert trades(first)  # the seeded days close trades
    assert trades(first) == trades(second)


def test_option_orders_are_worked_in_simulated_time(two_runs):
    """Worked as in production: an order replaced up its ladder fills at a price the
    work improved on the far side, its steps run when simulated time reached them."""
    first, _ = two_runs
    with sqlite3.connect(first / "backtest.db") as db:
        worked = db.execute(
            "SELECT count(*) FROM dispatch_executions"
            " WHERE option_symbol IS NOT NULL AND status = 'filled' AND replaces >= 1"
        ).fetchone()[0]
        improved = db.execute(
            "SELECT count(*) FROM dispatch_executions WHERE improvement > 0"
        ).fetchone()[0]
    assert worked >= 1
    assert improved >= 1
    log = (first / "backtest.log").read_text(encoding="utf-8", errors="replace")
    assert "strikeflow.work_order" in log


def test_the_run_leaves_its_report_its_charts_and_a_database_to_query(two_runs):
    first, _ = two_runs
    page = (first / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3
    for name in ("equity.png", "pnl_by_strategy.png", "pnl_by_rule.png", "backtest.db"):
        assert (first / name).stat().st_size > 0
    for trade in trades(first):
        assert trade["strategy"] in {"day_trade", "swing_trade", "stock"}
        assert trade["rule"]  # what closed it, always named
        assert trade["closed_at"] >= trade["opened_at"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    shown = subprocess.run(
        [sys.executable, "-m", "strikeflow", "report", "--db", str(first / "backtest.db")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "options_performance_by_strategy" in shown.stdout


def test_a_worker_fleet_on_redis_and_postgresql_trades_as_the_embedded_stack(
    two_runs, tmp_path, create_database
):
    """The fleet path: with a broker and a database set, the command drives worker
    processes of their own on Redis and PostgreSQL; the same seed gives the same trades
    as the embedded stack (a worker in a thread, SQLite)."""
    dbs = worker_dbs()
    dbs.flush()
    settings = {
        "STRIKEFLOW_BROKER_URL": dbs.url(dbs.broker),
        "STRIKEFLOW_RESULT_BACKEND": dbs.url(dbs.backend),
        "STRIKEFLOW_REDIS_URL": dbs.url(dbs.app),
        "STRIKEFLOW_DATABASE_URL": create_database("postgresql"),
    }
    out = tmp_path / "fleet"
    try:
        done = backtest(
            out, "--start", START, "--days", DAYS, "--step", STEP, "--seed", SEED,
            "--workers", "2", settings=settings,
        )  # fmt: skip
    finally:
        dbs.flush()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "a fleet of 2 workers" in done.stdout
    assert sorted(p.name for p in out.glob("worker-*.log")) == [
        "worker-backtest1.log",
        "worker-backtest2.log",
    ]
    assert not (out / "backtest.db").exists()  # the record is in PostgreSQL
    embedded, _ = two_runs
    # The same trades, prices and P&L; the instants to the minute (a fill's second has
    # been seen to differ between the two stacks on a loaded machine: each stack repeats
    # its own to the second, test_the_same_seed_gives_the_same_trades).
    assert to_the_minute(trades(out)) == to_the_minute(trades(embedded))


def to_the_minute(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{**r, "opened_at": r["opened_at"][:16], "closed_at": r["closed_at"][:16]} for r in rows]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--start", START, "--days", "0"), "--days must be within 1 to 260, got 0"),
        (("--start", START, "--days", "1", "--step", "0"), "--step must be within 1 to 390"),
        (("--start", "2027-02-30", "--days", "1"), "2027-02-30"),
        (("--start", START, "--days", "1", "--rules", "nope.toml"), "--rules nope.toml"),
        (("--start", START, "--days", "1", "--workers", "0"), "--workers must be within 1 to 32"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, said):
    done = backtest(tmp_path / "out", *args, timeout_s=60)
    assert done.returncode == 2
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written
