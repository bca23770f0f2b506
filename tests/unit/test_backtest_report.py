"""A backtest's report from its trades: the terminal's tables, trades.csv, the charts
and report.html (which embeds them); and the trading days a run covers."""

from __future__ import annotations

import csv
from datetime import date

from rich.console import Console

from strikeflow.cli.backtest_report import (
    CHARTS,
    Report,
    print_tables,
    write_charts,
    write_html,
    write_trades,
)
from strikeflow.services.closed_trades import every_execution
from strikeflow.services.queries import Records
from strikeflow.sim.calendar import first_trading_days as trading_days
from tests.unit.test_trade_stats import DAYS, TRADES

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_days_run_skip_weekends_and_holidays():
    # Wed 2026-11-25, Thanksgiving Thu 11-26 (shut), Fri 11-27, the weekend, Mon 11-30
    assert trading_days(date(2026, 11, 25), 3) == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]
    assert trading_days(date(2026, 11, 28), 1) == [date(2026, 11, 30)]


def test_the_tables_show_each_strategy_each_rule_and_all():
    console = Console(record=True, width=200)
    print_tables(console, Report.of(TRADES, DAYS))
    text = console.export_text()
    assert "by strategy (3 trading days)" in text
    day_trade = next(line for line in text.splitlines() if line.startswith("day_trade"))
    assert day_trade.split()[:5] == ["day_trade", "3", "33%", "-100.00", "-33.33"]
    everything = next(line for line in text.splitlines() if line.startswith("all"))
    assert everything.split()[:6] == ["all", "4", "50%", "-70.00", "-17.50", "170.00"]
    take_profit = next(line for line in text.splitlines() if line.startswith("take_profit"))
    assert take_profit.split()[:4] == ["take_profit", "2", "100%", "130.00"]


def test_the_files_hold_every_trade_and_the_charts(tmp_path):
    report = Report.of(TRADES, DAYS)
    write_trades(tmp_path / "trades.csv", report.trades)
    with (tmp_path / "trades.csv").open(encoding="utf-8") as rows:
        read = list(csv.DictReader(rows))
    assert [r["realized_pnl"] for r in read] == ["100", "-150", "30", "-50"]
    assert read[0]["rule"] == "take_profit"
    assert read[0]["closed_at"] == "2026-11-16T10:00:00-05:00"
    charts = write_charts(tmp_path, report)
    assert [c.name for c in charts] == list(CHARTS)
    assert all(c.read_bytes().startswith(PNG) for c in charts)
    write_html(tmp_path / "report.html", report, charts, "a test run")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3  # stands alone
    assert "<h2>Trades (4)</h2>" in page
    assert "-150.00" in page


def test_a_run_that_closed_nothing_still_reports(tmp_path):
    report = Report.of([], DAYS)
    console = Console(record=True, width=200)
    print_tables(console, report)
    assert "all" in console.export_text()
    write_html(tmp_path / "report.html", report, write_charts(tmp_path, report), "nothing")
    assert "<h2>Trades (0)</h2>" in (tmp_path / "report.html").read_text(encoding="utf-8")


class NewestFirst:
    """The executions port over ``count`` numbered rows, newest first, as the SQL one."""

    def __init__(self, count: int) -> None:
        self.rows = list(range(count))
        self.limits: list[int] = []

    def recent(self, since=None, *, limit: int = 100):
        self.limits.append(limit)
        return list(reversed(self.rows))[:limit]


def test_every_execution_is_read_past_one_batch_oldest_first():
    executions = NewestFirst(25)
    records = Records(recommendations=None, executions=executions, reports=None, outcomes=None)
    assert every_execution(records, batch=10) == list(range(25))
    assert executions.limits == [10, 40]
    assert every_execution(records, batch=30) == list(range(25))
