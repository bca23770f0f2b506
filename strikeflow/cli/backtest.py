"""``strikeflow backtest``: days of trading through the production pipeline.

Each trading day of the calendar from ``--start`` (weekends and NYSE holidays skipped)
runs through the whole system as the demo's day does (demo_stack, demo_day): the scans,
the entry chains, manage_positions' exits, the close, expiry and exercise at the
emulator, reconcile_orders. Positions carry from one day to the next. The emulator's
seeded synthetic market is the venue, in simulated time moved only once the pipeline
has settled; with ``--data``, a store of recorded market data replayed instead
(backtest_replay, docs/emulator.md). The record and the report land in ``--out``
(backtest_report).

On embedded defaults a Celery worker runs in a thread of the command (memory transport,
SQLite in ``--out``). With STRIKEFLOW_BROKER_URL and STRIKEFLOW_DATABASE_URL set, the
command drives a fleet of ``--workers`` worker processes on that broker and database.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from strikeflow.cli.arguments import calendar_day
from strikeflow.cli.demo import _tickers
from strikeflow.domain.watchlist import DEFAULT_WATCHLIST

BACKTEST_SEED = 7
BACKTEST_STEP_MINUTES = 5
MAX_DAYS = 260  # a year of trading days
BACKTEST_OUT = "backtest"
FLEET_WORKERS = 4
MAX_WORKERS = 32


def add_backtest_command(commands: argparse._SubParsersAction) -> None:
    backtest = commands.add_parser(
        "backtest",
        help="days of trading through the production pipeline, with a report (no servers)",
    )
    backtest.add_argument(
        "--start", type=calendar_day, help="the first day, YYYY-MM-DD (with --data: its first)"
    )
    backtest.add_argument(
        "--days",
        type=int,
        help=f"trading days to run (1 to {MAX_DAYS}; with --data: to the store's last day)",
    )
    backtest.add_argument(
        "--watchlist",
        type=_tickers,
        default=None,
        help=f"tickers, comma separated ({','.join(DEFAULT_WATCHLIST)}; with --data: its symbols)",
    )
    backtest.add_argument(
        "--data",
        type=Path,
        default=None,
        help="replay a store of recorded data (strikeflow data fetch) instead of the seeded market",
    )
    backtest.add_argument(
        "--rules", type=Path, default=None, help="a rules file (the packaged rules)"
    )
    backtest.add_argument(
        "--seed", type=int, default=BACKTEST_SEED, help=f"market seed ({BACKTEST_SEED})"
    )
    backtest.add_argument(
        "--step",
        type=int,
        default=BACKTEST_STEP_MINUTES,
        help=f"simulated minutes between scans ({BACKTEST_STEP_MINUTES}; beat scans every minute)",
    )
    backtest.add_argument(
        "--out",
        type=Path,
        default=Path(BACKTEST_OUT),
        help=f"where the database, trades.csv and report.html go (./{BACKTEST_OUT})",
    )
    backtest.add_argument(
        "--workers",
        type=int,
        default=FLEET_WORKERS,
        help=(
            "with STRIKEFLOW_BROKER_URL and STRIKEFLOW_DATABASE_URL set: the worker"
            f" processes of the fleet it drives ({FLEET_WORKERS})"
        ),
    )
    backtest.add_argument(
        "--reset",
        action="store_true",
        help="on Redis and a database of yours: delete strikeflow's rows there first",
    )
    backtest.set_defaults(run=run_backtest, usage_error=backtest.error)


def run_backtest(args: argparse.Namespace) -> int:
    """Checks the arguments, then runs the days (backtest_run, loaded only now)."""
    replayed = None
    if args.data is not None:  # read whole; its window and symbols are the defaults
        from strikeflow.cli.backtest_replay import open_store

        replayed = open_store(args)
    if args.watchlist is None:
        args.watchlist = DEFAULT_WATCHLIST
    if args.start is None or args.days is None:
        args.usage_error("--start and --days are required (or --data, a store to replay)")
    if not 1 <= args.days <= MAX_DAYS:
        args.usage_error(f"--days must be within 1 to {MAX_DAYS}, got {args.days}")
    if not 1 <= args.step <= 390:
        args.usage_error(f"--step must be within 1 to 390 minutes, got {args.step}")
    if not 1 <= args.workers <= MAX_WORKERS:
        args.usage_error(f"--workers must be within 1 to {MAX_WORKERS}, got {args.workers}")
    if args.rules is not None and not args.rules.is_file():
        args.usage_error(f"--rules {args.rules}: no such file")
    if args.out.exists() and not args.out.is_dir():
        args.usage_error(f"--out {args.out}: not a directory")
    if replayed is not None:
        from strikeflow.cli.backtest_replay import replay_days

        return replay_days(args, replayed)
    from strikeflow.cli.backtest_run import run_days

    return run_days(args)
