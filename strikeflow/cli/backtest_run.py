"""``strikeflow backtest``'s days, run: the stack up once (demo_stack), each trading day
traded as the demo trades its one (demo_day) under a progress bar over the days, then
the report (backtest_report). Ctrl-C stops after the day in progress and reports what
was done; a second Ctrl-C stops at once."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from celery import Celery
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from strikeflow import bootstrap
from strikeflow.cli.backtest_report import (
    Report,
    print_tables,
    write_charts,
    write_html,
    write_trades,
)
from strikeflow.cli.demo_day import (
    DayTally,
    DemoTimeout,
    ParkedStepsClock,
    session_steps,
    task_work_step,
    trade_day,
)
from strikeflow.cli.demo_stack import DemoRefused, DemoStack, StackPlan
from strikeflow.services.closed_trades import closed_trades
from strikeflow.services.queries import Records
from strikeflow.signals.rules_file import InvalidRules
from strikeflow.sim import calendar


def run_days(args: argparse.Namespace) -> int:
    days = calendar.first_trading_days(args.start, args.days)
    steps = {day: session_steps(day, args.step) for day in days}
    instants = tuple(at for day in days for at in steps[day])
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"strikeflow backtest: --out {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    console = Console(width=None if sys.stdout.isatty() else 160)
    plan = StackPlan(
        seed=args.seed,
        watchlist=args.watchlist,
        start=instants[0] - timedelta(minutes=args.step),
        db_path=args.out / "backtest.db",
        log_path=args.out / "backtest.log",
        minutes=instants,
        env=dict(os.environ),
        reset=args.reset,
        rules_file=args.rules,
        demo_exits=False,
        fleet_workers=args.workers,
        data_dir=args.data,
        worked_orders=True,
    )
    from strikeflow.workers.app import app

    try:
        with DemoStack(plan, app) as stack:
            assert stack.settings is not None
            records = bootstrap.build_records(stack.settings.database_url)
            title = (
                f"strikeflow backtest · {days[0]} to {days[-1]}"
                + (f" · seed {args.seed}" if args.data is None else f" · data {args.data}")
                + f" · step {args.step} min · {', '.join(plan.watchlist)}"
                + (f" · a fleet of {args.workers} workers" if plan.external else "")
            )
            console.rule(f"[bold]{title}[/]")
            done = _trade_days(console, stack, app, records, days, steps)
            report = Report.of(closed_trades(records), done)
    except (DemoRefused, InvalidRules) as refused:
        print(f"strikeflow backtest: {refused}", file=sys.stderr)
        return 2
    except DemoTimeout as late:
        print(f"strikeflow backtest: {late} (worker log: {plan.log_path})", file=sys.stderr)
        return 1
    print_tables(console, report)
    write_trades(args.out / "trades.csv", report.trades)
    charts = write_charts(args.out, report)
    write_html(args.out / "report.html", report, charts, title)
    stopped = len(done) < len(days)
    record = (
        "worker-*.log; the record in STRIKEFLOW_DATABASE_URL's database (strikeflow report)"
        if plan.external
        else f"backtest.db (strikeflow report --db {plan.db_path})"
    )
    console.print(
        f"{'stopped after ' if stopped else ''}{len(done)} of {len(days)} trading days;"
        f" {len(report.trades)} trades closed. In {args.out}: report.html, trades.csv,"
        f" {', '.join(c.name for c in charts)}, backtest.log, {record}"
    )
    return 130 if stopped else 0


def _trade_days(
    console: Console,
    stack: DemoStack,
    app: Celery,
    records: Records,
    days: Sequence[date],
    steps: dict[date, list[datetime]],
) -> list[date]:
    """Each day in turn, until the last or a Ctrl-C; the days done."""
    stop = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():  # the second: at once
            raise KeyboardInterrupt
        stop.set()
        console.print("stopping after this day (Ctrl-C again to stop now)")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    done: list[date] = []
    trades = 0
    columns = (
        TextColumn("[bold]{task.fields[day]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("days", total=len(days), day=f"{days[0]:%a %Y-%m-%d}", tally="")
            assert stack.settings is not None
            parked = bootstrap.parked_steps(stack.settings.redis_url)
            clock = ParkedStepsClock(stack, parked.take_due, task_work_step(app))
            for day in days:
                tally = DayTally()
                for _ in trade_day(clock, app, records, steps[day], tally):
                    progress.update(bar, day=f"{day:%a %Y-%m-%d}", tally=tally.line())
                done.append(day)
                trades += sum(tally.exits.values())
                progress.update(bar, advance=1, tally=f"{trades} exits so far")
                if stop.is_set():
                    break
    finally:
        signal.signal(signal.SIGINT, previous)
    return done
