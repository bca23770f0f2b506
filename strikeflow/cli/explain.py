"""``strikeflow explain REC_ID``: the whole decision behind one recommendation.

The signal, the contracts the selection considered and why each was turned down, the
one it chose, the sizing and the risk figures, any fallback to stock and why, and the
order with its fill (a worked order with its ladder, step by step): all read back
from what the pipeline stored (the execution's explain document, or for a
recommendation refused before any order, the explain kept with its status). REC_ID is
the whole id, or its tail as ``strikeflow executions`` and ``positions`` show it
(``…6f58eb5f``), when exactly one id ends so.

The database and the rendering (rich) load when the command runs, not when the parser
is built.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from strikeflow.cli.arguments import database_url
from strikeflow.cli.formats import ELLIPSIS, instant, money
from strikeflow.cli.reading import DB_HELP, ReadFailed, failed, print_json, read_database
from strikeflow.domain.records import MAX_ID, Recommendation, shown
from strikeflow.services.queries import Decision

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

ID_SHAPE = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MAX_ID}}}")
DEFAULT_ROWS = 15
MAX_ROWS = 10_000


def add_explain_command(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser("explain", help="the whole decision for one recommendation")
    explain.add_argument(
        "rec_id",
        metavar="REC_ID",
        type=recommendation_ref,
        help="the recommendation's id, or the tail the tables show (…6f58eb5f)",
    )
    explain.add_argument(
        "--rows",
        type=_rows,
        default=DEFAULT_ROWS,
        help=f"rejected candidates listed, nearest the money first ({DEFAULT_ROWS})",
    )
    explain.add_argument("--json", action="store_true", help="the whole record as JSON")
    explain.add_argument("--db", type=database_url, default=None, help=DB_HELP)
    explain.set_defaults(run=run_explain)


def recommendation_ref(text: str) -> str:
    """An id or an id's tail: letters, digits, '.', '_', ':' and '-' (a leading '…'
    copied from a table is dropped)."""
    ref = text.strip().removeprefix(ELLIPSIS).removeprefix("...")
    if ID_SHAPE.fullmatch(ref) is None:
        raise argparse.ArgumentTypeError(
            f"not a recommendation id: {shown(text)} (1-{MAX_ID} of A-Z, a-z, 0-9, '.', '_',"
            " ':', '-')"
        )
    return ref


def run_explain(args: argparse.Namespace) -> int:
    from strikeflow.cli.tables import console_for
    from strikeflow.services.queries import find_decision

    try:
        decision = read_database(lambda records: find_decision(records, args.rec_id), args.db)
    except ReadFailed as error:
        return failed("explain", error)
    if isinstance(decision, str):
        print(f"strikeflow explain: {decision}", file=sys.stderr)
        return 1
    if args.json:
        print_json(decision.to_json())
        return 0
    print_decision(console_for([]), decision, args.rows)
    return 0


def print_decision(console: Console, decision: Decision, rows: int) -> None:
    from rich.text import Text

    from strikeflow.cli.ladder_view import ladder_lines
    from strikeflow.cli.selection_view import grid, heading, mapping, print_selection
    from strikeflow.cli.tables import order_lines, plain

    rec, explain = decision.recommendation, decision.explain
    console.rule(plain(f"{rec.id}: {rec.status.value}", style="bold"))
    console.print(_recommendation(rec))
    selection = mapping(explain.get("selection"))
    if selection:
        print_selection(console, selection, rows)
    _print_steps(console, explain)
    for execution in decision.executions:
        console.print(heading("order"))
        console.print(grid(order_lines(execution)))
        ladder = ladder_lines(execution)
        if ladder:
            console.print(heading("worked"))
            console.print(grid(ladder))
    if not decision.executions:
        console.print(heading("order"))
        console.print(Text("none was sent"))


def _recommendation(rec: Recommendation) -> Table:
    from strikeflow.cli.selection_view import grid
    from strikeflow.cli.tables import short_reason, trade_label

    strategy = rec.strategy_type.value if rec.strategy_type else None
    asked = f"{rec.action.value} {rec.ticker} {trade_label(rec.instrument_type.value, strategy)}"
    rule = f", rule {rec.rule_id}" if rec.rule_id else ""
    lines = [
        ("asked", f"{asked}, confidence {rec.confidence:.2f} ({rec.source.value}{rule})"),
        ("at", f"{instant(rec.created_at)} New York"),
    ]
    if rec.reason:
        lines.append(("signal", rec.reason))
    reason = short_reason(rec.status.value, rec.status_reason or "")
    status = rec.status.value + (f": {reason}" if reason else "")
    lines.append(("outcome", status))
    return grid(lines)


def _print_steps(console: Console, explain: Mapping[str, Any]) -> None:
    """What happened after the selection: re-selections, fallback, sizing, risk, and the
    refusals that stopped the chain."""
    from strikeflow.cli.selection_view import grid, heading, listed, mapping

    lines: list[tuple[str, str]] = []
    for check in listed(explain.get("price_checks")):
        if isinstance(check, Mapping):
            lines.append(("price", f"{check.get('moved')}: {check.get('action')}"))
    fallback = mapping(explain.get("fallback"))
    if fallback:
        lines.append(("fallback", f"to stock: {fallback.get('reason')}"))
    if explain.get("option_sizing"):
        lines.append(("options", f"sized {explain['option_sizing']}"))
    sizing = mapping(explain.get("sizing"))
    if sizing.get("describe"):
        lines.append(("sizing", str(sizing["describe"])))
    short = mapping(explain.get("short"))
    if short:
        lines.append(("short", f"held {short.get('held')}, shorting allowed: no"))
    risk = mapping(explain.get("risk"))
    if risk:
        lines.extend(_risk_lines(risk))
    refusal = mapping(explain.get("refusal"))
    if refusal:
        lines.append(("venue", f"refused: {refusal.get('error')}"))
    if explain.get("adopted"):
        lines.append(("recovered", str(explain["adopted"])))
    if lines:
        console.print(heading("sizing and risk"))
        console.print(grid(lines))


RISK_COUNTS = frozenset({"open_positions"})
RISK_SHOWN = ("allowed", "breaches", "reason", "at")


def _risk_lines(risk: Mapping[str, Any]) -> list[tuple[str, str]]:
    verdict = "allowed" if risk.get("allowed") else f"refused: {risk.get('reason')}"
    figures = ", ".join(
        f"{name.replace('_', ' ')} {value if name in RISK_COUNTS else money(value)}"
        for name, value in risk.items()
        if name not in RISK_SHOWN
    )
    return [("risk", verdict), ("figures", figures)] if figures else [("risk", verdict)]


def _rows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"a whole number in [0, {MAX_ROWS}], got {text!r}")
    return value
