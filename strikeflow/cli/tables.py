"""The tables ``strikeflow executions``, ``positions``, ``report``, ``signal --wait`` and
the demo print: the columns a trader reads, laid out to fit 120 columns.

A table is a tuple of named columns, each a header and how one row becomes its cell, so
the default layout, the demo's and ``--wide`` (every stored column) are the same code
with a different tuple. Cells fold instead of being cut with an ellipsis: on a narrow
terminal a value wraps onto a second line but is never shown half.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from strikeflow.cli.formats import (
    greek,
    instant,
    money,
    percent,
    price,
    printable,
    quantity,
    short_id,
    text,
)
from strikeflow.domain.position_book import PositionDifference, SymbolPosition
from strikeflow.domain.records import Execution, Recommendation

WIDTH = 120  # what a table is laid out to fit when stdout is not a terminal
MAX_WIDE = 1_000  # ``--wide`` lays a table out at most this wide
NEW_YORK_TIMES = "times are New York's"


def console_for(shown: Sequence[RenderableType], wide: bool = False) -> Console:
    """A terminal's own width, else WIDTH; ``wide``: as wide as the widest of ``shown``
    needs, every value on one line (a terminal narrower than that wraps the lines)."""
    console = Console(width=None if sys.stdout.isatty() else WIDTH)
    if not wide or not shown:
        return console
    unbounded = console.options.update_width(MAX_WIDE)
    widest = max(Measurement.get(console, unbounded, item).maximum for item in shown)
    return Console(width=max(widest, console.width))


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Any], str]
    numeric: bool = False


def trade_label(instrument: str, strategy: str | None) -> str:
    """'CALL day', 'PUT swing', 'STOCK'."""
    return f"{instrument} {strategy.split('_')[0]}" if strategy else instrument


def short_reason(status: str, reason: str) -> str:
    """The reason without the repeated status and the task-name prefix."""
    head, sep, rest = reason.partition(": ")
    if sep and head == status:
        reason = rest
    return reason.removeprefix("strikeflow.")


def _ordered(e: Execution) -> str:
    """Contracts or shares ordered; ``filled/ordered`` while or once partly filled (an
    order canceled or expired with part filled holds what filled)."""
    amount = e.contracts if e.option_symbol else e.quantity
    ordered = quantity(amount)
    if e.filled_qty and amount is not None and 0 < e.filled_qty < amount:
        return f"{quantity(e.filled_qty)}/{ordered}"
    return ordered


def _paid(e: Execution) -> str:
    """The fill price a share (an option's premium as quoted), else the price sent."""
    return price(e.filled_avg_price if e.filled_avg_price is not None else e.premium_paid)


def _style(strategy: object) -> str:
    """'day', 'swing': the strategy without its ``_trade``."""
    return "" if strategy is None else str(strategy).removesuffix("_trade")


def _strategy(e: Execution) -> str | None:
    return e.strategy_type.value if e.strategy_type else None


EXECUTION_COLUMNS: dict[str, Column] = {
    "time": Column("time", lambda e: instant(e.created_at)),
    "clock": Column("time", lambda e: instant(e.created_at, "%H:%M")),
    "rec": Column("rec", lambda e: short_id(e.recommendation_id)),
    "ticker": Column("ticker", lambda e: e.ticker),
    "side": Column("side", lambda e: e.action.value),
    "trade": Column("trade", lambda e: trade_label(e.instrument_type.value, _strategy(e))),
    "contract": Column("contract", lambda e: e.option_symbol or "STOCK"),
    "occ": Column("OCC symbol", lambda e: e.option_symbol or ""),
    "strike": Column("strike", lambda e: price(e.strike_price), numeric=True),
    "expiry": Column("expiry", lambda e: text(e.expiration_date)),
    "qty": Column("qty", _ordered, numeric=True),
    "price": Column("price", _paid, numeric=True),
    "delta": Column("delta", lambda e: greek(e.delta), numeric=True),
    "theta": Column("theta", lambda e: greek(e.theta), numeric=True),
    "iv": Column("IV", lambda e: percent(e.implied_volatility), numeric=True),
    "status": Column("status", lambda e: e.status.value),
    "mode": Column("mode", lambda e: e.execution_mode.value),
}
EXECUTIONS = (
    "time",
    "rec",
    "ticker",
    "side",
    "trade",
    "contract",
    "qty",
    "price",
    "status",
    "mode",
)
DEMO_EXECUTIONS = (
    "clock", "ticker", "side", "trade", "occ", "strike", "expiry", "qty", "price",
    "delta", "theta", "iv", "status", "mode",
)  # fmt: skip

# How a stored column reads, by its name (the executions' fields and the views' columns).
MONEY = frozenset({"notional", "realized_pnl", "premium_spent"})
MONEY |= frozenset({"total_realized_pnl", "avg_realized_pnl"})
PRICES = frozenset({"filled_avg_price", "premium_paid", "strike_price"})
GREEKS = frozenset({"delta", "theta", "gamma", "vega"})
PERCENTS = frozenset({"implied_volatility", "win_rate"})
QUANTITIES = frozenset({"quantity", "filled_qty"})


def field_cell(name: str) -> Callable[[Any], str]:
    """How the stored column ``name`` reads in a table."""
    for names, show in (
        (MONEY, money),
        (PRICES, price),
        (GREEKS, greek),
        (PERCENTS, percent),
        (QUANTITIES, quantity),
    ):
        if name in names:
            return show
    return text


COUNTS = frozenset({"id", "contracts", "closes_execution_id", "execution_id", "days_to_expiry"})
COUNTS |= frozenset({"trades", "wins", "losses", "executions", "fills", "rejections"})


def _numeric(name: str) -> bool:
    return name in MONEY | PRICES | GREEKS | PERCENTS | QUANTITIES | COUNTS


WIDE_EXECUTIONS: dict[str, Column] = {
    f.name: Column(
        f.name, lambda e, name=f.name: field_cell(name)(getattr(e, name)), _numeric(f.name)
    )
    for f in fields(Execution)
    if f.name != "explain_json"  # a document, not a column: ``strikeflow explain`` reads it
}


def execution_table(
    rows: Sequence[Execution], layout: Sequence[str] = EXECUTIONS, wide: bool = False
) -> Table:
    """The executions in ``layout`` (names of EXECUTION_COLUMNS), or every column."""
    columns = list(WIDE_EXECUTIONS.values()) if wide else [EXECUTION_COLUMNS[n] for n in layout]
    return _table(f"executions ({len(rows)})", columns, rows, NEW_YORK_TIMES)


def _view_column(header: str, name: str, show: Callable[[Any], str] | None = None) -> Column:
    cell = show or field_cell(name)
    return Column(header, lambda row: cell(row.get(name)), _numeric(name))


VIEW_LAYOUTS: dict[str, tuple[Column, ...]] = {
    "active_options_positions": (
        _view_column("filled", "filled_at", lambda at: instant(at, "%Y-%m-%d")),
        _view_column("rec", "recommendation_id", short_id),
        _view_column("contract", "option_symbol"),
        _view_column("strike", "strike_price"),
        _view_column("expiry", "expiration_date"),
        _view_column("DTE", "days_to_expiry"),
        _view_column("qty", "contracts"),
        _view_column("premium", "premium_paid"),
        _view_column("delta", "delta"),
        _view_column("theta", "theta"),
        _view_column("IV", "implied_volatility"),
        _view_column("strategy", "strategy_type", _style),
    ),
    "options_performance_by_strategy": (
        _view_column("strategy", "strategy_type"),
        _view_column("trades", "trades"),
        _view_column("wins", "wins"),
        _view_column("losses", "losses"),
        _view_column("win rate", "win_rate"),
        _view_column("total P&L", "total_realized_pnl"),
        _view_column("average P&L", "avg_realized_pnl"),
    ),
    "daily_options_summary": (
        _view_column("day", "trading_day"),
        _view_column("instrument", "instrument_type"),
        _view_column("executions", "executions"),
        _view_column("contracts", "contracts"),
        _view_column("premium spent", "premium_spent"),
        _view_column("fills", "fills"),
        _view_column("rejections", "rejections"),
    ),
}


def view_table(name: str, rows: Sequence[dict[str, Any]], wide: bool = False) -> Table | str:
    """One view as ``strikeflow positions`` and ``report`` print it; ``wide``: every
    column under its stored name."""
    if not rows:
        return f"{name}: no rows"
    columns = VIEW_LAYOUTS.get(name)
    if wide or columns is None:
        columns = tuple(_view_column(c, c) for c in rows[0])
    return _table(name, columns, rows)


def plain(value: str, style: str = "") -> Text:
    """Stored text as a cell: printable, and never read as rich markup."""
    return Text(printable(value), style=style)


def new_table(title: str, caption: str | None = None) -> Table:
    """The tables' one style: a rule under the header, two spaces between columns."""
    return Table(
        title=title,
        caption=caption,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        show_edge=False,
        pad_edge=False,
    )


def _table(
    title: str, columns: Sequence[Column], rows: Sequence[Any], caption: str | None = None
) -> Table:
    table = new_table(title, caption)
    for column in columns:
        justify = "right" if column.numeric else "left"
        table.add_column(column.header, justify=justify, overflow="fold")
    for row in rows:
        table.add_row(*(plain(column.cell(row)) for column in columns))
    return table


def outcome_table(rec: Recommendation, execution: Execution | None) -> Table:
    """What became of one recommendation, in a dozen lines: its state and why, the
    order and its fill, the contract and its Greeks."""
    table = Table(title=f"{rec.id}: {rec.status.value}", show_header=False, box=box.SIMPLE)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    asked = trade_label(rec.instrument_type.value, rec.strategy_type and rec.strategy_type.value)
    lines = [("asked", f"{rec.action.value} {rec.ticker} {asked}"), ("status", rec.status.value)]
    reason = rec.status_reason or _fallback_reason(execution)
    if reason:
        reason = short_reason(rec.status.value, reason)
        lines.append(("reason", reason))
    lines += [("order", "none recorded")] if execution is None else order_lines(execution)
    for what, value in lines:
        table.add_row(what, plain(value))
    return table


def order_lines(e: Execution) -> list[tuple[str, str]]:
    """The order, its contract, quantity, price and Greeks as (label, text) lines."""
    venue = f" (venue {e.broker_order_id})" if e.broker_order_id else ""
    lines = [
        ("order", f"{e.client_order_id}{venue}"),
        ("state", f"{e.status.value}, {e.execution_mode.value} via {e.broker.value}"),
    ]
    option = e.option_symbol is not None
    if option:
        contract = f"{e.option_symbol}: {e.instrument_type.value} strike {price(e.strike_price)}"
        lines.append(("contract", f"{contract}, expires {text(e.expiration_date)}"))
    else:
        lines.append(("contract", f"STOCK {e.ticker}"))
    unit = "contracts" if option else "shares"
    filled = f", filled {quantity(e.filled_qty)}" if e.filled_qty is not None else ""
    lines.append(("quantity", f"{e.action.value} {_ordered(e)} {unit}{filled}"))
    paid = e.filled_avg_price if e.filled_avg_price is not None else e.premium_paid
    if paid is not None:
        how = "fill" if e.filled_avg_price is not None else "sent at"
        count = e.filled_qty or e.quantity
        total = paid * count * (100 if option else 1)
        lines.append(("price", f"{price(paid)} a share ({how}), {money(total)} in all"))
    if option:
        greeks = f"delta {greek(e.delta) or '—'}, theta {greek(e.theta) or '—'}/day"
        lines.append(("greeks", f"{greeks}, IV {percent(e.implied_volatility) or '—'}"))
    return lines


def _fallback_reason(execution: Execution | None) -> str | None:
    fallback = execution.explain_json.get("fallback") if execution else None
    return fallback.get("reason") if isinstance(fallback, dict) else None


# --- the position book (``strikeflow positions``) ---------------------------------

NO_MARK = "—"


def _expiry(p: SymbolPosition) -> str:
    expiries = {lot.entry.expiration for lot in p.lots if lot.entry.expiration is not None}
    return text(min(expiries)) if expiries else ""


def _marked(show: Callable[[Any], str], value: Any) -> str:
    return NO_MARK if value is None else show(value)


def position_columns(marks: Mapping[str, Decimal], wide: bool = False) -> tuple[Column, ...]:
    """The book's columns, each position marked by ``marks`` (its symbol's price a unit);
    ``wide``: with the recommendations of its entries too."""
    columns = (
        Column("contract", lambda p: p.symbol),
        Column("type", lambda p: p.instrument.value),
        Column("expiry", _expiry),
        Column("qty", lambda p: quantity(p.open_qty), numeric=True),
        Column("avg price", lambda p: _marked(price, p.avg_price), numeric=True),
        Column("cost", lambda p: _marked(money, p.cost), numeric=True),
        Column("mark", lambda p: _marked(price, marks.get(p.symbol)), numeric=True),
        Column(
            "unrealized P&L",
            lambda p: _marked(money, p.unrealized(marks.get(p.symbol))),
            numeric=True,
        ),
        Column("entries", lambda p: str(len(p.lots)), numeric=True),
    )
    if not wide:
        return columns
    recs = Column("recs", lambda p: " ".join(lot.entry.recommendation_id for lot in p.lots))
    return (*columns, recs)


def position_table(
    positions: Sequence[SymbolPosition],
    marks: Mapping[str, Decimal],
    caption: str | None = None,
    wide: bool = False,
) -> Table | str:
    """The open positions per symbol: what remains, its cost, the venue's mark and the
    unrealized P&L at that mark ("—" where there is none)."""
    if not positions:
        return "positions: none open"
    columns = position_columns(marks, wide)
    return _table(f"positions ({len(positions)})", columns, positions, caption)


def differences_table(found: Sequence[PositionDifference]) -> Table:
    """Each symbol whose quantity in the book is not the venue's."""
    columns = (
        Column("symbol", lambda d: d.symbol),
        Column("ours", lambda d: quantity(d.ours), numeric=True),
        Column("venue's", lambda d: quantity(d.venue), numeric=True),
        Column("difference", lambda d: d.reason),
    )
    return _table(f"differences from the venue ({len(found)})", columns, found)
