"""What the demo prints after its day: the executions, the recommendations that fell back
or were turned down (with their reasons), and the three views, read as ``strikeflow
positions`` and ``strikeflow report`` read them (ReportQueries)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from strikeflow.db.reports import ReportQueries
from strikeflow.db.repositories import ExecutionRepository
from strikeflow.db.tables import recommendations
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.records import Execution, RecommendationStatus

VIEWS = ("active_options_positions", "options_performance_by_strategy", "daily_options_summary")
NOT_TRADED = (
    RecommendationStatus.FELL_BACK,
    RecommendationStatus.REJECTED,
    RecommendationStatus.FAILED,
)
MAX_EXECUTIONS = 10_000


@dataclass(frozen=True)
class Outcome:
    """A recommendation that did not trade as asked, and why."""

    at: datetime
    ticker: str
    requested: str
    status: str
    reason: str


def executions(engine: Engine) -> list[Execution]:
    """Every execution of the day, oldest first."""
    return list(reversed(ExecutionRepository(engine).recent(limit=MAX_EXECUTIONS)))


def outcomes(engine: Engine) -> list[Outcome]:
    """Recommendations that fell back, were rejected or failed, oldest first."""
    c = recommendations.c
    query = (
        select(c.created_at, c.ticker, c.instrument_type, c.strategy_type, c.status)
        .add_columns(c.status_reason)
        .where(c.status.in_([s.value for s in NOT_TRADED]))
        .order_by(c.created_at, c.id)
    )
    with engine.connect() as conn:
        return [
            Outcome(
                row.created_at,
                row.ticker,
                trade_label(row.instrument_type, row.strategy_type),
                row.status,
                short_reason(row.status, row.status_reason or ""),
            )
            for row in conn.execute(query)
        ]


def trade_label(instrument: str, strategy: str | None) -> str:
    """'CALL day', 'PUT swing', 'STOCK'."""
    return f"{instrument} {strategy.split('_')[0]}" if strategy else instrument


def short_reason(status: str, reason: str) -> str:
    """The reason without the repeated status and the task-name prefix."""
    head, sep, rest = reason.partition(": ")
    if sep and head == status:
        reason = rest
    return reason.removeprefix("strikeflow.")


def execution_table(rows: Sequence[Execution]) -> Table:
    table = Table(title=f"executions ({len(rows)})", header_style="bold", box=box.SIMPLE_HEAD)
    for name in EXECUTION_COLUMNS:
        table.add_column(name, justify="right" if name in NUMERIC else "left", no_wrap=True)
    for e in rows:
        option = e.option_symbol is not None
        price = e.premium_paid if option else e.filled_avg_price
        table.add_row(
            _ny(e.created_at),
            e.ticker,
            e.action.value,
            trade_label(
                e.instrument_type.value, e.strategy_type.value if e.strategy_type else None
            ),
            e.option_symbol or "",
            _number(e.strike_price),
            f"{e.expiration_date:%Y-%m-%d}" if e.expiration_date else "",
            str(e.contracts) if option else _number(e.filled_qty or e.quantity),
            _money(price),
            _signed(e.delta),
            _signed(e.theta),
            f"{e.implied_volatility:.1%}" if e.implied_volatility is not None else "",
            e.status.value,
            e.execution_mode.value,
        )
    return table


EXECUTION_COLUMNS = (
    "time", "ticker", "side", "trade", "OCC symbol", "strike", "expiry", "qty",
    "premium", "delta", "theta", "IV", "status", "mode",
)  # fmt: skip
NUMERIC = frozenset({"strike", "qty", "premium", "delta", "theta", "IV"})


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
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD)
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


def view_table(name: str, rows: Sequence[dict[str, Any]]) -> Table | str:
    """One view as ``strikeflow positions``/``report`` read it, in the columns that fit."""
    if not rows:
        return f"{name}: no rows"
    wanted = VIEW_COLUMNS.get(name)
    columns = [c for c in rows[0] if c != "explain_json" and (wanted is None or c in wanted)]
    table = Table(title=name, header_style="bold", box=box.SIMPLE_HEAD)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*(_value(row[c]) for c in columns))
    return table


VIEW_COLUMNS = {
    "active_options_positions": (
        "option_symbol", "strike_price", "expiration_date", "contracts", "premium_paid",
        "delta", "theta", "implied_volatility", "strategy_type", "days_to_expiry",
    ),
}  # fmt: skip


def print_report(
    console: Console, engine: Engine, outcome_rows: int, as_of: date | None = None
) -> None:
    """The executions, the refusals and the three views (positions as of ``as_of``)."""
    console.print(execution_table(executions(engine)))
    refused = outcomes(engine)
    console.print(outcome_table(refused, outcome_rows))
    console.print(f"not traded as asked: {outcome_counts(refused)}")
    console.print()
    views = ReportQueries(engine)
    for name in VIEWS:
        console.print(view_table(name, views.view(name, as_of)))


def _ny(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return f"{at.astimezone(NEW_YORK):%H:%M}"


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _number(value)
    return str(value)


def _number(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _signed(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+.4f}"
