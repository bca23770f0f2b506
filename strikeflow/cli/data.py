"""``strikeflow data fetch``: a window of Alpaca's market recorded into a local store.

For each symbol: its one-minute bars, the option contracts listed on it that expire from
``--start`` to ``--dte-max`` days after ``--end`` (active and expired), with their open
interest, and those contracts' one-minute bars. Read with the user's keys and feeds
(STRIKEFLOW_ALPACA_*) through the adapter's governed clients
(``broker_adapters.alpaca.history``); written by ``sim.recorded_store`` into a fresh
directory renamed into place at the end, so an error or Ctrl-C leaves no half-written
store. Alpaca serves no historical option quotes: the store written has none, and a replay
(``strikeflow backtest --data``) says how many contract-minutes lacked one.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from strikeflow.cli.arguments import calendar_day
from strikeflow.cli.demo import _tickers

DATA_OUT = "recorded"
DTE_MAX = 30
MAX_DTE = 365
MAX_SPAN_DAYS = 366
OPTION_BATCH = 100


def add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="recorded market data: fetch a window from Alpaca")
    verbs = data.add_subparsers(required=True, metavar="VERB", dest="verb")
    fetch = verbs.add_parser(
        "fetch",
        help="record stock and option bars from Alpaca into a local store (Parquet)",
        description=(
            "Record a window of one-minute stock bars, the option contracts listed in it and"
            " their one-minute bars, for strikeflow backtest --data. Alpaca serves no"
            " historical option quotes: the store has none."
        ),
    )
    fetch.add_argument(
        "--symbols", type=_tickers, required=True, help="tickers, comma separated (AAPL,SPY)"
    )
    fetch.add_argument("--start", type=calendar_day, required=True, help="first day, YYYY-MM-DD")
    fetch.add_argument("--end", type=calendar_day, required=True, help="last day, YYYY-MM-DD")
    fetch.add_argument(
        "--out", type=Path, default=Path(DATA_OUT), help=f"the store's directory (./{DATA_OUT})"
    )
    fetch.add_argument(
        "--dte-max",
        type=int,
        default=DTE_MAX,
        help=f"contracts expiring up to this many days after --end ({DTE_MAX})",
    )
    fetch.set_defaults(run=run_fetch, usage_error=fetch.error)


def run_fetch(args: argparse.Namespace) -> int:
    """Checks the arguments, then records the window (nothing is written on a refusal)."""
    from strikeflow.sim.recorded_store import MANIFEST

    if args.end < args.start:
        args.usage_error(f"--end {args.end} precedes --start {args.start}")
    if (args.end - args.start).days > MAX_SPAN_DAYS:
        args.usage_error(f"the window spans more than {MAX_SPAN_DAYS} days")
    if not 0 <= args.dte_max <= MAX_DTE:
        args.usage_error(f"--dte-max must be within 0 to {MAX_DTE}, got {args.dte_max}")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        args.usage_error(f"--out {out}: not a directory")
    if out.is_dir() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        args.usage_error(f"--out {out}: holds files and is not a store (refusing to overwrite)")
    from strikeflow import bootstrap
    from strikeflow.config import Settings

    settings = Settings()  # a setting that does not validate: the command's exit 2
    history = bootstrap.market_history(settings)
    try:
        return _record(args, history, settings)
    finally:
        history.close()


def _record(args: argparse.Namespace, history: Any, settings: Any) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from strikeflow.domain.expiry import NEW_YORK, expiry_instant
    from strikeflow.domain.occ import parse_occ
    from strikeflow.sim.recorded_store import (
        Manifest,
        bar_table,
        contract_table,
        write_store,
    )

    begins = datetime.combine(args.start, time(0), NEW_YORK).astimezone(UTC)
    ends = datetime.combine(args.end + timedelta(days=1), time(0), NEW_YORK).astimezone(UTC)
    last_expiry = args.end + timedelta(days=args.dte_max)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    stocks, options, interest = {}, {}, {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=console, transient=not sys.stderr.isatty()) as progress:
        for symbol in args.symbols:
            task = progress.add_task(symbol, total=2, note="stock bars")
            rows = history.stock_bars(symbol, begins, ends)
            if not rows:
                print(
                    f"strikeflow data fetch: Alpaca has no bars for {symbol} from {args.start}"
                    f" to {args.end} ({history.stock_feed} feed): nothing written",
                    file=sys.stderr,
                )
                return 1
            stocks[symbol] = bar_table(rows, keyed=False)
            progress.update(task, advance=1, note="option contracts")
            listed = history.option_contracts(symbol, args.start, last_expiry)
            interest[symbol] = listed
            by_expiry = sorted(listed, key=lambda s: (parse_occ(s).expiration, s))
            batches = [
                by_expiry[i : i + OPTION_BATCH] for i in range(0, len(by_expiry), OPTION_BATCH)
            ]
            progress.update(task, total=2 + len(batches), advance=1, note="option bars")
            bars: list[dict] = []
            for batch in batches:
                last = expiry_instant(max(parse_occ(s).expiration for s in batch))
                until = min(ends, last.astimezone(UTC) + timedelta(minutes=1))
                if until > begins:
                    bars.extend(history.option_bars(batch, begins, until))
                progress.update(task, advance=1, note=f"{len(bars)} option bars")
            options[symbol] = bar_table(bars, keyed=True)
    manifest = Manifest(
        symbols=tuple(args.symbols),
        start=args.start,
        end=args.end,
        feeds={"stocks": history.stock_feed, "options": "bars (no option quotes)"},
        source=f"alpaca {settings.alpaca_data_url or settings.alpaca_base_url or 'data API'}",
        written_at=datetime.now(UTC),
    )
    contracts = {s: contract_table(listed) for s, listed in interest.items()}
    write_store(args.out, manifest, stocks, options, None, contracts)
    traded = sum(len(set(t.column("symbol").to_pylist())) for t in options.values())
    print(
        f"wrote {args.out}: {sum(t.num_rows for t in stocks.values())} stock bars of"
        f" {len(stocks)} symbol(s), {sum(len(v) for v in interest.values())} contracts"
        f" ({traded} traded), {sum(t.num_rows for t in options.values())} option bars;"
        " no option quotes (Alpaca serves none historically)"
    )
    return 0
