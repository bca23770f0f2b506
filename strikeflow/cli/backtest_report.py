"""A backtest's report: the tables in the terminal (per strategy, per exit rule), and in
the output folder ``trades.csv``, the charts (the equity curve with its drawdown, the
P&L per strategy and per rule) and ``report.html``, which embeds them and needs nothing
beside it."""

from __future__ import annotations

import base64
import csv
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from strikeflow.cli.formats import money, price
from strikeflow.cli.tables import new_table
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.trade_stats import (
    ClosedTrade,
    TradeStats,
    by_rule,
    by_strategy,
    daily_pnl,
    drawdowns,
    equity_curve,
    stats_of,
)
from strikeflow.sim import calendar

TRADE_FIELDS = (
    "closed_at",
    "opened_at",
    "symbol",
    "strategy",
    "rule",
    "quantity",
    "entry_price",
    "exit_price",
    "realized_pnl",
)
CHARTS = ("equity.png", "pnl_by_strategy.png", "pnl_by_rule.png")


@dataclass(frozen=True)
class Report:
    """What the run closed, over which days, and the figures of it."""

    trades: Sequence[ClosedTrade]
    days: Sequence[date]
    strategies: Mapping[str, TradeStats]
    rules: Mapping[str, TradeStats]
    overall: TradeStats

    @classmethod
    def of(cls, trades: Sequence[ClosedTrade], days: Sequence[date]) -> Report:
        return cls(
            trades, days, by_strategy(trades, days), by_rule(trades, days), stats_of(trades, days)
        )


def _rate(stats: TradeStats) -> str:
    return "-" if stats.win_rate is None else f"{stats.win_rate:.0%}"


