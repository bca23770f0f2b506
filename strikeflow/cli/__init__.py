"""The ``strikeflow`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np
from alembic.util import CommandError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from strikeflow.cli.dispatch import add_dispatch_commands
from strikeflow.config import Settings
from strikeflow.db import migrate
from strikeflow.db.engine import dispose_all
from strikeflow.domain.chain import OptionChain
from strikeflow.domain.errors import NoEligibleContract
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.liquidity import LiquidityRules
from strikeflow.domain.models import InstrumentType, OptionContract, Right, StrategyType
from strikeflow.domain.selection import (
    CandidateReport,
    SelectionPolicy,
    StrikeMode,
    StrikeTarget,
    select_contract,
)
from strikeflow.domain.sizing import size_position
from strikeflow.sim.option_chain import PROFILES, generate_chain

DEMO_AT = "2026-11-19T10:45:00-05:00"  # a Thursday morning: Friday weeklies are 1 DTE
DEMO_OPTIONS_BUYING_POWER = Decimal("50000")


@dataclass(frozen=True)
class DemoTrade:
    """One signal the demo turns into a contract choice."""

    ticker: str
    instrument: InstrumentType
    strategy: StrategyType
    confidence: float
    strike: StrikeTarget
    liquidity: LiquidityRules = field(default_factory=LiquidityRules)


DEMO_TRADES = (
    DemoTrade("SPY", InstrumentType.CALL, StrategyType.DAY_TRADE, 0.86, StrikeTarget()),
    DemoTrade(
        "AAPL",
        InstrumentType.PUT,
        StrategyType.SWING_TRADE,
        0.74,
        StrikeTarget(StrikeMode.DELTA, delta=0.40, delta_tolerance=0.05),
    ),
    DemoTrade(
        "TSLA", InstrumentType.CALL, StrategyType.DAY_TRADE, 0.78, StrikeTarget(StrikeMode.OTM)
    ),
    DemoTrade(
        "MSFT",
        InstrumentType.CALL,
        StrategyType.DAY_TRADE,
        0.91,
        StrikeTarget(StrikeMode.ITM, strikes=2),
        LiquidityRules(min_open_interest=5_000, max_spread_pct=0.03),
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strikeflow", description="Trading signals in, stock and option orders out."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="select contracts for sample signals on a generated chain and explain why"
    )
    demo.add_argument("--seed", type=int, default=42, help="market seed (default 42)")
    demo.add_argument(
        "--at",
        type=_aware_datetime,
        default=_aware_datetime(DEMO_AT),
        help=f"market instant, ISO 8601 with offset (default {DEMO_AT})",
    )
    demo.add_argument("--rows", type=int, default=8, help="candidates shown per trade")
    demo.set_defaults(run=run_demo)
    _add_db_commands(commands)
    _add_emulator_command(commands)
    add_dispatch_commands(commands)
    return parser


def _add_emulator_command(commands: argparse._SubParsersAction) -> None:
    emu = commands.add_parser(
        "emulator", help="serve the Alpaca-compatible market emulator (alpaca-py: url_override)"
    )
    emu.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    emu.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    emu.add_argument("--seed", type=int, default=42, help="market seed (default 42)")
    emu.add_argument(
        "--symbols", default="AAPL,MSFT,NVDA,TSLA,SPY,QQQ", help="underlyings, comma separated"
    )
    emu.add_argument("--clock", choices=("real", "sim"), default="sim", help="time source")
    emu.add_argument(
        "--start", type=_aware_datetime, default=None, help="sim clock start, ISO 8601 with offset"
    )
    emu.add_argument("--api-key", default="strikeflow", help="APCA-API-KEY-ID to accept")
    emu.add_argument("--secret-key", default="strikeflow-secret", help="APCA-API-SECRET-KEY")
    emu.add_argument("--fill-delay", type=float, default=1.0, help="seconds before a fill")
    emu.add_argument("--cash", type=float, default=100_000, help="starting cash (default 100000)")
    emu.add_argument(
        "--options-level", type=int, default=2, help="options_approved_level (default 2)"
    )
    for name, what in (
        ("error-5xx", "500/503/504"),
        ("rate-limit", "429"),
        ("drop", "dropped connections"),
        ("latency", "added latency"),
        ("commit-then-fail", "orders accepted then failed"),
    ):
        emu.add_argument(f"--fault-{name}", type=float, default=0.0, help=f"probability of {what}")
    emu.set_defaults(run=run_emulator)


def run_emulator(args: argparse.Namespace) -> int:
    from strikeflow.sim.faults import FaultConfig
    from strikeflow.sim.service import EmulatorOptions, serve

    try:
        options = EmulatorOptions(
            seed=args.seed,
            symbols=tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
            clock=args.clock,
            start=args.start,
            api_key=args.api_key,
            secret_key=args.secret_key,
            fill_delay_s=args.fill_delay,
            cash=args.cash,
            options_approved_level=args.options_level,
            faults=FaultConfig(
                error_5xx=args.fault_error_5xx,
                rate_limit=args.fault_rate_limit,
                drop=args.fault_drop,
                latency=args.fault_latency,
                commit_then_fail=args.fault_commit_then_fail,
            ),
        )
    except ValueError as bad:
        print(f"strikeflow emulator: {bad}", file=sys.stderr)
        return 2
    where = f"http://{args.host}:{args.port}"
    print(f"strikeflow emulator on {where} (seed {args.seed}, {args.clock} clock)")
    serve(options, args.host, args.port)
    return 0


def _add_db_commands(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser(
        "db",
        help="migrate the database at STRIKEFLOW_DATABASE_URL (default sqlite:///./strikeflow.db)",
    )
    actions = db.add_subparsers(required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="migrate up to a revision (default: head)")
    upgrade.add_argument("revision", nargs="?", default="head", help="e.g. 0001 (default head)")
    upgrade.set_defaults(run=run_db, act=_db_upgrade)
    downgrade = actions.add_parser("downgrade", help="migrate down to a revision")
    downgrade.add_argument("revision", help="e.g. 0001, or base for an empty schema")
    downgrade.set_defaults(run=run_db, act=_db_downgrade)
    current = actions.add_parser("current", help="show the revision the database is at")
    current.set_defaults(run=run_db, act=_db_current)


def _aware_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset, e.g. {text}-05:00")
    return moment


def run_db(args: argparse.Namespace) -> int:
    """One ``db`` action against the configured database; a failure is one line on stderr."""
    url = Settings().database_url
    try:
        print(args.act(url, args))
    except (SQLAlchemyError, CommandError) as failed:
        print(f"strikeflow db: {_shown(url)}: {_first_line(failed)}", file=sys.stderr)
        return 1
    finally:
        dispose_all()
    return 0


def _db_upgrade(url: str, args: argparse.Namespace) -> str:
    migrate.upgrade(url, args.revision)
    return f"{_shown(url)} upgraded to {_revision(migrate.current(url))}"


def _db_downgrade(url: str, args: argparse.Namespace) -> str:
    migrate.downgrade(url, args.revision)
    return f"{_shown(url)} downgraded to {_revision(migrate.current(url))}"


def _db_current(url: str, _args: argparse.Namespace) -> str:
    return f"{_shown(url)} is at {_revision(migrate.current(url))}"


def _revision(revision: str | None) -> str:
    if revision is None:
        return "no revision (empty database)"
    return f"{revision} (head)" if revision == migrate.head() else revision


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "STRIKEFLOW_DATABASE_URL"


def _first_line(error: Exception) -> str:
    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def run_demo(args: argparse.Namespace) -> int:
    console = Console(width=None if sys.stdout.isatty() else 130)
    at = args.at.astimezone(NEW_YORK)
    console.rule(f"[bold]strikeflow demo[/] · simulated market at {at:%a %Y-%m-%d %H:%M %Z}")
    for trade in DEMO_TRADES:
        _demo_trade(console, trade, args.at, args.seed, args.rows)
    return 0


def _demo_trade(console: Console, trade: DemoTrade, at: datetime, seed: int, rows: int) -> None:
    spot = PROFILES[trade.ticker].spot
    contracts = generate_chain(trade.ticker, at, seed)
    chain = OptionChain.from_contracts(contracts)
    right = trade.instrument.right
    assert right is not None
    policy = SelectionPolicy.for_strategy(
        trade.strategy, right, strike=trade.strike, liquidity=trade.liquidity
    )
    action = "BUY" if right is Right.CALL else "SELL"
    console.print()
    console.rule(
        f"{action} {trade.ticker} → {trade.instrument.value} {trade.strategy.value}"
        f" · {policy.strike} · {policy.window} · spot {spot:g} · confidence {trade.confidence}",
        style="cyan",
    )
    try:
        selection = select_contract(chain, spot, at, policy)
    except NoEligibleContract as refused:
        console.print(f"[red]no eligible contract[/]: {refused}")
        console.print("the pipeline falls back to a STOCK trade and records these reasons")
        return
    report = selection.report
    console.print(_candidate_table(report, selection.chosen.symbol, rows))
    console.print(
        f"{len(chain)} listed, {len(report.candidates)} {right.name.lower()}s considered,"
        f" {report.rejected_count} rejected: "
        + ", ".join(f"{n} {why}" for why, n in report.counts().items())
    )
    chosen = selection.chosen
    size = size_position(
        instrument=trade.instrument,
        strategy=trade.strategy,
        confidence=trade.confidence,
        price=chosen.ask,
        buying_power=DEMO_OPTIONS_BUYING_POWER,
        options_buying_power=DEMO_OPTIONS_BUYING_POWER,
    )
    greeks = chosen.greeks
    console.print(
        f"[green]chosen {chosen.symbol}[/] ask {chosen.ask}"
        + (f", delta {greeks.delta:+.3f}, theta {greeks.theta:+.3f}/day" if greeks else "")
        + (f", IV {chosen.implied_vol:.1%}" if chosen.implied_vol else "")
        + f" (Greeks: {selection.greeks_source}) · sizing: {size.describe()}"
    )


def _candidate_table(report: CandidateReport, chosen: str, rows: int) -> Table:
    """The candidates nearest the money in the window, each with its verdict."""
    cands = report.candidates
    in_window = report.dte >= report.policy.window.min_days
    in_window &= report.dte <= report.policy.window.max_days
    order = sorted(
        (int(i) for i in range(len(cands)) if in_window[i]),
        key=lambda i: (abs(cands.strike[i] - report.spot), cands.expiration[i]),
    )[:rows]
    table = Table(show_lines=False, header_style="bold")
    for title in ("symbol", "DTE", "bid", "ask", "spread", "vol", "OI", "IV", "delta", "verdict"):
        table.add_column(title, justify="left" if title in ("symbol", "verdict") else "right")
    for i in sorted(order, key=lambda i: (cands.expiration[i], cands.strike[i])):
        c = cands.contracts[i]
        labels = report.labels(i)
        verdict = (
            "[green]CHOSEN[/]"
            if c.symbol == chosen
            else ("[yellow]eligible[/]" if not labels else "; ".join(labels))
        )
        table.add_row(
            c.symbol,
            str(int(report.dte[i])),
            str(c.bid),
            str(c.ask),
            f"{cands.spread_pct[i]:.1%}",
            str(c.volume),
            str(c.open_interest),
            f"{c.implied_vol:.1%}" if c.implied_vol is not None else "—",
            _delta_cell(c, report.abs_delta[i]),
            verdict,
        )
    return table


def _delta_cell(contract: OptionContract, model_abs_delta: float) -> str:
    if contract.greeks is not None:
        return f"{contract.greeks.delta:+.2f}"
    if np.isfinite(model_abs_delta):
        sign = 1 if contract.right is Right.CALL else -1
        return f"[dim]≈{sign * model_abs_delta:+.2f}[/]"
    return "—"


if __name__ == "__main__":
    sys.exit(main())
