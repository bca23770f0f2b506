"""``strikeflow signal | killswitch | executions | positions | report`` (``explain`` is
cli/explain.py's): the pipeline from a shell. Bad arguments exit 2 before anything is
stored or sent; a rejected or failed outcome under ``--wait`` exits 1, and a wait that
runs out of time exits 3.

Each command imports the database, the broker and the tables when it runs, not when the
parser is built.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from strikeflow.cli.arguments import aware_instant, database_url
from strikeflow.cli.chain_sender import Unsent, chain_sender
from strikeflow.cli.explain import add_explain_command
from strikeflow.cli.positions import add_positions_command
from strikeflow.cli.reading import DB_HELP, ReadFailed, failed, print_json, read_database
from strikeflow.services.manual_signal import DEFAULT_CONFIDENCE

if TYPE_CHECKING:
    from strikeflow.domain.records import Execution, Recommendation
    from strikeflow.services.query_ports import RecommendationRecords

POLL_S = 0.25
EXIT_OUTCOME = {"executed": 0, "fell_back": 0, "rejected": 1, "failed": 1, "unfilled": 1}
EXIT_TIMEOUT = 3
MAX_WAIT_S = 24 * 3600.0
MAX_ROWS = 10_000


def add_dispatch_commands(commands: argparse._SubParsersAction) -> None:
    sig = commands.add_parser("signal", help="store a manual recommendation and send its chain")
    sig.add_argument("ticker", help="underlying symbol, e.g. AAPL")
    sig.add_argument("--action", required=True, type=str.upper, choices=("BUY", "SELL"))
    sig.add_argument(
        "--instrument", default="STOCK", type=str.upper, choices=("STOCK", "CALL", "PUT")
    )
    sig.add_argument("--strategy", type=str.lower, choices=("day_trade", "swing_trade"))
    sig.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, help="in [0, 1]")
    sig.add_argument("--reason", default=None, help="why, for the record")
    sig.add_argument("--wait", action="store_true", help="block until the terminal state")
    sig.add_argument("--timeout", type=_seconds, default=120.0, help="seconds --wait waits")
    sig.add_argument("--json", action="store_true", help="print JSON")
    sig.set_defaults(run=run_signal, usage_error=sig.error)

    kill = commands.add_parser("killswitch", help="stop (on) or allow (off) new orders")
    kill.add_argument("state", choices=("on", "off", "status"))
    kill.add_argument("--reason", default="manual", help="why it is on")
    kill.set_defaults(run=run_killswitch)

    execs = commands.add_parser("executions", help="recent executions, newest first")
    execs.add_argument("--since", type=aware_instant, default=None, help="ISO 8601 with offset")
    execs.add_argument("--limit", type=_row_limit, default=50, help=f"1 to {MAX_ROWS}")
    execs.add_argument("--wide", action="store_true", help="every stored column")
    execs.add_argument("--json", action="store_true", help="every field, as JSON")
    execs.add_argument("--db", type=database_url, default=None, help=DB_HELP)
    execs.set_defaults(run=run_executions)
    add_explain_command(commands)

    add_positions_command(commands)
    for name, views, what in (
        ("report", ("options_performance_by_strategy", "daily_options_summary"), "P&L report"),
    ):
        view = commands.add_parser(name, help=what)
        view.add_argument("--wide", action="store_true", help="every column of the view")
        view.add_argument("--json", action="store_true", help="every column, as JSON")
        view.add_argument("--db", type=database_url, default=None, help=DB_HELP)
        view.set_defaults(run=run_views, views=views, as_of=None, command=name)


def run_signal(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from strikeflow import bootstrap
    from strikeflow.domain.errors import InvalidRecord
    from strikeflow.services.manual_signal import manual_recommendation
    from strikeflow.services.queries import entry_execution

    try:
        rec = manual_recommendation(
            args.ticker, args.action, args.instrument, args.strategy, args.confidence, args.reason
        )
    except InvalidRecord as bad:
        args.usage_error(str(bad))  # exits 2; nothing stored, nothing sent
    records = bootstrap.build_records()
    store = records.recommendations
    try:
        store.insert(rec)
        if not _send(store, rec.id):
            return 1
        if not args.wait:
            _show({"recommendation_id": rec.id, "status": "dispatched"}, args.json)
            return 0
        final = _wait(store, rec.id, args.timeout)
        execution = entry_execution(records, rec.id)
    except SQLAlchemyError as failed:
        print(f"strikeflow signal: database: {str(failed).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        bootstrap.close_databases()
    _show_outcome(final, execution, args.json)
    return EXIT_OUTCOME.get(final.status.value, EXIT_TIMEOUT)


def _send(store: RecommendationRecords, rid: str) -> bool:
    """Send the chain and mark it dispatched, as every sender does
    (``services.chain_sending``); when the broker cannot take it, the recommendation
    ends failed."""
    from strikeflow.domain.enums import RecommendationStatus
    from strikeflow.services.chain_sending import send_and_mark

    send = chain_sender()
    try:
        send_and_mark(store, send, rid)
    except Unsent as unsent:  # a database error marking it is the caller's to report
        store.set_status(rid, RecommendationStatus.FAILED, f"not sent: {unsent}")
        print(f"strikeflow signal: could not send the chain: {unsent}", file=sys.stderr)
        return False
    return True


def _wait(store: RecommendationRecords, rid: str, timeout_s: float) -> Recommendation:
    """Poll until terminal or the deadline. A connection the server dropped mid-wait (a
    restart) fails one poll as a disconnect; the pool reconnects on the next one."""
    from sqlalchemy.exc import DBAPIError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            rec = store.get(rid)
        except DBAPIError as failed:
            if not failed.connection_invalidated or time.monotonic() >= deadline:
                raise
            time.sleep(POLL_S)
            continue
        assert rec is not None, f"recommendation {rid} vanished"
        if rec.status.terminal or time.monotonic() >= deadline:
            return rec
        time.sleep(POLL_S)


def _show_outcome(rec: Recommendation, execution: Execution | None, as_json: bool) -> None:
    """The outcome in a dozen lines (``strikeflow explain`` has the whole decision);
    ``--json``: the recommendation and its execution in full."""
    from strikeflow.cli.tables import console_for, outcome_table

    if not rec.status.terminal:
        print(f"strikeflow signal: {rec.id} still {rec.status.value}", file=sys.stderr)
    if as_json:
        print_json({"recommendation": asdict(rec), "execution": execution and asdict(execution)})
        return
    console_for([]).print(outcome_table(rec, execution))
    print(f"the whole decision: strikeflow explain {rec.id}")


def run_killswitch(args: argparse.Namespace) -> int:
    from strikeflow import bootstrap
    from strikeflow.config import Settings, is_redis_url
    from strikeflow.services.kill_switch import KillSwitchUnavailable, set_kill_switch

    url = Settings().redis_url
    if not is_redis_url(url):
        print(
            f"strikeflow killswitch: STRIKEFLOW_REDIS_URL={url} keeps the switch inside one"
            " process (the demo); the fleet's switch is a Redis key: give a redis:// URL",
            file=sys.stderr,
        )
        return 2
    try:
        state = set_kill_switch(bootstrap.fleet_kill_switch(url), args.state, args.reason)
    except KillSwitchUnavailable as down:
        print(f"strikeflow killswitch: {down}", file=sys.stderr)
        return 1
    if not state.readable:
        print(f"strikeflow killswitch: {state.reason}", file=sys.stderr)
        return 1
    print(f"kill switch on since {state.since}: {state.reason}" if state.on else "kill switch off")
    return 0


def run_executions(args: argparse.Namespace) -> int:
    from strikeflow.cli.tables import console_for, execution_table
    from strikeflow.services.queries import recent_executions

    def read(records):
        return recent_executions(records, args.since, args.limit)

    try:
        rows = read_database(read, args.db)
    except ReadFailed as error:
        return failed("executions", error)
    if args.json:
        print_json({"executions": [asdict(e) for e in rows]})
        return 0
    table = execution_table(rows, wide=args.wide) if rows else "executions: no rows"
    console_for([table], args.wide).print(table)
    return 0


def run_views(args: argparse.Namespace) -> int:
    from strikeflow.cli.tables import console_for, view_table
    from strikeflow.services.queries import report_views

    def read(records):
        return report_views(records, args.views, args.as_of)

    try:
        views = read_database(read, args.db)
    except ReadFailed as error:
        return failed(args.command, error)
    if args.json:
        print_json(views)
        return 0
    tables = [view_table(name, rows, wide=args.wide) for name, rows in views.items()]
    console = console_for(tables, args.wide)
    for table in tables:
        console.print(table)
    return 0


def _show(data: dict[str, Any], as_json: bool) -> None:
    print(json.dumps(data) if as_json else " ".join(f"{k}={v}" for k, v in data.items()))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_WAIT_S:  # NaN too: a deadline of NaN is never reached
        raise argparse.ArgumentTypeError(f"seconds in (0, {MAX_WAIT_S:.0f}], got {text!r}")
    return value


def _row_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"a whole number in [1, {MAX_ROWS}], got {text!r}")
    return value
