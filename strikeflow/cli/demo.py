"""``strikeflow demo``: a compressed trading day of the whole pipeline, with no servers.

The emulator, the database and a real Celery worker run in this process (demo_stack);
the day moves the simulated clock from the open to the close, scanning the watchlist at
every step and letting each step's chains finish (demo_day); the record is printed at the
end (demo_report) and stays in ``strikeflow-demo.db`` for ``strikeflow report``.
``--explain`` shows the contract selection for sample signals instead (demo_explain).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from strikeflow.cli.arguments import aware_instant, calendar_day
from strikeflow.domain.watchlist import DEFAULT_WATCHLIST

# A seeded day on which the default rules trade calls and puts (day and swing) and stock:
# a Thursday, so the stocks' Friday weeklies are 1 DTE. The positions are shown as of this
# day (``ReportQueries.view(..., as_of=)``), whatever the real date.
DEMO_DAY = date(2027, 4, 15)
DEMO_SEED = 22
DEMO_STEP_MINUTES = 5
DEMO_DB = "strikeflow-demo.db"
DEMO_AT = "2026-11-19T10:45:00-05:00"  # --explain: a Thursday morning, Friday weeklies 1 DTE
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
    """The day (demo_run) or, with ``--explain``, the selection (demo_explain): loaded
    only when the command runs, so building the parser stays quick."""
    if args.explain:
        from strikeflow.cli.demo_explain import run_explain

        return run_explain(args)
    from strikeflow.cli.demo_run import run_day_demo

    return run_day_demo(args)


def _tickers(text: str) -> tuple[str, ...]:
    tickers = tuple(dict.fromkeys(t.strip().upper() for t in text.split(",") if t.strip()))
    if not tickers:
        raise argparse.ArgumentTypeError("give at least one ticker, e.g. SPY,AAPL")
    from strikeflow.sim.market import TICKER as SIMULATED_TICKER

    bad = [t for t in tickers if not SIMULATED_TICKER.fullmatch(t)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"the emulator simulates tickers of 1 to 5 letters, not {', '.join(bad)}"
        )
    return tickers
