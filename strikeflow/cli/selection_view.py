"""How a stored selection report reads: the policy, the candidates considered and why
each was turned down (nearest the money first), the contract chosen. ``strikeflow
explain`` prints it from what the pipeline stored; ``demo --explain`` shares its lines
(``counts_line``, ``chosen_line``) for a selection made on the spot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from strikeflow.cli.formats import greek, instant, percent, price, printable
from strikeflow.cli.tables import new_table, plain
from strikeflow.domain.errors import InvalidOccSymbol
from strikeflow.domain.occ import parse_occ


def print_selection(console: Console, selection: Mapping[str, Any], rows: int) -> None:
    """The stored report (``CandidateReport.to_json`` with ``chosen``), ``rows`` of its
    rejected candidates listed."""
    console.print(heading("selection"))
    policy = mapping(selection.get("policy"))
    right = {"C": "call", "P": "put"}.get(str(policy.get("right")), "contract")
    window = policy.get("window")
    days = f"{window[0]}-{window[1]} DTE" if isinstance(window, list) and len(window) == 2 else ""
    liquidity = liquidity_text(mapping(policy.get("liquidity")))
    spot = f"spot {price(selection.get('spot'))} at {instant(selection.get('at'))} New York"
    lines = [("policy", f"{right}s {days}, strike {policy.get('strike', '')}"), ("market", spot)]
    if liquidity:
        lines.insert(1, ("liquidity", liquidity))
    console.print(grid(lines))
    rejected = [r for r in listed(selection.get("rejected")) if isinstance(r, Mapping)]
    counts = mapping(selection.get("rejected_counts"))
    considered = selection.get("candidates", len(rejected))
    console.print(plain(counts_line(considered, f"{right}s", len(rejected), counts)))
    chosen = mapping(selection.get("chosen"))
    if chosen:
        console.print(
            chosen_line(
                str(chosen.get("symbol")),
                chosen.get("ask"),
                delta=chosen.get("delta"),
                iv=chosen.get("implied_vol"),
                greeks_source=chosen.get("greeks_source"),
            )
        )
    if rejected and rows:
        console.print(_rejected_table(rejected, selection.get("spot"), rows))


LIQUIDITY_RULES = {
    "min_open_interest": "open interest ≥ {}",
    "min_volume": "volume ≥ {}",
    "max_spread_pct": "spread ≤ {:.0%}",
    "max_quote_age_s": "quotes ≤ {:g} s old",
}


def liquidity_text(rules: Mapping[str, Any]) -> str:
    """The liquidity rules as a person reads them; a rule not known here as it is."""
    shown = []
    for name, value in rules.items():
        if name == "require_bid":
            shown.append("a bid required" if value else "no bid required")
            continue
        try:
            shown.append(LIQUIDITY_RULES[name].format(value))
        except (KeyError, ValueError, TypeError):
            shown.append(f"{name} {value}")
    return ", ".join(shown)


def counts_line(
    considered: object, noun: str, rejected: int, counts: Mapping[str, Any], listed: int = -1
) -> str:
    """'112 puts considered, 93 rejected: 87 outside |delta| 0.40±0.05, 6 quote older…'."""
    head = f"{listed} listed, " if listed >= 0 else ""
    why = ", ".join(f"{n} {reason}" for reason, n in counts.items())
    return f"{head}{considered} {noun} considered, {rejected} rejected" + (
        f": {why}" if why else ""
    )


def chosen_line(
    symbol: str,
    ask: object,
    delta: object = None,
    theta: object = None,
    iv: object = None,
    greeks_source: object = None,
    sizing: str | None = None,
) -> Text:
    """The chosen contract with its ask and Greeks, and how it was sized."""
    figures = [f" ask {price(ask)}"]
    if delta is not None:
        figures.append(f"delta {greek(delta)}")
    if theta is not None:
        figures.append(f"theta {greek(theta)}/day")
    if iv is not None:
        figures.append(f"IV {percent(iv)}")
    tail = ", ".join(figures)
    if greeks_source:
        tail += f" (Greeks: {greeks_source})"
    if sizing:
        tail += f" · sizing: {sizing}"
    return Text.assemble((printable(f"chosen {symbol}"), "green"), printable(tail))


def _rejected_table(rejected: list[Mapping[str, Any]], spot: object, rows: int) -> Table:
    """The rejected candidates nearest the money, each with every rule it failed."""
    try:
        money_at = float(str(spot))
    except ValueError:
        money_at = 0.0

    def distance(candidate: Mapping[str, Any]) -> tuple[float, str]:
        try:
            occ = parse_occ(str(candidate.get("symbol")))
        except InvalidOccSymbol:
            return float("inf"), str(candidate.get("symbol"))
        return abs(float(occ.strike) - money_at), occ.expiration.isoformat()

    nearest = sorted(rejected, key=distance)[:rows]
    more = len(rejected) - len(nearest)
    caption = (
        f"{more} more: --rows {len(rejected)} lists them all, --json has them" if more else None
    )
    table = new_table("rejected, nearest the money", caption)
    table.add_column("symbol", no_wrap=True)
    table.add_column("why not", overflow="fold")
    for candidate in nearest:
        reasons = candidate.get("reasons")
        why = "; ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)
        table.add_row(plain(str(candidate.get("symbol"))), plain(why))
    return table


def heading(title: str) -> Text:
    return Text(f"\n{title}", style="bold cyan")


def grid(lines: list[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in lines:
        grid.add_row(label, plain(value))
    return grid


def mapping(value: object) -> Mapping[str, Any]:
    """A stored object, or nothing: the document is read, never trusted to be whole."""
    return value if isinstance(value, Mapping) else {}


def listed(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
