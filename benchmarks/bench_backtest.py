"""Simulated trading days a wall minute, through ``strikeflow backtest``'s own loop.

Run: .venv/bin/python benchmarks/bench_backtest.py [days] [--step MINUTES] [--seed S]
(1 day, 1-minute scans, seed 7 by default)

The embedded stack the command runs on (demo_stack: the emulator in simulated time, a
Celery worker on the memory transport, SQLite), the default watchlist, the packaged
rules, from Monday 2027-04-12. Each part of a step is timed where the loop calls it
(demo_day.run_day): the clock moves, the scan task, the wait for its chains, the exits
(manage_positions and the wait for its closes), the steps of worked option orders (run
as simulated time reaches them, demo_day.ParkedStepsClock) and reconcile_orders. Then,
on the same stack, the clock alone is moved through the same day's steps: the floor a
step costs with nothing to do, measured in the same run, and the ratio of the two.

With ``--fleet N`` the same loop drives N worker processes (each on every queue) on
Redis and PostgreSQL instead: a database of its own is created on ``--postgres`` (the
server's admin URL) and dropped after, and the fleet uses Redis dbs ``--redis-dbs``
(12,13,14 by default: broker, results, app state) on ``--redis``, whose keys for the
day it clears and whose queues it purges at the end. The time to start the fleet is
not counted.

Target: at least 5 days a minute on 2 cores (12 s a day at most).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from strikeflow import bootstrap
from strikeflow.cli.demo_day import (
    DayTally,
    ParkedStepsClock,
    reconcile,
    run_day,
    session_steps,
    task_manage,
    task_scan,
    task_work_step,
    wait_terminal,
)
from strikeflow.cli.demo_stack import DemoStack, StackPlan
from strikeflow.domain.watchlist import DEFAULT_WATCHLIST
from strikeflow.sim.calendar import first_trading_days

START = date(2027, 4, 12)
POSTGRES_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
TARGET_DAYS_A_MINUTE = 5.0
T = TypeVar("T")


class Timers:
    """Wall seconds spent in each named part."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def timed(self, name: str, call: Callable[..., T]) -> Callable[..., T]:
        def run(*args: Any) -> T:
            start = time.perf_counter()
            try:
                return call(*args)
            finally:
                self.spent[name] += time.perf_counter() - start
                self.calls[name] += 1

        return run


class TimedClock:
    def __init__(self, stack: DemoStack, timers: Timers) -> None:
        self.move_clock = timers.timed("clock moves", stack.move_clock)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("days", nargs="?", type=int, default=1)
    parser.add_argument("--step", type=int, default=1, help="minutes between scans (1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fleet", type=int, default=0, help="worker processes (0: embedded)")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN, help=f"({POSTGRES_ADMIN})")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="(127.0.0.1:6379)")
    parser.add_argument("--redis-dbs", default="12,13,14", help="broker,results,app (12,13,14)")
    args = parser.parse_args(argv)
    with fleet_stores(args) as stores:
        return bench(args, stores)


@contextlib.contextmanager
def fleet_stores(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """With ``--fleet``: the STRIKEFLOW_ URLs of a new PostgreSQL database (dropped after)
    and of the Redis dbs; without it, nothing (the embedded stack)."""
    if not args.fleet:
        yield {}
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    broker, results, state = (f"{args.redis}/{n}" for n in args.redis_dbs.split(","))
    name = f"strikeflow_bench_backtest_{os.getpid()}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield {
            "STRIKEFLOW_BROKER_URL": broker,
            "STRIKEFLOW_RESULT_BACKEND": results,
            "STRIKEFLOW_REDIS_URL": state,
            "STRIKEFLOW_DATABASE_URL": make_url(args.postgres)
            .set(database=name)
            .render_as_string(hide_password=False),
        }
    finally:
        bootstrap.close_databases()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench(args: argparse.Namespace, stores: dict[str, str]) -> int:
    days = first_trading_days(START, args.days)
    steps = {day: session_steps(day, args.step) for day in days}
    instants = tuple(at for day in days for at in steps[day])
    folder = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    plan = StackPlan(
        seed=args.seed,
        watchlist=DEFAULT_WATCHLIST,
        start=instants[0] - timedelta(minutes=args.step),
        db_path=folder / "backtest.db",
        log_path=folder / "backtest.log",
        minutes=instants,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}, **stores},
        demo_exits=False,
        fleet_workers=args.fleet,
        worked_orders=True,
    )
    from strikeflow.workers.app import app

    timers = Timers()
    tally = DayTally()
    with DemoStack(plan, app) as stack:
        assert stack.settings is not None
        records = bootstrap.build_records(stack.settings.database_url)
        parked = bootstrap.parked_steps(stack.settings.redis_url)
        work = timers.timed("worked order steps", task_work_step(app))
        clock = ParkedStepsClock(TimedClock(stack, timers), parked.take_due, work)
        scan = timers.timed("scan task", task_scan(app))
        manage = timers.timed("manage_positions task", task_manage(app))
        wait = timers.timed("waits for chains", lambda ids: wait_terminal(records, ids))
        settle = timers.timed("reconcile_orders", lambda: reconcile(app))
        started = time.perf_counter()
        for day in days:
            for _ in run_day(clock, scan, settle, wait, steps[day], tally, manage):
                pass
        took = time.perf_counter() - started
        # The floor: the clock alone through the last day's steps, a week later (the
        # same hours, nothing open that the fills would change).
        floor_steps = [at + timedelta(days=7) for at in steps[days[-1]]]
        floor_start = time.perf_counter()
        for at in floor_steps:
            stack.move_clock(at)
        floor = (time.perf_counter() - floor_start) / len(floor_steps) * len(instants)
    shutil.rmtree(folder, ignore_errors=True)  # the record and the log: this run's only
    per_day = took / len(days)
    rate = 60.0 / per_day
    print(
        f"{len(days)} trading day(s) from {days[0]}, scans every {args.step} min"
        f" ({len(instants)} steps), default watchlist, seed {args.seed},"
        + (f" a fleet of {args.fleet} worker processes" if args.fleet else " embedded stack")
    )
    verdict = "met" if rate >= TARGET_DAYS_A_MINUTE else "NOT met"
    print(
        f"  {per_day:.1f} s a day: {rate:.2f} days a minute"
        f" (target {TARGET_DAYS_A_MINUTE:g}: {verdict})"
    )
    print(
        f"  {len(tally.sent)} chains, {sum(tally.exits.values())} exits,"
        f" {tally.scans} scans; {took / len(instants) * 1000:.1f} ms a step"
    )
    print("  where the time goes:")
    accounted = 0.0
    for name, spent in sorted(timers.spent.items(), key=lambda kv: -kv[1]):
        accounted += spent
        calls = timers.calls[name]
        print(
            f"    {name:<24}{spent:8.2f} s {spent / took:6.1%}"
            f"  ({calls} calls, {spent / calls * 1000:.1f} ms each)"
        )
    print(f"    {'the loop itself':<24}{took - accounted:8.2f} s {(took - accounted) / took:6.1%}")
    print(
        f"  the clock alone through as many steps: {floor:.2f} s;"
        f" the backtest takes {took / floor:.1f}x that"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