def _held(stats: TradeStats) -> str:
    held = stats.average_held
    if held is None:
        return "-"
    minutes = int(held.total_seconds() // 60)
    return (
        f"{minutes // 1440}d {minutes % 1440 // 60}h"
        if minutes >= 1440
        else (f"{minutes // 60}h {minutes % 60:02d}m")
    )


def _sharpe(stats: TradeStats) -> str:
    return "-" if stats.sharpe is None else f"{stats.sharpe:.2f}"


def _average(stats: TradeStats) -> str:
    return "-" if stats.average_pnl is None else money(stats.average_pnl)


def strategy_rows(report: Report) -> list[list[str]]:
    rows = []
    for name, stats in [*report.strategies.items(), ("all", report.overall)]:
        exits = ", ".join(f"{n} {rule}" for rule, n in stats.exits.items()) or "-"
        rows.append(
            [
                name,
                str(stats.trades),
                _rate(stats),
                money(stats.total_pnl),
                _average(stats),
                money(stats.max_drawdown),
                _sharpe(stats),
                _held(stats),
                exits,
            ]
        )
    return rows


STRATEGY_HEADERS = (
    "strategy",
    "trades",
    "win rate",
    "realized P&L",
    "average",
    "max drawdown",
    "Sharpe (daily)",
    "avg held",
    "exits",
)
TRADE_HEADERS = ("closed", "symbol", "strategy", "closed by", "qty", "entry", "exit", "P&L")
RULE_HEADERS = ("closed by", "trades", "win rate", "realized P&L", "average", "avg held")


def rule_rows(report: Report) -> list[list[str]]:
    return [
        [name, str(s.trades), _rate(s), money(s.total_pnl), _average(s), _held(s)]
        for name, s in report.rules.items()
    ]


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = new_table(title)
    for n, header in enumerate(headers):
        table.add_column(header, justify="left" if n == 0 or header == "exits" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_tables(console: Console, report: Report) -> None:
    days = f"{len(report.days)} trading day{'s' if len(report.days) != 1 else ''}"
    console.print(_table(f"by strategy ({days})", STRATEGY_HEADERS, strategy_rows(report)))
    if report.rules:
        console.print(_table("by what closed the trade", RULE_HEADERS, rule_rows(report)))


def write_trades(path: Path, trades: Sequence[ClosedTrade]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(TRADE_FIELDS)
        for t in trades:
            writer.writerow(
                [
                    t.closed_at.astimezone(NEW_YORK).isoformat(),
                    t.opened_at.astimezone(NEW_YORK).isoformat(),
                    t.symbol,
                    t.strategy,
                    t.rule,
                    format(t.quantity.normalize(), "f"),
                    "" if t.entry_price is None else t.entry_price,
                    "" if t.exit_price is None else t.exit_price,
                    t.pnl,
                ]
            )


def write_charts(folder: Path, report: Report) -> list[Path]:
    """The three charts as PNGs in ``folder``: the equity curve over its drawdown, and
    the realized P&L per strategy and per rule."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no screen here, and none needed
    from matplotlib import pyplot as plt

    paths = [folder / name for name in CHARTS]
    curve = equity_curve(report.trades)
    if report.days:  # from nothing at the first open
        first = calendar.session(report.days[0])
        if first is not None and (not curve or first[0] < curve[0][0]):
            curve = [(first[0], Decimal(0)), *curve]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5), height_ratios=(2, 1))
    times = [at.astimezone(NEW_YORK).replace(tzinfo=None) for at, _ in curve]
    top.step(times, [float(v) for _, v in curve], where="post", color="tab:blue")
    top.axhline(0, color="grey", linewidth=0.5)
    top.set_ylabel("realized P&L ($)")
    top.set_title("equity curve (realized, at each close)")
    bottom.fill_between(
        times, [-float(f) for _, f in drawdowns(curve)], step="post", color="tab:red", alpha=0.4
    )
    bottom.set_ylabel("drawdown ($)")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(paths[0], dpi=100)
    plt.close(figure)
    for path, groups, title in (
        (paths[1], report.strategies, "realized P&L by strategy"),
        (paths[2], report.rules, "realized P&L by what closed the trade"),
    ):
        figure, axes = plt.subplots(figsize=(9, 3.5))
        names = list(groups) or ["none"]
        values = [float(groups[n].total_pnl) if n in groups else 0.0 for n in names]
        axes.bar(names, values, color=["tab:green" if v >= 0 else "tab:red" for v in values])
        axes.axhline(0, color="grey", linewidth=0.5)
        axes.set_title(title)
        axes.set_ylabel("$")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
    return paths


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(path: Path, report: Report, charts: Sequence[Path], title: str) -> None:
    """``report.html``: the tables, the charts embedded (it stands alone), the trades."""
    images = "".join(
        f'<img alt="{html.escape(c.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(c.read_bytes()).decode()}">'
        for c in charts
    )
    trade_rows = [
        [
            f"{t.closed_at.astimezone(NEW_YORK):%Y-%m-%d %H:%M}",
            t.symbol,
            t.strategy,
            t.rule,
            str(t.quantity),
            "-" if t.entry_price is None else price(t.entry_price),
            "-" if t.exit_price is None else price(t.exit_price),
            money(t.pnl),
        ]
        for t in report.trades
    ]
    daily = [[f"{d}", money(v)] for d, v in daily_pnl(report.trades, report.days).items()]
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ display: block; max-width: 100%; margin: 1em 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>By strategy</h2>{_html_table(STRATEGY_HEADERS, strategy_rows(report))}
<h2>By what closed the trade</h2>{_html_table(RULE_HEADERS, rule_rows(report))}
<h2>Charts</h2>{images}
<h2>Daily realized P&amp;L</h2>{_html_table(("day", "realized P&L"), daily)}
<h2>Trades ({len(report.trades)})</h2>
{_html_table(TRADE_HEADERS, trade_rows)}
</body></html>
"""
    path.write_text(document, encoding="utf-8")


__all__ = [
    "CHARTS",
    "Report",
    "print_tables",
    "write_charts",
    "write_html",
    "write_trades",
]
