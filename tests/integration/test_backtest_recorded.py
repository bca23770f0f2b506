"""``strikeflow backtest --data`` as a user runs it, over a tiny store written by hand in
Alpaca's shapes (tests/recorded_stores.py): the recorded surge is traded, the contract
bought expires inside the window in the money and its exercise (and the venue's
liquidation of what the account could not carry) lands in the database; the day the
store lacks and the contract-minutes without a recorded quote are said plainly."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.recorded_stores import ITM_CALL, write_tiny_store

# The day trade is held to its expiry: every exit the rules could take before is off.
HOLD_TO_EXPIRY = """
[exits.day_trade.option]
take_profit_pct = "off"
stop_loss_pct = "off"
trailing_stop_pct = "off"
time_exit = "off"
close_at_dte = "off"
underlying_stop_pct = "off"
theta_max_pct = "off"
max_holding_hours = "off"
"""


def strikeflow(cwd: Path, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "strikeflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("replay")
    store = write_tiny_store(base / "store")
    rules = base / "hold.toml"
    rules.write_text(HOLD_TO_EXPIRY, encoding="utf-8")
    out = base / "out"
    done = strikeflow(
        base, "backtest", "--data", str(store), "--step", "30", "--rules", str(rules),
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return out, done


def rows(out: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(out / "backtest.db") as db:
        return db.execute(sql).fetchall()


def test_the_recorded_surge_is_traded_in_the_contract_that_expires_in_the_window(replay):
    out, _ = replay
    entries = rows(
        out,
        "SELECT option_symbol, strategy_type, status FROM dispatch_executions"
        " WHERE position_effect = 'OPEN' AND instrument_type = 'CALL'",
    )
    assert entries == [(ITM_CALL, "day_trade", "filled")]


def test_the_expiry_in_the_money_is_exercised_and_recorded(replay):
    out, _ = replay
    kinds = {kind for (kind,) in rows(out, "SELECT activity_type FROM venue_activities_seen")}
    assert {"OPEXC", "OPTRD"} <= kinds
    # Recorded on the expiration day itself, once the day had passed its close.
    (processed,) = rows(
        out, "SELECT processed_at FROM venue_activities_seen WHERE activity_type = 'OPEXC'"
    )
    assert processed[0].startswith("2027-04-12")
    closes = rows(
        out,
        "SELECT quantity, filled_avg_price FROM dispatch_executions"
        f" WHERE position_effect = 'CLOSE' AND option_symbol = '{ITM_CALL}'",
    )
    opened = rows(
        out, f"SELECT quantity FROM dispatch_executions WHERE option_symbol = '{ITM_CALL}'"
        " AND position_effect = 'OPEN'",
    )[0][0]  # fmt: skip
    assert sum(q for q, _ in closes) == opened  # exercised, or liquidated: nothing left
    # Exercised at the intrinsic value against the recorded close (104.00 - 103).
    assert 1.0 in {price for _, price in closes}
    delivered = rows(
        out,
        "SELECT quantity, filled_avg_price FROM dispatch_executions"
        " WHERE instrument_type = 'STOCK' AND position_effect = 'OPEN'",
    )
    assert delivered
    assert all(price == 103 for _, price in delivered)  # the strike


def test_what_the_store_lacks_is_said(replay):
    _, done = replay
    assert "no data on 1 trading day(s): 2027-04-14" in done.stdout
    said = [line for line in done.stdout.splitlines() if "no recorded quote" in line]
    assert len(said) == 1
    missing = int(said[0].split("recorded data: ")[1].split(" of ")[0])
    assert missing >= 1  # ACME270413C00103000 was shown, never quoted


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda d: d, "no manifest"),
        (lambda d: d / "absent", "no such directory"),
    ],
)
def test_a_missing_or_malformed_store_is_one_line_and_exit_2(tmp_path, make, said):
    done = strikeflow(tmp_path, "backtest", "--data", str(make(tmp_path)), timeout_s=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # argparse's usage above it
    assert last.startswith("strikeflow backtest: error: --data ")
    assert said in last


def test_a_window_outside_the_store_is_refused(tmp_path):
    store = write_tiny_store(tmp_path / "store")
    done = strikeflow(
        tmp_path, "backtest", "--data", str(store), "--start", "2027-05-03", timeout_s=60
    )
    assert done.returncode == 2
    assert "outside the store (2027-04-12 to 2027-04-14)" in done.stderr
    done = strikeflow(
        tmp_path, "backtest", "--data", str(store), "--watchlist", "SPY", timeout_s=60
    )
    assert done.returncode == 2
    assert "--watchlist SPY: not in the store (ACME)" in done.stderr
