"""What the demo prints after its day: the executions, the recommendations that fell back
or were turned down (with their reasons), and the three views, read as ``strikeflow
positions`` and ``strikeflow report`` read them (services.queries)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from rich.console import Console
from rich.table import Table

from strikeflow.cli.tables import (
    DEMO_EXECUTIONS,
    execution_table,
    new_table,
    short_reason,
    trade_label,
    view_table,
)
from strikeflow.domain.expiry import NEW_YORK
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


def print_report(
    console: Console, records: Records, outcome_rows: int, as_of: date | None = None
) -> None:
    """The executions, the refusals and the three views (positions as of ``as_of``)."""
    console.print(execution_table(day_executions(records), DEMO_EXECUTIONS))
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
