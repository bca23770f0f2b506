"""``strikeflow backtest --data DIR``: the backtest's days over a store of recorded data.

The store is read once (``RecordedMarket.open``) to check it and fill in the window and
the watchlist; the emulator the backtest starts replays the same one. What the store does
not hold is said, not made up: the trading days without data before the run, and after
it how many contract-minutes a client was shown without a recorded quote.
"""

from __future__ import annotations

import argparse

from strikeflow.sim import calendar
from strikeflow.sim.recorded_market import RecordedMarket
from strikeflow.sim.recorded_store import StoreError


def open_store(args: argparse.Namespace) -> RecordedMarket:
    """The replay's market; ``args``' window and watchlist set from it where not given.
    A missing or malformed store, a window outside it or a symbol it lacks: one line,
    exit 2 (``usage_error``)."""
    try:
        market = RecordedMarket.open(args.data)
    except StoreError as bad:
        args.usage_error(f"--data {bad}")
    manifest = market.store.manifest
    if args.start is None:
        args.start = manifest.start
    if not manifest.start <= args.start <= manifest.end:
        args.usage_error(
            f"--start {args.start} is outside the store ({manifest.start} to {manifest.end})"
        )
    held = calendar.trading_days(args.start, manifest.end)
    if not held:
        args.usage_error(f"the store holds no trading day from {args.start} to {manifest.end}")
    if args.days is None:
        args.days = len(held)
    elif args.days > len(held):
        args.usage_error(
            f"--days {args.days}: the store holds {len(held)} trading days from {args.start}"
            f" (to {manifest.end})"
        )
    if args.watchlist is None:
        args.watchlist = manifest.symbols
    absent = [s for s in args.watchlist if s not in manifest.symbols]
    if absent:
        args.usage_error(
            f"--watchlist {','.join(absent)}: not in the store ({','.join(manifest.symbols)})"
        )
    return market


def replay_days(args: argparse.Namespace, market: RecordedMarket) -> int:
    """The backtest's days over the store, with what it lacks said before and after."""
    from strikeflow.cli.backtest_run import run_days

    days = calendar.first_trading_days(args.start, args.days)
    missing = [d for d in market.missing_days if days[0] <= d <= days[-1]]
    if missing:
        shown = ", ".join(d.isoformat() for d in missing)
        print(f"the store has no data on {len(missing)} trading day(s): {shown} (none made up)")
    code = run_days(args)
    print(replay_summary(market))
    return code


def replay_summary(market: RecordedMarket) -> str:
    """The replay's count of contract-minutes shown without a recorded quote."""
    return (
        f"recorded data: {market.missing_quotes} of {market.shown_contract_minutes}"
        " contract-minutes shown had no recorded quote (left without one, not invented)"
    )
