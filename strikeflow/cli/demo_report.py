"""What the demo prints after its day: the executions, the exits (each close, the rule
that fired it and what it realized), the recommendations that fell back or were turned
down (with their reasons), and the three views, read as ``strikeflow positions`` and
``strikeflow report`` read them (services.queries)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from strikeflow.cli.formats import money
from strikeflow.cli.tables import (
    DEMO_EXECUTIONS,
    execution_table,
    new_table,
    short_reason,
    trade_label,
    view_table,
)
from strikeflow.domain.enums import PositionEffect
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.position_book import quantity_text
from strikeflow.domain.records import Execution
from strikeflow.services.closed_trades import close_rule
from strikeflow.services.queries import Records, day_executions, not_traded, report_views

VIEWS = ("active_options_positions", "options_performance_by_strategy", "daily_options_summary")


@dataclass(frozen=True)
class Outcome:
    """A recommendation that did not trade as asked, and why."""

    at: datetime
    ticker: str
    requested: str
    status: str
    reason: str


def outcomes(records: Records) -> list[Outcome]:
    """Recommendations that fell back, were rejected or failed, oldest first."""
    return [
        Outcome(
            row.created_at,
            row.ticker,
            trade_label(row.instrument_type, row.strategy_type),
            row.status,
            short_reason(row.status, row.status_reason or ""),
        )
        for row in not_traded(records)
    ]


@dataclass(frozen=True)
class OutcomeGroup:
    """Outcomes alike but for their figures (the same ticker, request, outcome and
    reason with the numbers left out): a signal the scan repeats, refused each time."""

    first: Outcome
    last_at: datetime
    count: int


def group_outcomes(rows: Sequence[Outcome]) -> list[OutcomeGroup]:
    """Alike outcomes together, in the order each first happened."""
    groups: dict[tuple[str, ...], OutcomeGroup] = {}
    for row in rows:
        key = (row.ticker, row.requested, row.status, FIGURES.sub("#", row.reason))
        seen = groups.get(key)
        groups[key] = (
            OutcomeGroup(row, row.at, 1)
            if seen is None
            else OutcomeGroup(seen.first, row.at, seen.count + 1)
        )
    return list(groups.values())


FIGURES = re.compile(r"\d+(?:\.\d+)?")


def outcome_table(rows: Sequence[Outcome], limit: int) -> Table:
    groups = group_outcomes(rows)
    shown = groups[:limit]
    title = f"fallbacks and rejections ({len(rows)}" + (
        f"; the first {limit} kinds of {len(groups)} shown)" if len(groups) > limit else ")"
    )
    table = new_table(title)
    for name in ("time", "n", "ticker", "requested", "outcome", "reason (the first)"):
        table.add_column(
            name, no_wrap=not name.startswith("reason"), justify="right" if name == "n" else "left"
        )
    for group in shown:
        row = group.first
        when = _ny(row.at) if group.count == 1 else f"{_ny(row.at)}–{_ny(group.last_at)}"
        table.add_row(when, f"×{group.count}", row.ticker, row.requested, row.status, row.reason)
    return table


def outcome_counts(rows: Sequence[Outcome]) -> str:
    counts = Counter(row.status for row in rows)
    return ", ".join(f"{n} {status}" for status, n in counts.most_common()) or "none"


@dataclass(frozen=True)
class ExitRow:
    """A close that filled: when, what, the rule that fired it (or who asked), how much,
    at what price, and the P&L it realized."""

    at: datetime
    symbol: str
    rule: str
    quantity: Decimal
    price: Decimal | None
    realized_pnl: Decimal | None


def exit_rows(records: Records, executions: Sequence[Execution]) -> list[ExitRow]:
    """The closes among ``executions`` that filled something, oldest first."""
    rows = []
    for e in executions:
        if e.position_effect is not PositionEffect.CLOSE or not e.filled_qty:
            continue
        rec = records.recommendations.get(e.recommendation_id)
        rows.append(
            ExitRow(
                e.filled_at or e.created_at,
                e.option_symbol or e.ticker,
                close_rule(rec),
                e.filled_qty,
                e.filled_avg_price,
                e.realized_pnl,
            )
        )
    return rows


def exit_table(rows: Sequence[ExitRow]) -> Table:
    table = new_table(f"exits ({len(rows)} closes filled)")
    for name in ("time", "symbol", "rule", "qty", "exit price", "realized P&L"):
        table.add_column(
            name, no_wrap=True, justify="right" if " " in name or name == "qty" else "left"
        )
    for row in rows:
        table.add_row(
            _ny(row.at),
            row.symbol,
            row.rule,
            quantity_text(row.quantity),
            "—" if row.price is None else money(row.price),
            "—" if row.realized_pnl is None else money(row.realized_pnl),
        )
    return table


def print_report(
    console: Console, records: Records, outcome_rows: int, as_of: date | None = None
) -> None:
    """The executions, the refusals and the three views (positions as of ``as_of``)."""
    executions = day_executions(records)
    console.print(execution_table(executions, DEMO_EXECUTIONS))
    console.print(exit_table(exit_rows(records, executions)))
    refused = outcomes(records)
    console.print(outcome_table(refused, outcome_rows))
    console.print(f"not traded as asked: {outcome_counts(refused)}")
    console.print()
    for name, rows in report_views(records, VIEWS, as_of).items():
        console.print(view_table(name, rows))


def _ny(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return f"{at.astimezone(NEW_YORK):%H:%M}"
