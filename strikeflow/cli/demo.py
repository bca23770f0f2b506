"""``strikeflow demo``: a compressed trading day of the whole pipeline, with no servers.

The emulator, the database and a real Celery worker run in this process (demo_stack);
the day moves the simulated clock from the open to the close, scanning the watchlist at
every step and letting each step's chains finish (demo_day); the record is printed at the
end (demo_report) and stays in ``strikeflow-demo.db`` for ``strikeflow report``.
``--explain`` shows the contract selection for sample signals instead (demo_explain).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from celery import Celery
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from strikeflow.cli.arguments import aware_instant, calendar_day, shown_url
from strikeflow.cli.demo_day import (
    DayTally,
    DemoTimeout,
    reconcile,
    run_day,
    session_steps,
    task_scan,
    wait_terminal,
)
from strikeflow.cli.demo_explain import DEMO_AT, run_explain
from strikeflow.cli.demo_report import print_report
from strikeflow.cli.demo_stack import DemoRefused, DemoStack, StackPlan
from strikeflow.config import DEFAULT_WATCHLIST
from strikeflow.db.engine import engine_for
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.market import TICKER as SIMULATED_TICKER

# A seeded day on which the default rules trade calls and puts (day and swing) and stock:
# a Thursday, so the stocks' Friday weeklies are 1 DTE. The positions are shown as of this
# day (``ReportQueries.view(..., as_of=)``), whatever the real date.
DEMO_DAY = date(2027, 4, 15)
DEMO_SEED = 22
DEMO_STEP_MINUTES = 5
DEMO_DB = "strikeflow-demo.db"
OUTCOME_ROWS = 25


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="a compressed trading day of the whole pipeline, in this process (no servers)",
    )
    demo.add_argument("--seed", type=int, default=DEMO_SEED, help=f"market seed ({DEMO_SEED})")
    demo.add_argument(
        "--date",
        type=calendar_day,
        default=DEMO_DAY,
        help=f"the trading day, YYYY-MM-DD ({DEMO_DAY})",
    )
    demo.add_argument(
        "--watchlist",
        type=_tickers,
        default=DEFAULT_WATCHLIST,
        help=f"tickers, comma separated ({','.join(DEFAULT_WATCHLIST)})",
    )
    demo.add_argument(
        "--step",
        type=int,
        default=DEMO_STEP_MINUTES,
        help=f"simulated minutes between scans ({DEMO_STEP_MINUTES}; beat scans every minute)",
    )
    demo.add_argument("--db", type=Path, default=Path(DEMO_DB), help=f"SQLite file ({DEMO_DB})")
    demo.add_argument(
        "--reset",
        action="store_true",
        help="on Redis and a database of yours: delete strikeflow's rows there first",
    )
    demo.add_argument(
        "--explain",
        action="store_true",
        help="instead: which contract sample signals select at one instant, and why",
    )
    demo.add_argument(
        "--at",
        type=aware_instant,
        default=aware_instant(DEMO_AT),
        help=f"with --explain: market instant, ISO 8601 with offset ({DEMO_AT})",
    )
    demo.add_argument("--rows", type=int, default=8, help="with --explain: candidates shown")
    demo.set_defaults(run=run_demo, usage_error=demo.error)


def run_demo(args: argparse.Namespace) -> int:
    if args.explain:
        return run_explain(args)
    steps = session_steps(args.date, args.step) if args.step >= 1 else None
    if steps is None:
        args.usage_error(f"--step must be at least 1 minute, got {args.step}")
    if not steps:
        args.usage_error(f"--date {args.date} is not a trading day (weekend or NYSE holiday)")
    if not args.db.resolve().parent.is_dir():
        args.usage_error(f"--db {args.db}: no such directory {args.db.resolve().parent}")
    console = Console(width=None if sys.stdout.isatty() else 160)
    plan = StackPlan(
        seed=args.seed,
        watchlist=args.watchlist,
        start=steps[0] - timedelta(minutes=args.step),
        db_path=args.db,
        log_path=args.db.with_suffix(".log"),
        minutes=tuple(steps),
        env=dict(os.environ),
        reset=args.reset,
    )
    from strikeflow.workers.app import app

    try:
        with DemoStack(plan, app) as stack:
            code = _demo_day(console, stack, app, args)
    except DemoRefused as refused:
        print(f"strikeflow demo: {refused}", file=sys.stderr)
        return 2
    if code == 0 and not plan.external:
        console.print(
            f"\nThe day is in {args.db} (the worker's log in {plan.log_path}). Query it again:\n"
            f"  strikeflow positions --db {args.db} --as-of {args.date}"
            f"      (also: report, executions)"
        )
    return code


def _where(plan: StackPlan) -> str:
    return "the database" if plan.external else str(plan.db_path)


def _demo_day(console: Console, stack: DemoStack, app: Celery, args: argparse.Namespace) -> int:
    plan, settings = stack.plan, stack.settings
    assert settings is not None
    engine = engine_for(settings.database_url)
    where = f"Redis and {shown_url(settings.database_url)}" if plan.external else "in process"
    console.rule(
        f"[bold]strikeflow demo[/] · {args.date:%a %Y-%m-%d} · seed {args.seed}"
        f" · {', '.join(plan.watchlist)} · {where}"
    )
    try:
        tally = _trade_the_day(console, stack, app, engine, plan.minutes)
    except DemoTimeout as late:
        console.print(f"[red]strikeflow demo: {late}[/] (worker log: {plan.log_path})")
        return 1
    except KeyboardInterrupt:
        console.print(f"strikeflow demo: interrupted; what was traded is in {_where(plan)}")
        return 130
    skipped = sum(tally.skipped_signals.values())
    console.print(
        f"{tally.scans} scans: {len(tally.sent)} chains sent, {skipped} signals skipped"
        f" (listed with the rejections), {tally.fills_recorded} fills recorded by"
        " reconcile_orders"
    )
    print_report(console, engine, OUTCOME_ROWS, as_of=args.date)
    return 0


def _trade_the_day(
    console: Console, stack: DemoStack, app: Celery, engine: Engine, steps: Sequence[datetime]
) -> DayTally:
    tally = DayTally()
    columns = (
        TextColumn("[bold]{task.fields[clock]}"),
        BarColumn(),
        TextColumn("{task.fields[tally]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(
            "day", total=len(steps), clock=_ny(steps[0]), tally="the opening bell"
        )
        day = run_day(
            stack,
            task_scan(app),
            lambda: reconcile(app),
            lambda ids: wait_terminal(engine, ids),
            steps,
            tally,
        )
        for at, _ in day:
            progress.update(bar, advance=1, clock=_ny(at), tally=tally.line())
    return tally


def _ny(at: datetime) -> str:
    return f"{at.astimezone(NEW_YORK):%H:%M} New York"


def _tickers(text: str) -> tuple[str, ...]:
    tickers = tuple(dict.fromkeys(t.strip().upper() for t in text.split(",") if t.strip()))
    if not tickers:
        raise argparse.ArgumentTypeError("give at least one ticker, e.g. SPY,AAPL")
    bad = [t for t in tickers if not SIMULATED_TICKER.fullmatch(t)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"the emulator simulates tickers of 1 to 5 letters, not {', '.join(bad)}"
        )
    return tickers
