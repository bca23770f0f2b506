"""``strikeflow demo``'s trading day, run: the stack up (demo_stack), the day traded
(demo_day) under a progress bar, the record printed (demo_report). cli/demo.py holds the
command's arguments and imports this module only when the day runs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta

from celery import Celery
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from strikeflow import bootstrap
from strikeflow.cli.arguments import shown_url
from strikeflow.cli.demo import OUTCOME_ROWS
from strikeflow.cli.demo_day import DayTally, DemoTimeout, session_steps, trade_day
from strikeflow.cli.demo_report import print_report
from strikeflow.cli.demo_stack import DemoRefused, DemoStack, StackPlan
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.services.queries import Records


def run_day_demo(args: argparse.Namespace) -> int:
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
    records = bootstrap.build_records(settings.database_url)
    where = f"Redis and {shown_url(settings.database_url)}" if plan.external else "in process"
    console.rule(
        f"[bold]strikeflow demo[/] · {args.date:%a %Y-%m-%d} · seed {args.seed}"
        f" · {', '.join(plan.watchlist)} · {where}"
    )
    try:
        tally = _trade_the_day(console, stack, app, records, plan.minutes)
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
    exits = ", ".join(f"{n} {rule}" for rule, n in sorted(tally.exits.items())) or "none"
    console.print(f"manage_positions sent {sum(tally.exits.values())} closes: {exits}")
    print_report(console, records, OUTCOME_ROWS, as_of=args.date)
    return 0


def _trade_the_day(
    console: Console, stack: DemoStack, app: Celery, records: Records, steps: Sequence[datetime]
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
        for at, _ in trade_day(stack, app, records, steps, tally):
            progress.update(bar, advance=1, clock=_ny(at), tally=tally.line())
    return tally


def _ny(at: datetime) -> str:
    return f"{at.astimezone(NEW_YORK):%H:%M} New York"
