"""``strikeflow demo --explain``: the decision at the pipeline's core, on a generated chain.

For a few sample signals, which contract the selection policy picks at one instant, and
why every other candidate nearby was turned down; then how the position is sized.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np
from rich.console import Console
from rich.table import Table

from strikeflow.cli.selection_view import chosen_line, counts_line
from strikeflow.domain.chain import OptionChain
from strikeflow.domain.enums import InstrumentType, Right, StrategyType, StrikeMode
from strikeflow.domain.errors import NoEligibleContract
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.liquidity import LiquidityRules
from strikeflow.domain.models import OptionContract
from strikeflow.domain.selection import (
    CandidateReport,
    SelectionPolicy,
    StrikeTarget,
    select_contract,
)
from strikeflow.domain.sizing import size_position
from strikeflow.sim.option_chain import PROFILES, generate_chain

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


def run_explain(args: argparse.Namespace) -> int:
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
    noun = f"{right.name.lower()}s"
    considered = len(report.candidates)
    console.print(counts_line(considered, noun, report.rejected_count, report.counts(), len(chain)))
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
        chosen_line(
            chosen.symbol,
            chosen.ask,
            delta=greeks.delta if greeks else None,
            theta=greeks.theta if greeks else None,
            iv=chosen.implied_vol,
            greeks_source=selection.greeks_source,
            sizing=size.describe(),
        )
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
